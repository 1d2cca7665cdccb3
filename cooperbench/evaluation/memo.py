"""Memoized test runs: the same test run is never run twice in one process.

A feature's test run is a pure function of what goes into it: the task image (backend and
image reference), the base commit, the tree it starts from (the base, plus whatever ignored
files the policy's ``git clean`` left, such as build output baked into the image: their names
are in the key), the bytes of ``runner.sh``, of the feature's ``tests.patch`` and of the patch
under test. Those are the
key (:func:`test_key`); the value is the run's raw output, exit status and duration. Verdicts
are parsed again from the raw output on every use, so a reused run is graded exactly as a
fresh one.

This is what keeps ``validate`` and the failure attribution cheap: an oracle pair's gold patch
is tested alone once, however many pairs and checks need that run. Runs are only reused
within one process (a rebuilt image under the same name is never mistaken for the old one
across invocations); a run that timed out is never reused, and a run that took longer than the
time now allowed is run again (it would have been killed).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RawRun", "TestMemo", "test_key", "test_memo"]


@dataclass(frozen=True)
class RawRun:
    """What one ``runner.sh`` run left: its output, exit status, whether it was killed, its wall time."""

    output: str
    exit_code: int
    timed_out: bool
    duration: float


def test_key(*, backend: str, image: str, base: str, left_after_reset: str, runner: str, tests: str, patch: str) -> str:
    """The memo key of one test run.

    ``left_after_reset`` is a hash of the names of the ignored files the reset kept (``""``: none);
    ``runner``, ``tests`` and ``patch`` are content hashes (``patch=""``: no patch).
    """
    parts = ("cooperbench-test-run-v1", backend, image, base, left_after_reset, runner, tests, patch)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


test_key.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite the name


class TestMemo:
    """A bounded, thread-safe memo of test runs with one run in flight per key.

    Two threads asking for the same key at once get one run: the second waits for the first.
    """

    __test__ = False

    def __init__(self, max_entries: int = 4096) -> None:
        self._entries: OrderedDict[str, RawRun] = OrderedDict()
        self._inflight: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def run(self, key: str, timeout: float, compute: Callable[[], RawRun]) -> tuple[RawRun, bool]:
        """The run of ``key``: a stored one that fits in ``timeout``, else ``compute()``.

        Returns:
            ``(run, reused)``; ``reused`` is true when no command ran.
        """
        with self._lock:
            gate = self._inflight.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                stored = self._entries.get(key)
                if stored is not None and stored.duration <= timeout:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return stored, True
                self.misses += 1
            try:
                result = compute()
            finally:
                with self._lock:
                    self._inflight.pop(key, None)
            with self._lock:
                if not result.timed_out:
                    self._entries[key] = result
                    self._entries.move_to_end(key)
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
            return result, False

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


_MEMO = TestMemo()


def test_memo() -> TestMemo:
    """The process's memo of test runs."""
    return _MEMO


test_memo.__test__ = False  # type: ignore[attr-defined]
