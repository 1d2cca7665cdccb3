"""``ModalEnvironment``: the Environment agents drive, on a Modal sandbox."""

from __future__ import annotations

from cooperbench.backends.environment import SandboxEnvironment

__all__ = ["ModalEnvironment"]


class ModalEnvironment(SandboxEnvironment):
    """A sandbox of the task image on Modal (or on the run's backend, inside a run using ``modal``).

    Accepts the arguments of :class:`~cooperbench.backends.environment.SandboxEnvironment`
    (``image``, ``cwd="/workspace/repo"``, ``timeout``, ``env``); further keyword arguments are
    options of :class:`~cooperbench_backend_modal.backend.ModalBackend` when the environment
    creates its own backend (outside a run)::

        env = ModalEnvironment(image=image, cwd="/workspace/repo", timeout=3600)
        env.execute("git rev-parse HEAD")
        env.cleanup()

    Raises:
        SandboxError: no Modal credentials, or the sandbox cannot be started.
    """

    default_backend = "modal"
