"""``LocalEnvironment``: a sandbox of the ``local`` (bubblewrap) backend."""

from __future__ import annotations

from cooperbench.backends.environment import SandboxEnvironment

__all__ = ["LocalEnvironment"]


class LocalEnvironment(SandboxEnvironment):
    """An Environment on the ``local`` backend.

    ``LocalEnvironment(image=image, cwd="/workspace/repo", timeout=600)``
    """

    default_backend = "local"
