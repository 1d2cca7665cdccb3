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


@hookimpl
def cooperbench_register_connectors(register: Register) -> None:
    # The URL scheme of a messaging URL is the connector's name (redis://..., embedded://...).
    register(
        "redis",
        "cooperbench.messaging.redis_bus:RedisBus",
        aliases=("rediss",),
        description="messages through a Redis server (redis://host:port/db#<namespace>)",
    )
    register(
        "embedded",
        "cooperbench.messaging.embedded:EmbeddedBus",
        description="in-process bus for agents running as threads of the harness (embedded://<namespace>)",
    )


@hookimpl
def cooperbench_register_evaluators(register: Register) -> None:
    register(
        "merge",
        "cooperbench.evaluation.merge:MergeEvaluator",
        description="merges the agents' patches with git (union merge on conflict) and runs each feature's tests",
    )
