"""Waiting on a condition in tests: poll it, with a generous limit, never sleep and hope."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["wait_for"]


def wait_for(condition: Callable[[], object], what: str, limit: float = 120.0, interval: float = 0.05) -> None:
    """Return as soon as ``condition()`` is true; raise ``AssertionError`` naming ``what`` after ``limit`` seconds.

    Limits are generous on purpose: tests share two cores with other work, and a condition that
    holds returns at once, so a long limit costs nothing when all is well.
    """
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:.0f}s waiting for {what}")
        time.sleep(interval)
