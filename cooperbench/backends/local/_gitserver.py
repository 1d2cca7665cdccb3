"""The local git server: a bare repository in the run's directory, mounted into the sandboxes of one pair."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from cooperbench.backends.base import Mount
from cooperbench.backends.local._runs import remove_tree

__all__ = ["LocalGitServer"]

log = logging.getLogger(__name__)


class LocalGitServer:
    """A shared bare repository of one pair.

    Attributes:
        url: ``file:///git/<id>.git``, the repository as a sandbox created with :attr:`mounts`
            sees it (``git remote add team <url>``); in every other sandbox the path does not exist.
        mounts: the repository, bound writable at ``/git/<id>.git``.
        path: the repository on the host.
    """

    def __init__(self, *, server_id: str, path: Path, release: Callable[[], None]) -> None:
        self.id = server_id
        self.path = path
        self.url = f"file:///git/{path.name}"
        self.mounts = (Mount(path, f"/git/{path.name}", read_only=False),)
        self._release = release
        self._closed = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalGitServer(url={self.url!r}, path={str(self.path)!r})"

    def cleanup(self) -> None:
        """Delete the repository. Idempotent; never raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            remove_tree(self.path)
        except Exception:
            log.warning("local git server %s: cleanup of %s failed", self.id, self.path, exc_info=True)
        finally:
            self._release()
