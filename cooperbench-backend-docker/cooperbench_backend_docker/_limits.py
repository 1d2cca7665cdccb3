"""Telling a command that the sandbox hit its memory or process limit.

The kernel counts, per container, how often its memory cgroup killed a process (``oom_kill``)
and how often a fork failed at the process limit (``pids`` ``max``). After a command fails,
the counters are read; when one grew, the command's output gets a note saying which limit
was hit, so the agent (and whoever reads its trajectory) knows why the command died.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import docker.errors

if TYPE_CHECKING:
    from docker.api import APIClient

__all__ = ["COUNTERS_SCRIPT", "LimitWatch"]

# Shell builtins only: it must run in a sandbox whose process table is full. cgroup v2 first, then v1.
COUNTERS_SCRIPT = r"""
oom=0; forks=0
for f in /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control; do
  if [ -r "$f" ]; then while read -r k v; do [ "$k" = oom_kill ] && oom=$v; done < "$f"; break; fi
done
for f in /sys/fs/cgroup/pids.events /sys/fs/cgroup/pids/pids.events; do
  if [ -r "$f" ]; then while read -r k v; do [ "$k" = max ] && forks=$v; done < "$f"; break; fi
done
echo "$oom $forks"
"""


def _size(value: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value} bytes"


class LimitWatch:
    """The limit counters of one container, as last read."""

    def __init__(self, limits: dict[str, int | None]) -> None:
        self.memory = limits.get("memory")
        self.pids = limits.get("pids")
        self._seen = (0, 0)  # a new container's counters start at zero
        self._lock = threading.Lock()

    def _read(self, api: APIClient, container: str) -> tuple[int, int] | None:
        try:
            exec_id = api.exec_create(container, ["sh", "-c", COUNTERS_SCRIPT], user="0")["Id"]
            words = api.exec_start(exec_id).decode("ascii", "replace").split()
            return int(words[0]), int(words[1])
        except (docker.errors.APIError, ValueError, IndexError):
            return None  # gone, or the counters are not readable here: say nothing

    def note(self, api: APIClient, container: str) -> tuple[str, str | None]:
        """For a command that just failed: the note on which limit was hit since the last look, and that limit.

        Returns:
            ``(note, "memory" | "pids" | None)``; ``("", None)`` when no limit was hit (or none is set).
        """
        if self.memory is None and self.pids is None:
            return "", None
        counters = self._read(api, container)
        if counters is None:
            return "", None
        with self._lock:
            before, self._seen = self._seen, counters
        notes = []
        hit: str | None = None
        if counters[1] > before[1]:
            limit = f" ({self.pids} processes and threads)" if self.pids else ""
            notes.append(f"[cooperbench] the sandbox hit its process limit{limit}: new processes could not start.")
            hit = "pids"
        if counters[0] > before[0]:
            limit = f" ({_size(self.memory)})" if self.memory else ""
            notes.append(
                f"[cooperbench] the sandbox hit its memory limit{limit}: the kernel killed the process using the "
                "most memory."
            )
            hit = "memory"  # a process was killed for it: the stronger cause
        return "".join(f"\n{n}" for n in notes), hit
