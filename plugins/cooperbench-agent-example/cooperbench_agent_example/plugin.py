"""Registers the `example` agent with CooperBench (hookimpls only: nothing heavy is imported here)."""

from __future__ import annotations

from cooperbench import hookimpl
from cooperbench.hookspecs import Register


@hookimpl
def cooperbench_register_agents(register: Register) -> None:
    register("example", "cooperbench_agent_example.runner:ExampleAgent", description="An example third-party CooperBench agent; the template for plugin authors")
