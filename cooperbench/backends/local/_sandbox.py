"""One local sandbox: an overlay (or copy) of the task's workspace template, entered with bubblewrap per command."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from cooperbench.backends.base import REPO_DIR, ExecResult
from cooperbench.backends.local import _bwrap, _hostview
from cooperbench.backends.local._limits import PIDS_WATCH, Limits, SandboxCgroup
from cooperbench.backends.local._network import SandboxNetwork
from cooperbench.backends.local._runs import remove_tree
from cooperbench.errors import SandboxError

__all__ = ["LocalSandbox"]

log = logging.getLogger(__name__)

VENV_BIN = "/workspace/.venv/bin"
TASK_BIN = "/workspace/bin"
HOME = "/workspace/home"
FILE_TIMEOUT = 600.0

# File transfer runs inside the sandbox, so a symlink planted by a command resolves in the
# sandbox's view and can never redirect a write onto the host. Data goes through stdin/stdout.
_WRITE = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" -- "$1"'
_READ = '[ -e "$1" ] || exit 44; [ -d "$1" ] && exit 45; exec cat -- "$1"'


class LocalSandbox:
    """A sandbox of the ``local`` backend (see :class:`~cooperbench.backends.local.LocalBackend`).

    Its directories live under ``root`` on the host (``workspace``, ``patches``, ``tmp``) and
    are mounted at ``/workspace``, ``/patches`` and ``/tmp`` (``workspace`` is an overlay whose
    changes land in ``upper``, see :mod:`._workspace`); ``mounts`` (its pair's git
    repository, ...) are bound after them. ``network`` is its own network namespace (``None``:
    none at all, or the host's when ``share_host_net``); ``cgroup`` holds its resource limits.
    """

    def __init__(
        self,
        *,
        sandbox_id: str,
        root: Path,
        mounts: tuple[_bwrap.Bind, ...],
        bwrap: str,
        python: bool,
        env: dict[str, str] | None = None,
        path_prefix: tuple[str, ...] | None = None,
        ro_paths: tuple[Path | str, ...] = (),
        view: tuple[str, ...] | None = None,
        default_timeout: float | None,
        network: SandboxNetwork | None,
        share_host_net: bool,
        cgroup: SandboxCgroup,
        release: Callable[[], None],
    ) -> None:
        self.id = sandbox_id
        self.root = root
        self._bwrap = bwrap
        # The template's interpreter and toolchains are part of the host view, read-only at their host path.
        # (``view``: those bwrap arguments, when the caller computed them already.)
        self._view = view if view is not None else tuple(_hostview.host_view_args([str(p) for p in ro_paths]))
        self._network = network
        self._share_host_net = share_host_net
        self._cgroup = cgroup
        self._default_timeout = default_timeout
        self._release = release
        self._binds = (
            _bwrap.Bind(root / "workspace", "/workspace"),
            _bwrap.Bind(root / "patches", "/patches"),
            _bwrap.Bind(root / "tmp", "/tmp"),
            *mounts,
        )
        self._enter = network.entered if network is not None else None
        self._place = cgroup.place if cgroup.dirs else None
        if path_prefix is None:  # a template without environment metadata
            path_prefix = (VENV_BIN, TASK_BIN) if python else (TASK_BIN,)
        self._env = _bwrap.sandbox_env(home=HOME, path_prefix=list(path_prefix))
        if env is None and python:
            env = {"VIRTUAL_ENV": "/workspace/.venv"}
        self._env.update(env or {})
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._over_limit: set[subprocess.Popen[bytes]] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"LocalSandbox(id={self.id!r}, root={str(self.root)!r})"

    def exec(
        self,
        command: str | list[str],
        *,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> ExecResult:
        """Run a command; see :meth:`cooperbench.backends.base.Sandbox.exec`."""
        argv = ["bash", "-c", command] if isinstance(command, str) else [str(a) for a in command]
        if not argv:
            raise SandboxError(f"sandbox {self.id}: empty command")
        before = self._cgroup.counters()
        done = self._run(
            argv,
            timeout=timeout if timeout is not None else self._default_timeout,
            env=env,
            cwd=cwd or REPO_DIR,
            before=before,
        )
        output = done.stdout.decode("utf-8", errors="replace")
        limit = done.limit or self._cgroup.exceeded(before)
        if limit is not None:
            output += _limit_notice(limit, self._cgroup.limits, ended=done.limit is not None)
        return ExecResult(output, done.returncode, done.timed_out, done.duration, resource_limit=limit)

    def write_file(self, path: str, data: bytes | str, *, mode: int = 0o644) -> None:
        """Create or replace a file; see :meth:`cooperbench.backends.base.Sandbox.write_file`."""
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        done = self._run(
            ["bash", "-c", _WRITE, "write_file", self._absolute(path), format(mode, "o")],
            timeout=FILE_TIMEOUT,
            stdin=payload,
            merge_stderr=False,
            cwd="/",
        )
        if done.returncode != 0 or done.timed_out:
            raise SandboxError(
                f"sandbox {self.id}: cannot write {path}: {done.stderr.decode('utf-8', 'replace').strip()}"
                " (writable places are /workspace, /patches, /tmp and writable mounts)"
            )

    def read_file(self, path: str) -> bytes:
        """Return a file's bytes; see :meth:`cooperbench.backends.base.Sandbox.read_file`."""
        done = self._run(
            ["bash", "-c", _READ, "read_file", self._absolute(path)], timeout=FILE_TIMEOUT, merge_stderr=False, cwd="/"
        )
        if done.returncode == 44:
            raise FileNotFoundError(f"sandbox {self.id}: no such file: {path}")
        if done.returncode == 45:
            raise IsADirectoryError(f"sandbox {self.id}: {path} is a directory")
        if done.returncode != 0 or done.timed_out:
            raise SandboxError(
                f"sandbox {self.id}: cannot read {path}: {done.stderr.decode('utf-8', 'replace').strip()}"
            )
        return done.stdout

    def cleanup(self) -> None:
        """Kill the sandbox's running commands and delete its directories. Idempotent; never raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            procs = list(self._procs)
        try:
            for proc in procs:
                _bwrap.kill(proc)
            if self._network is not None:
                self._network.close()
            self._cgroup.remove()
            remove_tree(self.root)
        except Exception:  # cleanup must never raise; a leftover is swept by `cooperbench cleanup`
            log.warning("local sandbox %s: cleanup of %s failed", self.id, self.root, exc_info=True)
        finally:
            self._release()

    def _absolute(self, path: str) -> str:
        if not isinstance(path, str) or not path.startswith("/"):
            raise SandboxError(f"sandbox {self.id}: file paths must be absolute (e.g. /workspace/repo/x), got {path!r}")
        return path

    def _run(
        self,
        argv: list[str],
        *,
        timeout: float | None,
        cwd: str,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
        merge_stderr: bool = True,
        before: dict[str, int] | None = None,
    ) -> _bwrap.Completed:
        if self._closed or not self.root.is_dir():
            raise SandboxError(f"sandbox {self.id} is gone ({self.root} was cleaned up); create a new sandbox")
        full = _bwrap.isolated_argv(
            self._bwrap,
            self._binds,
            argv,
            cwd=cwd,
            view=self._view,
            unshare_net=self._network is None and not self._share_host_net,
        )
        started: list[subprocess.Popen[bytes]] = []
        watches: dict[subprocess.Popen[bytes], int] = {}
        watch_pids = "pids" in self._cgroup.dirs

        def start(proc: subprocess.Popen[bytes]) -> None:
            started.append(proc)
            self._track(proc)
            if watch_pids:
                watches[proc] = PIDS_WATCH.add(self._cgroup, lambda: self._end_over_limit(proc), before)

        def end(proc: subprocess.Popen[bytes]) -> None:
            if proc in watches:
                PIDS_WATCH.remove(watches.pop(proc))
            self._untrack(proc)

        done = _bwrap.run(
            full,
            env={**self._env, **(env or {})},
            timeout=timeout,
            stdin=stdin,
            merge_stderr=merge_stderr,
            on_start=start,
            on_end=end,
            place=self._place,
            enter=self._enter,
        )
        if self._closed or not self.root.is_dir():
            raise SandboxError(f"sandbox {self.id} was cleaned up while a command ran in it")
        with self._lock:
            ended = [p for p in started if p in self._over_limit]
            self._over_limit.difference_update(started)
        return dataclasses.replace(done, limit="pids") if ended else done

    def _end_over_limit(self, proc: subprocess.Popen[bytes]) -> None:
        """The sandbox hit its process limit while ``proc`` ran: end it (a fork bomb never ends by itself)."""
        with self._lock:
            self._over_limit.add(proc)
        _bwrap.kill(proc)

    def _track(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.add(proc)
            closed = self._closed
        if closed:
            _bwrap.kill(proc)

    def _untrack(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.discard(proc)


def _limit_notice(limit: str, limits: Limits, *, ended: bool) -> str:
    """The line appended to a command's output when the sandbox's limits stopped it."""
    if limit == "pids":
        what = f"the sandbox reached its process limit ({limits.pids} processes and threads)"
    else:
        size = f"{limits.memory / (1 << 20):.0f} MiB" if limits.memory else "its limit"
        what = f"the sandbox ran out of memory ({size}); the kernel killed a process"
    action = "; the command was ended" if ended else ""
    return f"\n[cooperbench] {what}{action} (backend options `pids`, `memory`, `cpus` set the limits)\n"
