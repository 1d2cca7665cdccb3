"""Registers the ``claude_code`` agent with CooperBench (hookimpls only: nothing heavy is imported here)."""

from __future__ import annotations

from cooperbench import hookimpl
from cooperbench.hookspecs import Register


@hookimpl
def cooperbench_register_agents(register: Register) -> None:
    register(
        "claude_code",
        "cooperbench_agent_claude_code.runner:ClaudeCodeRunner",
        aliases=("claude-code",),
        description="Claude Code (the CLI bundled in claude-agent-sdk), run headless inside the agent's sandbox",
    )
