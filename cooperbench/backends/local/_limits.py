"""Per-sandbox resource limits for the local backend: memory, processes and CPU, through cgroups.

Every sandbox gets a cgroup of its own in each controller (cgroup v1: ``memory``, ``pids``,
``cpu`` hierarchies; cgroup v2: one directory), named after the cache, the run directory and
the sandbox::

    <controller root>/cooperbench/<cache hash>/<run dir name>/<sandbox id>

bubblewrap reports each command's sandbox init and waits while the harness moves it into
them (``--info-fd``, ``--block-fd``), so nothing the command forks escapes the limits. When
the memory limit is hit, the kernel's OOM killer ends a process of that sandbox only; when
the process limit is hit, forks fail, and the harness ends the command (a fork bomb never
stops by itself). Either way the command's
result says so (:attr:`~cooperbench.backends.base.ExecResult.resource_limit`).

Where no cgroup can be created (no root, no delegated cgroup v2 subtree), sandboxes run
without limits and a warning says so once per process.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cooperbench.errors import ConfigError

__all__ = [
    "CgroupSupport",
    "Limits",
    "SandboxCgroup",
    "cgroup_support",
    "parse_limits",
    "prune_empty",
    "sweep_cgroups",
]

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PREFIX = "cooperbench"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.I)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_WATCH_INTERVAL = 0.2


@dataclass(frozen=True)
class Limits:
    """What one sandbox may use; ``None`` means unlimited."""

    memory: int | None
    pids: int | None
    cpus: float | None

    def describe(self) -> dict[str, Any]:
        return {"memory_bytes": self.memory, "pids": self.pids, "cpus": self.cpus}


def _size(key: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"backend option `{key}`: expected a size such as 4g or 512m (or null), got {value!r}")
    if isinstance(value, int) and value > 0:
        return value
    match = _SIZE.match(str(value)) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(f"backend option `{key}`: expected a size such as 4g or 512m (or null), got {value!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_limits(memory: object, pids: object, cpus: object) -> Limits:
    """Validate the ``memory``, ``pids`` and ``cpus`` backend options.

    Raises:
        ConfigError: a value of the wrong type or range; the message names the key.
    """
    if pids is not None and (isinstance(pids, bool) or not isinstance(pids, int) or pids < 8):
        raise ConfigError(
            f"backend option `pids`: expected a number of processes of at least 8 (or null), got {pids!r}"
        )
    if cpus is not None and (isinstance(cpus, bool) or not isinstance(cpus, int | float) or cpus <= 0):
        raise ConfigError(f"backend option `cpus`: expected a positive number of CPUs (or null), got {cpus!r}")
    return Limits(_size("memory", memory), pids, float(cpus) if cpus is not None else None)


@dataclass(frozen=True)
class CgroupSupport:
    """Where this host's cgroups let us set limits: per controller, the directory our cgroups go under."""

    version: int  # 1 or 2; 0 when none
    roots: dict[str, Path]  # controller -> parent directory of our cgroups
    reason: str = ""  # why some limits cannot be applied

    def can(self, controller: str) -> bool:
        return controller in self.roots


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


@functools.lru_cache(maxsize=1)
def cgroup_support() -> CgroupSupport:
    """Find the cgroup controllers this process may create children in (once per process)."""
    controllers = ("memory", "pids", "cpu")
    v1 = {c: CGROUP_ROOT / c for c in controllers if (CGROUP_ROOT / c / "cgroup.procs").is_file()}
    if v1:
        roots = {c: p / PREFIX for c, p in v1.items() if _writable_dir(p) or _writable_dir(p / PREFIX)}
        missing = sorted(set(controllers) - set(roots))
        return CgroupSupport(
            1, roots, f"cgroup v1 controllers {', '.join(missing)} are not writable" if missing else ""
        )
    if (CGROUP_ROOT / "cgroup.controllers").is_file():
        base = CGROUP_ROOT
        available = set((base / "cgroup.controllers").read_text().split())
        if not _writable_dir(base):
            return CgroupSupport(0, {}, f"{base} is not writable (run as root, or delegate a cgroup v2 subtree)")
        top = base / PREFIX
        try:
            top.mkdir(exist_ok=True)
            _enable(base, available & set(controllers))
            _enable(top, available & set(controllers))
        except OSError as exc:
            return CgroupSupport(0, {}, f"cannot set up {top}: {exc}")
        enabled = set((top / "cgroup.subtree_control").read_text().split())
        roots = {c: top for c in controllers if c in enabled}
        missing = sorted(set(controllers) - set(roots))
        return CgroupSupport(2, roots, f"cgroup v2 controllers {', '.join(missing)} unavailable" if missing else "")
    return CgroupSupport(0, {}, f"no cgroup filesystem at {CGROUP_ROOT}")


def _enable(path: Path, controllers: set[str]) -> None:
    if controllers:
        (path / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(controllers)))


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        log.warning(message)


def cache_key(runs_dir: Path) -> str:
    return hashlib.sha256(str(runs_dir).encode()).hexdigest()[:12]


class SandboxCgroup:
    """The cgroups of one sandbox (one directory per controller hierarchy)."""

    def __init__(self, limits: Limits, *, runs_dir: Path, run_dir_name: str, sandbox_id: str) -> None:
        self.limits = limits
        support = cgroup_support()
        wanted = {"memory": limits.memory, "pids": limits.pids, "cpu": limits.cpus}
        lacking = [c for c, v in wanted.items() if v is not None and not support.can(c)]
        if lacking:
            _warn_once(
                f"local backend: no {', '.join(lacking)} limit for sandboxes on this host ({support.reason}); "
                "a runaway command can use up the machine. Run as root on a host with cgroups, or use --backend docker"
            )
        self.version = support.version
        self.dirs: dict[str, Path] = {}
        relative = Path(cache_key(runs_dir), run_dir_name, sandbox_id)
        for controller, value in wanted.items():
            if value is None or not support.can(controller):
                continue
            path = support.roots[controller] / relative
            if path in self.dirs.values():
                continue
            try:
                path.mkdir(parents=True, exist_ok=True)
                if self.version == 2:
                    for parent in reversed(path.relative_to(support.roots[controller]).parents):
                        if parent != Path("."):
                            _enable(support.roots[controller] / parent, set(support.roots))
            except OSError as exc:
                _warn_once(
                    f"local backend: cannot create cgroup {path} ({exc}); sandboxes run without {controller} limits"
                )
                continue
            self.dirs[controller] = path
        self._apply()
        # Opened once: moving a command's init in is then one write per hierarchy.
        self._procs: list[tuple[Path, int]] = []
        for path in dict.fromkeys(self.dirs.values()):
            try:
                self._procs.append((path, os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)))
            except OSError as exc:
                _warn_once(f"local backend: cannot open {path / 'cgroup.procs'} ({exc}); commands run outside it")
        self._baseline = self.counters()

    def place(self, pid: int) -> None:
        """Move process ``pid`` into the sandbox's cgroups (its children follow it from then on)."""
        data = str(pid).encode()
        for path, fd in self._procs:
            try:
                os.write(fd, data)
            except ProcessLookupError:
                return
            except OSError as exc:
                log.warning("local backend: cannot move a command into %s (%s); it runs outside that limit", path, exc)

    def _write(self, controller: str, name: str, value: str) -> None:
        path = self.dirs.get(controller)
        if path is None:
            return
        try:
            (path / name).write_text(value)
        except OSError as exc:
            _warn_once(f"local backend: cannot set {path / name} to {value} ({exc})")

    def _apply(self) -> None:
        lim = self.limits
        if self.version == 1:
            if lim.memory is not None:
                self._write("memory", "memory.limit_in_bytes", str(lim.memory))
                if (self.dirs.get("memory", Path("/nonexistent")) / "memory.memsw.limit_in_bytes").exists():
                    self._write("memory", "memory.memsw.limit_in_bytes", str(lim.memory))
            if lim.pids is not None:
                self._write("pids", "pids.max", str(lim.pids))
            if lim.cpus is not None:
                self._write("cpu", "cpu.cfs_period_us", "100000")
                self._write("cpu", "cpu.cfs_quota_us", str(max(1000, int(lim.cpus * 100000))))
        elif self.version == 2:
            if lim.memory is not None:
                self._write("memory", "memory.max", str(lim.memory))
                self._write("memory", "memory.swap.max", "0")
            if lim.pids is not None:
                self._write("pids", "pids.max", str(lim.pids))
            if lim.cpus is not None:
                self._write("cpu", "cpu.max", f"{max(1000, int(lim.cpus * 100000))} 100000")

    def counters(self) -> dict[str, int]:
        """Cumulative OOM kills and refused forks of the sandbox."""
        found = {}
        if "memory" in self.dirs:
            name = "memory.oom_control" if self.version == 1 else "memory.events"
            found["memory"] = _field(self.dirs["memory"] / name, "oom_kill")
        if "pids" in self.dirs:
            found["pids"] = _field(self.dirs["pids"] / "pids.events", "max")
        return found

    def exceeded(self, before: dict[str, int]) -> str | None:
        """Which limit was hit since ``before`` (a :meth:`counters` reading): ``memory``, ``pids`` or None."""
        now = self.counters()
        for key in ("memory", "pids"):
            if now.get(key, 0) > before.get(key, 0):
                return key
        return None

    def remove(self) -> None:
        procs, self._procs = self._procs, []
        for _path, fd in procs:
            with contextlib.suppress(OSError):
                os.close(fd)
        for path in dict.fromkeys(self.dirs.values()):
            _rmdir(path)


def _field(path: Path, key: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    return 0


def _rmdir(path: Path) -> None:
    """Remove a cgroup once its processes are gone (they may take a moment to exit)."""
    deadline = time.monotonic() + 5.0
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                log.warning("local backend: cgroup %s still busy; `cooperbench cleanup` removes it later", path)
                return
            _kill_members(path)
            time.sleep(0.05)


def _kill_members(path: Path) -> None:
    import signal

    with contextlib.suppress(OSError, ValueError):
        for pid in (path / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(pid), signal.SIGKILL)


def sweep_cgroups(runs_dir: Path, run_dir_name: str) -> list[str]:
    """Kill what is left in the cgroups of one run directory and remove them."""
    support = cgroup_support()
    removed = []
    for root in dict.fromkeys(support.roots.values()):
        run_cg = root / cache_key(runs_dir) / run_dir_name
        if not run_cg.is_dir():
            continue
        for child in sorted(p for p in run_cg.iterdir() if p.is_dir()):
            _rmdir(child)
            removed.append(f"cgroup {child}")
        _rmdir(run_cg)
    prune_empty()
    return removed


def prune_empty() -> None:
    """Remove run and cache directories of our cgroup tree that hold no sandbox any more.

    A sandbox's own cgroup is only removed with the sandbox; the directories above it are made
    again (``mkdir -p``) by the next sandbox, so an empty one (its cache deleted, its run gone)
    can go at any time. The kernel refuses to remove a cgroup that still has children.
    """
    for root in dict.fromkeys(cgroup_support().roots.values()):
        for key in _children(root):
            for run_cg in _children(key):
                with contextlib.suppress(OSError):
                    run_cg.rmdir()
            with contextlib.suppress(OSError):
                key.rmdir()


def _children(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir()]
    except OSError:
        return []


class PidsWatch:
    """Ends the commands of sandboxes that hit their process limit (a fork bomb never ends by itself)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[SandboxCgroup, dict[str, int], Callable[[], None]]] = {}
        self._thread: threading.Thread | None = None
        self._next = 0

    def add(self, cgroup: SandboxCgroup, on_exceeded: Callable[[], None], before: dict[str, int] | None = None) -> int:
        """Watch ``cgroup`` from ``before`` (a :meth:`SandboxCgroup.counters` reading; now when not given)."""
        if before is None:
            before = cgroup.counters()
        with self._lock:
            self._next += 1
            self._watched[self._next] = (cgroup, before, on_exceeded)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="cooperbench-pids-watch", daemon=True)
                self._thread.start()
            return self._next

    def remove(self, token: int) -> None:
        with self._lock:
            self._watched.pop(token, None)

    def _loop(self) -> None:
        while True:
            time.sleep(_WATCH_INTERVAL)
            with self._lock:
                if not self._watched:
                    self._thread = None
                    return
                items = list(self._watched.items())
            for token, (cgroup, before, on_exceeded) in items:
                if cgroup.exceeded(before) == "pids":
                    self.remove(token)
                    try:
                        on_exceeded()
                    except Exception:  # the watcher must survive any one sandbox
                        log.warning("local backend: ending a command over its process limit failed", exc_info=True)


PIDS_WATCH = PidsWatch()
