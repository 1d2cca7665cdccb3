"""The run an agent's sandboxes belong to.

The runner binds the active run before it calls an agent, so an Environment created inside
the agent (``LocalEnvironment(image=image)``) lands on the run's backend, resolves the task
image the runner prepared, carries the run's labels, and is tracked so the runner can clean
it up when the agent hangs or the run is interrupted.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cooperbench.backends.base import Backend, Mount, RunLabels, Sandbox

if TYPE_CHECKING:
    from cooperbench.dataset import Task


@dataclass(eq=False)  # identity semantics: trackers live in sets
class SandboxTracker:
    """The sandboxes one agent (or one evaluation) created, so they can be cleaned up from outside.

    Attributes:
        before_cleanup: called once, with the live sandboxes, before the first :meth:`cleanup`
            destroys them (the runner takes a hung or interrupted agent's working tree there);
            whatever it raises is ignored. A concurrent :meth:`cleanup` waits for it.
    """

    sandboxes: list[Sandbox] = field(default_factory=list)
    closed: bool = False
    before_cleanup: Callable[[list[Sandbox]], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cleanup_lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sandbox: Sandbox) -> None:
        with self._lock:
            self.sandboxes.append(sandbox)
            late = self.closed
        if late:  # the agent was already timed out or interrupted: do not let it keep a sandbox
            sandbox.cleanup()

    def cleanup(self) -> None:
        with self._cleanup_lock:
            with self._lock:
                first, self.closed = not self.closed, True
                sandboxes = list(self.sandboxes)
            hook, self.before_cleanup = self.before_cleanup, None
            if first and hook is not None and sandboxes:
                with contextlib.suppress(Exception):
                    hook(sandboxes)
            for sandbox in sandboxes:
                sandbox.cleanup()


@dataclass
class ActiveRun:
    """What the runner binds around one agent: the run's backend and labels, and that agent's mounts.

    Attributes:
        mounts: host paths every agent sandbox created under this binding sees (its pair's
            git repository, its own messaging endpoint); the runner binds one ``ActiveRun``
            per agent, so no agent gets another's.
        task: the dataset task being run, for harness built-ins that run in the harness's
            process and need the dataset itself (the ``oracle`` agent reads the gold patches).
            Agents receive the feature text, never a path into the dataset, and nothing of the
            dataset is visible inside a sandbox.
    """

    backend: Backend
    labels: RunLabels
    images: dict[str, str] = field(default_factory=dict)
    backend_name: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    task: Task | None = None


_active_run: contextvars.ContextVar[ActiveRun | None] = contextvars.ContextVar("cooperbench_active_run", default=None)
_tracker: contextvars.ContextVar[SandboxTracker | None] = contextvars.ContextVar("cooperbench_tracker", default=None)


def active_run() -> ActiveRun | None:
    return _active_run.get()


def current_tracker() -> SandboxTracker | None:
    return _tracker.get()


@contextlib.contextmanager
def bind_run(run: ActiveRun) -> Iterator[ActiveRun]:
    token = _active_run.set(run)
    try:
        yield run
    finally:
        _active_run.reset(token)


@contextlib.contextmanager
def track_sandboxes(tracker: SandboxTracker) -> Iterator[SandboxTracker]:
    token = _tracker.set(tracker)
    try:
        yield tracker
    finally:
        _tracker.reset(token)
