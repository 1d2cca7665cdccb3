"""Building blocks for backends whose sandboxes run on another machine (the Modal and GCP backends).

For backend authors; nothing here is needed to use a backend. Each piece is independent:

- :mod:`~cooperbench.backends.remote.exec_wrapper`: :func:`wrap` a command so that its
  timeout kills its whole process tree inside the sandbox, and :func:`exec_result` to read
  what came back, when the platform's exec API cannot kill what a command started.
- :mod:`~cooperbench.backends.remote.git_access`: the run's git server (the script
  :mod:`~cooperbench.backends.remote.git_http_server`, shipped into a sandbox as
  :func:`server_source`) answers only the run's token; :class:`TeamAccess` makes every
  sandbox of a run carry it.

Importing this package imports only the standard library and :mod:`cooperbench.backends.base`.
"""

from __future__ import annotations

from cooperbench.backends.remote.exec_wrapper import TIMED_OUT_MARKER, exec_result, wrap
from cooperbench.backends.remote.git_access import (
    SERVER_SCRIPT,
    TOKEN_HEADER,
    TeamAccess,
    authorize_command,
    probe_command,
    server_source,
)

__all__ = [
    "SERVER_SCRIPT",
    "TIMED_OUT_MARKER",
    "TOKEN_HEADER",
    "TeamAccess",
    "authorize_command",
    "exec_result",
    "probe_command",
    "server_source",
    "wrap",
]
