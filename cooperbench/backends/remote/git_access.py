"""Who may reach a run's git servers: one secret token per run, carried by every sandbox of the run.

For backends whose git server is reachable beyond the run (a public tunnel, a shared VPC).
The server is :mod:`cooperbench.backends.remote.git_http_server`, shipped into a sandbox as
:func:`server_source` and started as ``python3 git_http_server.py <root> <port> <token>``
with the token from :meth:`TeamAccess.token`. It answers only requests carrying that token
in the :data:`TOKEN_HEADER` header, which a sandbox sends once it ran
:func:`authorize_command` for the server's address. :class:`TeamAccess` keeps a backend's
book of which sandboxes and servers each run has, so that every sandbox of a run is
authorized for every server of the run, whichever was created first.
"""

from __future__ import annotations

import secrets
import threading
from importlib import resources
from typing import Protocol

from cooperbench.backends.remote.git_http_server import TOKEN_HEADER

__all__ = [
    "SERVER_SCRIPT",
    "TOKEN_HEADER",
    "Member",
    "TeamAccess",
    "authorize_command",
    "probe_command",
    "server_source",
]

#: File name of the server script, in this package and wherever a backend writes it.
SERVER_SCRIPT = "git_http_server.py"


def server_source() -> bytes:
    """The server script's source, to write into the git server sandbox as :data:`SERVER_SCRIPT`."""
    return resources.files("cooperbench.backends.remote").joinpath(SERVER_SCRIPT).read_bytes()


def authorize_command(base: str, token: str) -> list[str]:
    """The argv making git in a sandbox send ``token`` to the server at ``base`` (and only there).

    Args:
        base: the server's base URL (``http://host:port/``); git scopes the header to URLs under it.
        token: the run's token.
    """
    return ["git", "config", "--global", "--add", f"http.{base}.extraHeader", f"{TOKEN_HEADER}: {token}"]


def probe_command(url: str, token: str) -> list[str]:
    """The argv that succeeds once the server answers for the repository at ``url`` (a readiness probe)."""
    return ["git", "-c", f"http.extraHeader={TOKEN_HEADER}: {token}", "ls-remote", url]


class Member(Protocol):
    """A sandbox as :class:`TeamAccess` sees it."""

    @property
    def closed(self) -> bool:
        """The sandbox was cleaned up (it is then skipped)."""
        ...

    def authorize(self, base: str, token: str) -> None:
        """Make git in the sandbox send ``token`` to the server at ``base``, e.g. with :func:`authorize_command`."""
        ...


class TeamAccess:
    """Per run: the token its git servers require, its sandboxes, its servers' base URLs. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}  # run id -> token its git servers require
        self._servers: dict[str, list[str]] = {}  # run id -> base URLs of its git servers
        self._members: dict[str, list[Member]] = {}  # run id -> its sandboxes

    def token(self, run_id: str) -> str:
        """The run's token (made on first use, then the same for the backend's lifetime)."""
        with self._lock:
            return self._tokens.setdefault(run_id, secrets.token_hex(20))

    def join(self, run_id: str, sandbox: Member) -> None:
        """Record ``sandbox`` as the run's and authorize it for the run's existing servers.

        Raises:
            Whatever ``sandbox.authorize`` raises (the backend's ``SandboxError``).
        """
        token = self.token(run_id)
        with self._lock:
            members = [m for m in self._members.get(run_id, ()) if not m.closed]
            self._members[run_id] = [*members, sandbox]
            bases = list(self._servers.get(run_id, ()))
        for base in bases:
            sandbox.authorize(base, token)

    def add_server(self, run_id: str, base: str) -> None:
        """Record a server of the run at ``base`` and authorize the run's live sandboxes for it.

        Raises:
            Whatever a sandbox's ``authorize`` raises (the backend's ``SandboxError``).
        """
        token = self.token(run_id)
        with self._lock:
            self._servers.setdefault(run_id, []).append(base)
            members = [m for m in self._members.get(run_id, ()) if not m.closed]
        for member in members:
            member.authorize(base, token)
