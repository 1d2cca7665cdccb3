"""An example third-party CooperBench agent (``--agent example``); the template for agent plugins.

Nothing is imported here: CooperBench imports :mod:`cooperbench_agent_example.plugin` to
list the agent and :mod:`cooperbench_agent_example.runner` only when it runs.
"""
