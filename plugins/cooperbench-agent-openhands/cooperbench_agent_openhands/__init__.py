"""The OpenHands agent for CooperBench, built on ``openhands-sdk``.

Nothing is imported here: the plugin host reads :mod:`cooperbench_agent_openhands.plugin`,
and the runner (:mod:`cooperbench_agent_openhands.runner`) loads the SDK only when the
agent runs.
"""
