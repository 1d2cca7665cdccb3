"""Registers the ``example`` agent with CooperBench.

CooperBench finds this module through the entry point in ``pyproject.toml``::

    [project.entry-points.cooperbench]
    agent-example = "cooperbench_agent_example.plugin"

Keep this module to hookimpls only. The target is a ``"module:attr"`` string, imported the
first time the agent is used, so ``cooperbench --help`` and ``cooperbench plugins`` stay fast
and never import your agent's dependencies.
"""

from __future__ import annotations

from cooperbench import hookimpl
from cooperbench.hookspecs import Register


@hookimpl
def cooperbench_register_agents(register: Register) -> None:
    register(
        "example",
        "cooperbench_agent_example.runner:ExampleAgent",
        description="Writes notes about the task and messages its teammates; the template for agent plugins",
    )
