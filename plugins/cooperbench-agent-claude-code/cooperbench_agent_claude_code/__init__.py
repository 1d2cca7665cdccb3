"""The Claude Code CLI as a CooperBench agent (``claude_code``).

Nothing is imported here: the plugin host reads :mod:`cooperbench_agent_claude_code.plugin`,
and the runner (:mod:`cooperbench_agent_claude_code.runner`) is imported only when the agent runs.
"""
