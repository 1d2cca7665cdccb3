"""The agent registry (kept compatible with earlier CooperBench releases).

``@register("name")`` on a class, ``get_runner("name")`` and ``list_agents()`` work as
before; all of them read the same plugin host as entry-point plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cooperbench.plugins import get_host
from cooperbench.plugins._manager import add_decorated

__all__ = ["get_runner", "list_agents", "register"]

T = TypeVar("T")


def register(name: str, *, aliases: tuple[str, ...] = (), description: str | None = None) -> Callable[[T], T]:
    """Class decorator registering an agent runner under ``name``.

    Example::

        @register("my_agent")
        class MyAgentRunner:
            def run(self, task, image, **kwargs): ...

    Raises:
        TypeError: ``name`` is not a string (``@register`` used without a name).
    """
    if not isinstance(name, str):
        raise TypeError(f"@register needs the agent's name: write @register('my_agent'), not @register (got {name!r})")

    def decorate(cls: T) -> T:
        add_decorated("agent", name, cls, aliases=tuple(aliases), description=description)
        return cls

    return decorate


def get_runner(name: str, **kwargs: Any) -> Any:
    """Instantiate the agent runner registered as ``name``.

    Raises:
        UnknownPluginError: no agent is registered under ``name`` (the message lists the
            installed agents and, for a known built-in, the ``pip install`` line).
        DuplicatePluginError: two distributions register ``name``.
        BrokenPluginError: the plugin that provides ``name`` failed to load.
    """
    cls = get_host().get("agent", name).load()
    return cls(**kwargs)


def list_agents() -> list[str]:
    """Names of every working agent, sorted."""
    return get_host().names("agent")
