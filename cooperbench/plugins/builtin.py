"""The core distribution's own plugins, registered through the same entry point a third party uses."""

from __future__ import annotations

from cooperbench.hookspecs import Register, hookimpl


@hookimpl
def cooperbench_register_agents(register: Register) -> None:
    register("oracle", "cooperbench.agents.oracle:OracleAgent", description="Applies the gold feature.patch")
    register("nop", "cooperbench.agents.nop:NopAgent", description="Changes nothing")


@hookimpl
def cooperbench_register_backends(register: Register) -> None:
    register("local", "cooperbench.backends.local:LocalBackend", description="bubblewrap sandboxes on this host")
