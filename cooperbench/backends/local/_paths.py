"""Where the local backend keeps templates and run resources on disk.

::

    <cache>/templates/<key>/            a ready workspace template (appears by an atomic rename)
    <cache>/templates/<key>.lock        serialises builds of one template across processes
    <cache>/runs/<name>--<run id>/      one run's resources, see :mod:`._runs`
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_root", "safe_name"]

CACHE_ENV = "COOPERBENCH_CACHE_DIR"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def cache_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory: ``explicit``, else ``$COOPERBENCH_CACHE_DIR``, else ``~/.cache/cooperbench``.

    The path is made absolute (sandboxes bind-mount directories below it) but not created.
    """
    if explicit is not None:
        return Path(explicit).expanduser().absolute()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "cooperbench").absolute()


def safe_name(text: str, limit: int = 60) -> str:
    """``text`` reduced to characters safe in a file name (the exact text is kept in the ledger)."""
    return _UNSAFE.sub("_", text).strip("._")[:limit] or "run"
