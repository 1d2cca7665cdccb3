"""Plugin discovery and lookup.

Plugins register through the ``cooperbench`` entry point group (see
:mod:`cooperbench.hookspecs`). Look them up with :func:`get_plugin` or the per-kind helpers
in :mod:`cooperbench.agents` and friends.
"""

from __future__ import annotations

from typing import Any

from cooperbench.plugins._manager import (
    ENTRY_POINT_GROUP,
    EXTERNAL_AGENTS_VAR,
    KINDS,
    KNOWN_DISTRIBUTIONS,
    STRICT_VAR,
    PluginHost,
    Registration,
    get_host,
    reset_host,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "EXTERNAL_AGENTS_VAR",
    "KINDS",
    "KNOWN_DISTRIBUTIONS",
    "STRICT_VAR",
    "PluginHost",
    "Registration",
    "get_host",
    "get_plugin",
    "list_plugins",
    "reset_host",
]


def get_plugin(kind: str, name: str) -> Any:
    """Return the object registered as ``name`` for ``kind`` (importing a lazy target).

    Raises:
        UnknownPluginError, DuplicatePluginError, BrokenPluginError: see :meth:`PluginHost.get`.
    """
    return get_host().get(kind, name).load()


def list_plugins(kind: str | None = None) -> list[Registration]:
    """Every registration, broken plugins included, for ``cooperbench plugins``."""
    return get_host().registrations(kind)
