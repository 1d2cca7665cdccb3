"""One run name, one writer: the lock a `cooperbench run` holds on its run folder while it runs.

The lock is ``<run folder>/.run.lock``, held with ``flock`` for the life of the process (the
kernel drops it when the process dies, however it dies) and naming its holder (pid, host,
start time) for the message a second process prints. It is removed when the run ends; one a
killed run left behind is stale (no process holds it) and is taken over with a warning.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from cooperbench.errors import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; the pid check alone decides
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".run.lock"


class RunLockedError(ConfigError):
    """Another live process is running the same run name."""


class RunLock:
    """Held while a process runs ``run_dir``; see the module docstring."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None
        self.took_over: dict[str, Any] | None = None  # the stale holder's record, when one was taken over

    def acquire(self) -> RunLock:
        """Take the lock.

        Raises:
            RunLockedError: another live process holds it (the message names it).
            ConfigError: the run folder cannot be written.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):  # the holder may remove the file between our open and our lock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                if not self._try_lock(fd):
                    holder = _read(fd)
                    raise RunLockedError(_busy_message(self.path.parent.name, holder, self.path))
                try:
                    same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
                previous = _read(fd)
                if previous and fcntl is None and _alive(previous):
                    raise RunLockedError(_busy_message(self.path.parent.name, previous, self.path))
                self.took_over = previous or None
                record = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": _now()}
                os.ftruncate(fd, 0)
                os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
                self._fd = fd
                return self
            except BaseException:
                if self._fd != fd:
                    os.close(fd)
                raise
        raise RunLockedError(f"could not lock {self.path}: it keeps being replaced by another process")

    def release(self) -> None:
        """Remove the lock file and drop the lock (no lock file is left in the run folder)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    @staticmethod
    def _try_lock(fd: int) -> bool:
        if fcntl is None:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def describe_holder(holder: dict[str, Any]) -> str:
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started {holder.get('started_at', '?')}"


def _busy_message(run_name: str, holder: dict[str, Any], path: Path) -> str:
    who = describe_holder(holder) if holder else "another process"
    return (
        f"run {run_name!r} is being run by {who} (lock {path}); two processes on one run name would mix their "
        "results: wait for it to end, stop it, or use another --name"
    )


def _read(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(holder: dict[str, Any]) -> bool:
    if holder.get("host") != socket.gethostname():
        return True  # another host's process cannot be checked from here
    try:
        os.kill(int(holder.get("pid", 0)), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
