"""``DockerEnvironment``: the Environment agents drive, on the docker backend.

Also importable as ``cooperbench.agents.mini_swe_agent.environments.docker.DockerEnvironment``.
"""

from __future__ import annotations

from cooperbench.backends.environment import SandboxEnvironment

__all__ = ["DockerEnvironment"]


class DockerEnvironment(SandboxEnvironment):
    """A sandbox of the task image in a Docker container; see :class:`SandboxEnvironment`.

    Inside a run whose backend is ``docker`` the run's backend (and its labels, images and
    network) is used; otherwise a ``docker`` backend is made from ``backend_options``.

    Example::

        with DockerEnvironment(image=image, cwd="/workspace/repo", timeout=3600) as env:
            env.execute("git status")
    """

    default_backend = "docker"
