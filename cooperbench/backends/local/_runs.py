"""The ledger of run resources on disk, and the sweep that removes what crashed runs left.

Every resource of a run lives in one directory named after the run and its id, holding
``owner.json`` (run name, run id, the owning process's pid and start time, host)::

    <cache>/runs/<run name>--<run id>/owner.json
    <cache>/runs/<run name>--<run id>/sandboxes/<sandbox id>/{workspace,upper,work,patches,tmp}
    <cache>/runs/<run name>--<run id>/git/<server id>.git

A run directory appears complete (it is written under a temporary name, then renamed) and
disappears when the last sandbox or git server of the run in its owning process is cleaned
up. A run whose owner is gone is stale; :func:`sweep` removes it, kills its bwrap processes and
detaches its sandboxes' overlay workspaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from cooperbench.backends.base import RunLabels
from cooperbench.backends.local._paths import safe_name
from cooperbench.errors import SandboxError

__all__ = ["RunDirs", "RunRecord", "describe", "list_runs", "remove_tree", "sweep"]

OWNER_FILE = "owner.json"


@dataclass(frozen=True)
class RunRecord:
    """A run directory and what its ``owner.json`` says."""

    path: Path
    run_name: str
    run_id: str
    pid: int | None
    pid_start: int | None
    host: str | None

    def is_stale(self) -> bool:
        """The owning process is gone (or the directory has no readable owner)."""
        if self.pid is None:
            return True
        if self.host is not None and self.host != socket.gethostname():
            return False  # a shared cache: another host's process cannot be checked from here
        return not _alive(self.pid, self.pid_start)


def _proc_start(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, to tell a live owner from a reused pid."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(raw.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def _alive(pid: int, start: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start is None or _proc_start(pid) in (None, start)


def run_dir_path(runs_root: Path, labels: RunLabels) -> Path:
    return runs_root / f"{safe_name(labels.run_name)}--{safe_name(labels.run_id, 32)}"


def _read(path: Path) -> RunRecord:
    name, _, rid = path.name.rpartition("--")
    try:
        data = json.loads((path / OWNER_FILE).read_text(encoding="utf-8"))
        return RunRecord(
            path, str(data["run_name"]), str(data["run_id"]), int(data["pid"]), data.get("pid_start"), data.get("host")
        )
    except (OSError, ValueError, KeyError, TypeError):
        return RunRecord(path, name or path.name, rid, None, None, None)


def list_runs(runs_root: Path, run_name: str | None = None) -> list[RunRecord]:
    """Every run directory under ``runs_root`` (of ``run_name`` only, when given)."""
    if not runs_root.is_dir():
        return []
    records = [_read(p) for p in sorted(runs_root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    return [r for r in records if run_name is None or r.run_name == run_name]


def run_processes(path: Path) -> list[int]:
    """Pids of the processes of the run directory ``path``.

    Its bwrap processes (their mounts come from ``path``), the holders of its sandboxes'
    network namespaces (named after their sandbox), and the slirp4netns processes of those.
    """
    from cooperbench.backends.local._network import HOLDER_MARK, slirp_processes

    prefix = f"{path}/"
    pids = []
    for pid, argv in process_argvs():
        if not any(a.startswith(prefix) for a in argv[1:]):
            continue
        if os.path.basename(argv[0]) == "bwrap" or HOLDER_MARK in argv:
            pids.append(pid)
    return pids + slirp_processes(set(pids))


def process_argvs() -> list[tuple[int, list[str]]]:
    """``(pid, argv)`` of every process this user may see."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if argv and argv[0]:
            found.append((int(entry.name), argv))
    return found


def describe(record: RunRecord) -> list[str]:
    """One line per resource of a run: its sandboxes, git repositories, processes, mounts, the directory."""
    from cooperbench.backends.local._workspace import mounts_under

    label = f"run {record.run_name!r} ({record.run_id})"
    items = [f"{label}: sandbox {p.name} at {p}" for p in _children(record.path / "sandboxes")]
    items += [f"{label}: git repository {p.name} at {p}" for p in _children(record.path / "git")]
    items += [f"{label}: sandbox process {pid}" for pid in run_processes(record.path)]
    items += [f"{label}: workspace mount {point}" for point in mounts_under(record.path)]
    items.append(f"{label}: run directory {record.path}")
    return items


def _children(path: Path) -> list[Path]:
    return sorted(path.iterdir()) if path.is_dir() else []


def sweep(runs_root: Path, *, run_name: str | None = None, stale_only: bool = False) -> list[str]:
    """Kill the bwrap processes of matching runs and delete their directories.

    Returns:
        A description of each resource removed.
    """
    removed = []
    for record in list_runs(runs_root, run_name):
        if stale_only and not record.is_stale():
            continue
        items = describe(record)
        for pid in run_processes(record.path):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        from cooperbench.backends.local._limits import sweep_cgroups

        items += sweep_cgroups(runs_root, record.path.name)
        remove_tree(record.path)
        removed += items
    return removed


def remove_tree(path: Path) -> None:
    """Delete ``path`` recursively, even when a command made parts of it read-only. Never raises.

    Mounts below ``path`` (a sandbox's overlay workspace) are detached first, so nothing is
    ever deleted through one.
    """
    from cooperbench.backends.local._workspace import unmount_under

    unmount_under(path)
    for _ in range(5):  # another thread may be deleting parts of the same tree (a sandbox's own cleanup)
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            if not os.path.lexists(path):
                return
        except OSError:
            break
    for root, dirs, _files in os.walk(path):
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), stat.S_IRWXU)
    with contextlib.suppress(OSError):
        os.chmod(path, stat.S_IRWXU)
    shutil.rmtree(path, ignore_errors=True)


class RunDirs:
    """In-process reference counts of run directories: the last release deletes the directory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refs: dict[Path, int] = {}

    def acquire(self, runs_root: Path, labels: RunLabels) -> Path:
        """Create (if needed) and hold the directory of ``labels``'s run.

        Raises:
            SandboxError: the directory cannot be created.
        """
        path = run_dir_path(runs_root, labels)
        with self._lock:
            if not (path / OWNER_FILE).is_file():
                _create(path, labels)
            self._refs[path] = self._refs.get(path, 0) + 1
        return path

    def release(self, path: Path) -> None:
        with self._lock:
            count = self._refs.get(path, 0) - 1
            if count > 0:
                self._refs[path] = count
                return
            self._refs.pop(path, None)
            remove_tree(path)
        from cooperbench.backends.local._limits import sweep_cgroups

        sweep_cgroups(path.parent, path.name)  # the run's (now empty) cgroup directories


def _create(path: Path, labels: RunLabels) -> None:
    owner = {
        "run_name": labels.run_name,
        "run_id": labels.run_id,
        "pid": os.getpid(),
        "pid_start": _proc_start(os.getpid()),
        "host": socket.gethostname(),
    }
    scratch = path.parent / f".new-{path.name}-{secrets.token_hex(4)}"
    try:
        (scratch / "sandboxes").mkdir(parents=True)
        (scratch / "git").mkdir()
        (scratch / OWNER_FILE).write_text(json.dumps(owner, indent=2) + "\n", encoding="utf-8")
        if path.exists():  # a sweep from another process removed our owner file; start over
            remove_tree(path)
        scratch.rename(path)
    except OSError as exc:
        remove_tree(scratch)
        raise SandboxError(
            f"{path}: cannot create the run directory: {exc}. Check that the cache directory "
            "is writable (set COOPERBENCH_CACHE_DIR to move it)"
        ) from exc
