"""Who may reach a git server: one secret token per server, handed to exactly the sandboxes given its mount.

For backends whose git server is reachable beyond one pair (a public tunnel, a shared VPC).
The server is :mod:`cooperbench.backends.remote.git_http_server`, shipped into a sandbox as
:func:`server_source` and started as ``python3 git_http_server.py <root> <port> <token> <port file>``
with the token from :meth:`ServerAccess.add`. It answers only requests carrying that token in
the :data:`TOKEN_HEADER` header, which a sandbox sends once it ran :func:`authorize_command`
for the server's address.

:class:`ServerAccess` keeps, per backend, each live server's token and the host file that is
its :attr:`~cooperbench.backends.base.GitServer.mounts` entry: the runner hands a server's
mounts to the agents of one pair only, and a backend authorizes a sandbox for a server exactly
when ``create_sandbox(mounts=...)`` holds that server's access mount
(:meth:`ServerAccess.split`). Every other sandbox, of the same run or not, gets 403.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cooperbench.backends.base import Mount
from cooperbench.backends.remote.git_http_server import TOKEN_HEADER

__all__ = [
    "ACCESS_TARGET",
    "SERVER_SCRIPT",
    "TOKEN_HEADER",
    "Grant",
    "ServerAccess",
    "authorize_command",
    "probe_command",
    "server_source",
]

#: File name of the server script, in this package and wherever a backend writes it.
SERVER_SCRIPT = "git_http_server.py"
#: Where a sandbox given a server's access mount finds the team remote's URL.
ACCESS_TARGET = "/run/cooperbench/team-remote"


def server_source() -> bytes:
    """The server script's source, to write into the git server sandbox as :data:`SERVER_SCRIPT`."""
    return resources.files("cooperbench.backends.remote").joinpath(SERVER_SCRIPT).read_bytes()


def authorize_command(base: str, token: str) -> list[str]:
    """The argv making git in a sandbox send ``token`` to the server at ``base`` (and only there).

    Args:
        base: the server's base URL (``http://host:port/``); git scopes the header to URLs under it.
        token: the server's token.
    """
    return ["git", "config", "--global", "--add", f"http.{base}.extraHeader", f"{TOKEN_HEADER}: {token}"]


def probe_command(url: str, token: str) -> list[str]:
    """The argv that succeeds once the server answers for the repository at ``url`` (a readiness probe)."""
    return ["git", "-c", f"http.extraHeader={TOKEN_HEADER}: {token}", "ls-remote", url]


@dataclass(frozen=True)
class Grant:
    """Access to one git server: its URL, its base URL (what git scopes the header to) and its token."""

    url: str
    base: str
    token: str


class ServerAccess:
    """The live git servers of one backend: each one's token and access mount. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: dict[Path, tuple[Grant, Path]] = {}  # access file -> (grant, its folder)

    @staticmethod
    def new_token() -> str:
        return secrets.token_hex(20)

    def add(self, url: str, base: str, token: str) -> Mount:
        """Register a started server; return its access mount (a host file holding ``url``).

        The caller puts the mount in the server's ``mounts`` and calls :meth:`remove` when the server goes.
        """
        folder = Path(tempfile.mkdtemp(prefix="cooperbench-git-access-"))
        access = folder / "team-remote"
        access.write_text(url + "\n")
        with self._lock:
            self._grants[access] = (Grant(url, base, token), folder)
        return Mount(source=access, target=ACCESS_TARGET, read_only=True)

    def remove(self, mount: Mount) -> None:
        """Forget a server (idempotent): its access mount grants nothing any more."""
        with self._lock:
            entry = self._grants.pop(Path(mount.source), None)
        if entry is not None:
            shutil.rmtree(entry[1], ignore_errors=True)

    def split(self, mounts: Sequence[Mount]) -> tuple[list[Grant], list[Mount]]:
        """The servers ``mounts`` grant access to, and the other mounts (to be provided as mounts)."""
        grants: list[Grant] = []
        others: list[Mount] = []
        with self._lock:
            for mount in mounts:
                entry = self._grants.get(Path(mount.source))
                if entry is None:
                    others.append(mount)
                else:
                    grants.append(entry[0])
        return grants, others
