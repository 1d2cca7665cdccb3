"""SIGINT, SIGTERM and SIGHUP during a run: one graceful shutdown, and never a silent one.

``timeout``, CI runners, ``docker stop`` and batch schedulers send SIGTERM (a closed terminal
sends SIGHUP); each gets what Ctrl-C gets. The first signal interrupts the run's main thread
(as :class:`RunInterrupted`, a ``KeyboardInterrupt``); the run then removes its sandboxes,
containers, networks and git servers and keeps every result written. A signal that arrives
while that cleanup is under way does not cut it short: it says that cleanup is in progress
and what ``cooperbench cleanup --run NAME`` would remove if the process were killed now.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

SHUTDOWN_SIGNALS = tuple(
    s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None
)


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal; ``exit_status`` is the shell's 128 + signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class ShutdownSignals:
    """Installs the run's handlers of SIGINT, SIGTERM and SIGHUP (main thread only) and restores the previous ones.

    Args:
        run_name: the run, named in the message of a second signal.
        leftovers: lists what the run still holds (the backend's ``resources``), called in a
            thread of its own when a second signal arrives; ``None`` when the backend cannot say.
    """

    def __init__(self, run_name: str, leftovers: Callable[[], list[str]] | None = None) -> None:
        self.run_name = run_name
        self.leftovers = leftovers
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> ShutdownSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in SHUTDOWN_SIGNALS:
                try:
                    self._previous[signum] = signal.signal(signum, self._handle)
                except (ValueError, OSError):  # not settable here (an embedding host's thread, Windows)
                    continue
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def interrupted_by(self, exc: BaseException) -> int:
        """The signal number a ``KeyboardInterrupt`` stands for (SIGINT when Python raised it itself)."""
        signum = exc.signum if isinstance(exc, RunInterrupted) else signal.SIGINT
        if self.received is None:
            self.received = signum
        return signum

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            raise RunInterrupted(signum)
        self._tell_cleanup_in_progress(signum)

    def _tell_cleanup_in_progress(self, signum: int) -> None:
        name = signal.Signals(signum).name
        _say(
            f"{name} received again: cleanup of run {self.run_name!r} is still in progress (its sandboxes, "
            "containers, networks and git servers are being removed). Stopping this process now would leave them "
            f"behind; `cooperbench cleanup --run {self.run_name}` would then remove them."
        )
        if self.leftovers is None:
            return
        listing = self.leftovers

        def tell() -> None:
            try:
                items = listing()
            except Exception as exc:  # the listing is advice; the cleanup itself goes on
                _say(f"(could not list what run {self.run_name!r} still holds: {type(exc).__name__}: {exc})")
                return
            if items:
                _say(f"`cooperbench cleanup --run {self.run_name}` would remove now:")
                for item in items:
                    _say(f"  {item}")
            else:
                _say(f"`cooperbench cleanup --run {self.run_name}` would remove nothing: the run holds nothing more")

        threading.Thread(target=tell, daemon=True, name="cleanup-listing").start()


def _say(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed terminal (SIGHUP): nowhere to say it
        pass
