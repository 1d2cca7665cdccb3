"""The hooks a CooperBench plugin implements.

A plugin is a module, named by an entry point in the ``cooperbench`` group, that defines
one or more of these functions decorated with :data:`cooperbench.hookimpl`::

    # pyproject.toml
    [project.entry-points.cooperbench]
    agent-x = "cooperbench_agent_x.plugin"

    # cooperbench_agent_x/plugin.py
    import cooperbench

    @cooperbench.hookimpl
    def cooperbench_register_agents(register):
        register("x", "cooperbench_agent_x.runner:XRunner", description="My agent")

Each ``register`` callback has the signature
``register(name, target, *, aliases=(), description=None)``. ``target`` is the class (or
factory) itself, or a lazy ``"module:attr"`` string that is imported only when the plugin
is used, so that ``cooperbench --help`` and ``cooperbench plugins`` never import a
plugin's heavy dependencies. Keep the plugin module itself free of heavy imports.

The core calls every hook implementation on its own. An exception raised inside one
marks that plugin as broken (``cooperbench plugins`` shows the reason) and every other
plugin still loads; with ``COOPERBENCH_STRICT_PLUGINS=1`` the error is fatal instead. The
same happens for a ``register`` call with arguments of the wrong kind (a name that is not a
string, a target neither callable nor ``"module:attr"``) and for a ``@hookimpl`` function
whose name is not one of the hooks below (a misspelt hook would otherwise go unnoticed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["PROJECT_NAME", "Register", "hookimpl", "hookspec"]

PROJECT_NAME = "cooperbench"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: ``register(name, target, *, aliases=(), description=None)``
Register = Callable[..., None]


@hookspec
def cooperbench_register_agents(register: Register) -> None:
    """Register agent runners.

    Called once per process, when the plugin host is first built (the first time an agent,
    backend, connector or evaluator is looked up, or ``cooperbench plugins`` runs).

    Args:
        register: ``register(name, target, *, aliases=(), description=None)``. ``target``
            is a class whose instances implement :class:`cooperbench.agents.AgentRunner`
            (``run(task, image, *, agent_id, model_name, agents, comm_url, git_server_url,
            git_enabled, messaging_enabled, config, agent_config, log_dir) -> AgentResult``),
            or a ``"module:attr"`` string naming it.

    Raises:
        Anything: the plugin is then listed as broken and its agents are unavailable.
    """


@hookspec
def cooperbench_register_backends(register: Register) -> None:
    """Register sandbox backends.

    Args:
        register: as for :func:`cooperbench_register_agents`; ``target`` is a class
            implementing :class:`cooperbench.backends.Backend`, or a ``"module:attr"``
            string naming it. It is instantiated with keyword options from the
            ``backend`` section of the configuration.

    Raises:
        Anything: the plugin is then listed as broken and its backends are unavailable.
    """


@hookspec
def cooperbench_register_connectors(register: Register) -> None:
    """Register messaging connectors (the bus agents use to talk to each other).

    Args:
        register: as for :func:`cooperbench_register_agents`; ``target`` is a class
            implementing :class:`cooperbench.messaging.MessageBus`, or a ``"module:attr"``
            string naming it.

    Raises:
        Anything: the plugin is then listed as broken and its connectors are unavailable.
    """


@hookspec
def cooperbench_register_evaluators(register: Register) -> None:
    """Register evaluators (what turns a pair's patches into ``eval.json``).

    Args:
        register: as for :func:`cooperbench_register_agents`; ``target`` is a class
            implementing :class:`cooperbench.evaluation.Evaluator`, or a ``"module:attr"``
            string naming it.

    Raises:
        Anything: the plugin is then listed as broken and its evaluators are unavailable.
    """


@hookspec
def cooperbench_register_commands(app: Any) -> None:
    """Add sub-commands to the ``cooperbench`` command line.

    Called when the CLI starts, after the built-in commands exist.

    Args:
        app: the :class:`typer.Typer` application; add commands with ``@app.command()``.

    Raises:
        Anything: the plugin is then listed as broken and its commands are missing; the
            rest of the CLI still works.
    """
