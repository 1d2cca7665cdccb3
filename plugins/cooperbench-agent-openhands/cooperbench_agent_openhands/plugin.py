"""Registers the `openhands` agent with CooperBench (hookimpls only: nothing heavy is imported here)."""

from __future__ import annotations

from cooperbench import hookimpl
from cooperbench.hookspecs import Register


@hookimpl
def cooperbench_register_agents(register: Register) -> None:
    register(
        "openhands",
        "cooperbench_agent_openhands.runner:OpenHandsRunner",
        description="The OpenHands agent (openhands-sdk), its tools running in the CooperBench sandbox",
    )
