"""The Environment agents drive: ``execute(command, timeout=None)`` and ``cleanup()``."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from cooperbench.backends._context import active_run, current_tracker
from cooperbench.backends.base import REPO_DIR, Backend, ExecResult, Mount, RunLabels, Sandbox

__all__ = ["SandboxEnvironment"]


class SandboxEnvironment:
    """A sandbox of the task image, driven through shell commands.

    Inside a run, the sandbox comes from the run's backend (unless ``backend`` names another)
    and is labelled with the run; outside one, from ``backend`` (default ``local``) under the
    run name ``adhoc``.

    Args:
        image: the image handed to the agent.
        cwd: the directory commands run in.
        timeout: default per-command timeout in seconds.
        env: environment variables set for every command.
        backend: a backend name or instance; ``None`` means the run's backend.
        mounts: host paths this sandbox (and no other) sees besides the run's own mounts for
            the agent, e.g. a CLI agent's binary bound read-only (see :class:`Mount`).
        **backend_options: options for the backend when it is created here.

    Raises:
        SandboxError: the sandbox could not be created.
        UnknownPluginError: ``backend`` is not installed.
    """

    default_backend: str | None = None

    def __init__(
        self,
        image: str,
        *,
        cwd: str = REPO_DIR,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        backend: str | Backend | None = None,
        mounts: Sequence[Mount] = (),
        **backend_options: Any,
    ) -> None:
        self.image = image
        self.cwd = cwd
        self.timeout = timeout
        self.env = dict(env or {})
        run = active_run()
        requested = backend or self.default_backend
        if isinstance(requested, str) or requested is None:
            if run is not None and (requested is None or requested == run.backend_name):
                self.backend: Backend = run.backend
            else:
                from cooperbench.backends import get_backend

                self.backend = get_backend(requested or "local", **backend_options)
        else:
            self.backend = requested
        labels = run.labels if run is not None else RunLabels("adhoc")
        own_run = run if run is not None and self.backend is run.backend else None
        resolved = own_run.images.get(image, image) if own_run is not None else image
        # Only a sandbox of the run's own backend gets the agent's mounts (its pair's git
        # repository, its messaging endpoint); `mounts` is passed only when there are some,
        # so backends written before the parameter existed keep working.
        every = (*(own_run.mounts if own_run is not None else ()), *mounts)
        extra: dict[str, Any] = {"mounts": every} if every else {}
        self.sandbox: Sandbox = self.backend.create_sandbox(resolved, run=labels, purpose="agent", **extra)
        tracker = current_tracker()
        if tracker is not None:
            tracker.add(self.sandbox)

    def execute(
        self, command: str | dict[str, Any], timeout: float | None = None, cwd: str | None = None
    ) -> dict[str, Any]:
        """Run ``command`` (a string, or ``{"command": str}``) and return ``{"output", "returncode"}``.

        ``timed_out`` is also set when the command was killed at its timeout.
        """
        line: str = command["command"] if isinstance(command, dict) else command
        result: ExecResult = self.sandbox.exec(
            line, timeout=timeout if timeout is not None else self.timeout, env=self.env or None, cwd=cwd or self.cwd
        )
        return result.to_dict()

    def cleanup(self) -> None:
        """Destroy the sandbox. Idempotent."""
        self.sandbox.cleanup()

    def __enter__(self) -> SandboxEnvironment:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()
