"""Sandbox backends: the contract, lookup, and the environment agents drive."""

from __future__ import annotations

from typing import Any

from cooperbench.backends.base import PATCHES_DIR, REPO_DIR, Backend, ExecResult, GitServer, Mount, RunLabels, Sandbox

__all__ = [
    "PATCHES_DIR",
    "REPO_DIR",
    "Backend",
    "ExecResult",
    "GitServer",
    "Mount",
    "RunLabels",
    "Sandbox",
    "get_backend",
    "list_backends",
]


def get_backend(name: str, **options: Any) -> Backend:
    """Instantiate the backend registered as ``name`` with ``options``.

    Raises:
        UnknownPluginError: no such backend is installed (the message says what to install).
        ConfigError: an option is not understood by the backend.
    """
    from cooperbench.errors import ConfigError
    from cooperbench.plugins import get_plugin

    cls = get_plugin("backend", name)
    try:
        return cls(**options)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise ConfigError(f"backend {name!r}: invalid option in the `backend` configuration section: {exc}") from exc


def list_backends() -> list[str]:
    from cooperbench.plugins import get_host

    return get_host().names("backend")
