"""The ``local`` backend: bubblewrap sandboxes on this host (see :class:`LocalBackend`)."""

from __future__ import annotations

from cooperbench.backends.local._gitserver import LocalGitServer
from cooperbench.backends.local._sandbox import LocalSandbox
from cooperbench.backends.local._template import read_base_commit
from cooperbench.backends.local.backend import REF_PREFIX, LocalBackend

__all__ = ["REF_PREFIX", "LocalBackend", "LocalGitServer", "LocalSandbox", "read_base_commit"]
