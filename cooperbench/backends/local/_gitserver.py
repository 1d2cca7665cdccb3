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
        mounts: the repository at ``/git/<id>.git``: read-only but for ``objects/`` and ``refs/``,
            which a push writes. A ``file://`` push runs git's receive-pack inside the pusher's
            sandbox with the remote's hooks and config, so neither may be writable: an agent that
            planted a hook there would run code in its teammate's sandbox.
        path: the repository on the host.
    """

    def __init__(self, *, server_id: str, path: Path, release: Callable[[], None]) -> None:
        self.id = server_id
        self.path = path
        target = f"/git/{path.name}"
        self.url = f"file://{target}"
        self.mounts = (
            Mount(path, target, read_only=True),
            Mount(path / "objects", f"{target}/objects", read_only=False),
            Mount(path / "refs", f"{target}/refs", read_only=False),
        )
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
