"""Building blocks for backends whose sandboxes run on another machine (the Modal and GCP backends).

For backend authors; nothing here is needed to use a backend. Each piece is independent:

- :mod:`~cooperbench.backends.remote.exec_wrapper`: :func:`wrap` a command so that its
  timeout kills its whole process tree inside the sandbox, and :func:`exec_result` to read
  what came back, when the platform's exec API cannot kill what a command started.
- :mod:`~cooperbench.backends.remote.git_access`: a git server (the script
  :mod:`~cooperbench.backends.remote.git_http_server`, shipped into a sandbox as
  :func:`server_source`) answers only its own token; :class:`ServerAccess` gives the token to
  exactly the sandboxes created with the server's access mount (one pair's agents).
- :mod:`~cooperbench.backends.remote.mounts`: :class:`~cooperbench.backends.base.Mount` as a
  copy (:func:`check_copyable`, :func:`copy_mounts`); sockets and writable mounts are refused.

Importing this package imports only the standard library and :mod:`cooperbench.backends.base`.
"""

from __future__ import annotations

from cooperbench.backends.remote.exec_wrapper import TIMED_OUT_MARKER, exec_result, wrap
from cooperbench.backends.remote.git_access import (
    ACCESS_TARGET,
    SERVER_SCRIPT,
    TOKEN_HEADER,
    Grant,
    ServerAccess,
    authorize_command,
    probe_command,
    server_source,
)
from cooperbench.backends.remote.mounts import check_copyable, copy_mounts

__all__ = [
    "ACCESS_TARGET",
    "SERVER_SCRIPT",
    "TIMED_OUT_MARKER",
    "TOKEN_HEADER",
    "Grant",
    "ServerAccess",
    "authorize_command",
    "check_copyable",
    "copy_mounts",
    "exec_result",
    "probe_command",
    "server_source",
    "wrap",
]
