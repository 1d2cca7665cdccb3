"""Registers the `mini_swe_agent` agent with CooperBench (hookimpls only: nothing heavy is imported here)."""

from __future__ import annotations

from cooperbench import hookimpl
from cooperbench.hookspecs import Register


@hookimpl
def cooperbench_register_agents(register: Register) -> None:
    register(
        "mini_swe_agent",
        "cooperbench_agent_miniswe.runner:MiniSweAgentRunner",
        aliases=("mini_swe_agent_v2",),
        description="The mini-swe-agent agent for CooperBench",
    )
