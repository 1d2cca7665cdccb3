"""``GCPEnvironment``: the Environment agents drive, on a Compute Engine VM."""

from __future__ import annotations

from typing import Any

from cooperbench.backends.base import REPO_DIR, Backend
from cooperbench.backends.environment import SandboxEnvironment

__all__ = ["GCPEnvironment"]


class GCPEnvironment(SandboxEnvironment):
    """A sandbox of the task image on a Compute Engine VM (or on the run's backend, inside a run using ``gcp``).

    Args:
        image: the image handed to the agent.
        cwd: the directory commands run in.
        timeout: default per-command timeout in seconds.
        env: environment variables set for every command.
        project_id: the Google Cloud project, when the environment creates its own backend.
        zone: the zone, likewise.
        backend: a backend name or instance; ``None`` means the run's backend, else ``gcp``.
        **backend_options: further options of :class:`~cooperbench_backend_gcp.backend.GCPBackend`.

    Example::

        env = GCPEnvironment(image=image, cwd="/workspace/repo", timeout=3600,
                             project_id="my-project", zone="us-central1-a")

    Raises:
        SandboxError: no credentials or project, or the VM cannot be started.
    """

    default_backend = "gcp"

    def __init__(
        self,
        image: str,
        *,
        cwd: str = REPO_DIR,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        project_id: str | None = None,
        zone: str | None = None,
        backend: str | Backend | None = None,
        **backend_options: Any,
    ) -> None:
        if project_id is not None:
            backend_options["project_id"] = project_id
        if zone is not None:
            backend_options["zone"] = zone
        super().__init__(image, cwd=cwd, timeout=timeout, env=env, backend=backend, **backend_options)
