"""An in-process backend without isolation, for testing the conformance suite and the core.

Sandboxes are plain directories under a temporary root and commands plain subprocesses.
The sandbox paths (``/workspace``, ``/patches``, ``/tmp``, ``/git``, and the top directory of
each mount's target) are rewritten to the sandbox's directories in commands, arguments,
environment values and file paths, and back in output, so commands written for a real
sandbox run unchanged. A mount is a symbolic link at its target, so read-only mounts are
writable here. Scripts that spell those
paths in their own text are rewritten too when they are written in as ``*.sh`` files (the
evaluator's ``/patches/runner.sh``) or copied from the task (``runner.sh`` on ``PATH``).
Nothing stops a command from touching the host: use it only with trusted
commands. Its small methods (``_kill``, ``_decode``, ``_copy_workspace``, ``_git_root``,
``_git_view``, ``_remove``) are the seams tests override to build deliberately broken backends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from cooperbench.backends.base import REPO_DIR, ExecResult, Mount, RunLabels, SandboxPurpose
from cooperbench.dataset import Task
from cooperbench.errors import SandboxError

__all__ = ["FakeBackend", "FakeGitServer", "FakeSandbox"]

_ROOTS = ("/workspace", "/patches", "/tmp", "/git")


def _virtual(roots: Sequence[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(r) for r in sorted(set(roots), key=len, reverse=True))
    return re.compile(rf"(?:(?<=file://)|(?<![\w.~$/-]))({alternatives})(?![\w.-])")


_VIRTUAL = _virtual(_ROOTS)
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Fake Agent",
    "GIT_AUTHOR_EMAIL": "agent@cooperbench.invalid",
    "GIT_COMMITTER_NAME": "Fake Agent",
    "GIT_COMMITTER_EMAIL": "agent@cooperbench.invalid",
}


def _git(*args: str | Path, cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SandboxError(f"fake backend: git {' '.join(map(str, args))} failed: {proc.stderr.strip()}")
    return proc.stdout


class FakeSandbox:
    """A directory standing in for a sandbox; see the module docstring."""

    def __init__(self, backend: FakeBackend, sandbox_id: str, root: Path, mounts: Sequence[Mount] = ()) -> None:
        self.id = sandbox_id
        self.root = root
        self.backend = backend
        tops = {"/" + Path(m.target).parts[1] for m in mounts}
        self._virtual = _virtual((*_ROOTS, *tops)) if tops - set(_ROOTS) else _VIRTUAL
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def to_host(self, text: str) -> str:
        return self._virtual.sub(lambda m: f"{self.root}{m.group(1)}", text)

    def from_host(self, text: str) -> str:
        return text.replace(str(self.root), "")

    def exec(
        self,
        command: str | list[str],
        *,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> ExecResult:
        self._alive()
        argv = ["bash", "-c", self.to_host(command)] if isinstance(command, str) else [self.to_host(a) for a in command]
        full_env = {
            **os.environ,
            **_GIT_ENV,
            "HOME": str(self.root / "workspace" / "home"),
            "TMPDIR": str(self.root / "tmp"),
            "PATH": f"{self.root / 'workspace' / 'bin'}:{os.environ['PATH']}",
        }
        full_env.update({k: self.to_host(v) for k, v in (env or {}).items()})
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.to_host(cwd or REPO_DIR),
            env=full_env,
            start_new_session=True,
        )
        with self._lock:
            self._procs.add(proc)
        timed_out = False
        try:
            out, _ = proc.communicate(timeout=timeout if timeout is not None else self.backend.default_timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._kill(proc)
            out, _ = proc.communicate()
        finally:
            with self._lock:
                self._procs.discard(proc)
        self._alive()
        output = self.from_host(self._decode(out))
        return ExecResult(
            output, proc.returncode, timed_out and self.backend.report_timeouts, time.monotonic() - started
        )

    def write_file(self, path: str, data: bytes | str, *, mode: int = 0o644) -> None:
        self._alive()
        target = Path(self.to_host(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if target.suffix == ".sh":
            raw = self.to_host(raw.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        target.write_bytes(raw)
        target.chmod(mode)

    def read_file(self, path: str) -> bytes:
        self._alive()
        return Path(self.to_host(path)).read_bytes()

    def cleanup(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            procs = list(self._procs)
        for proc in procs:
            _killpg(proc)
        self._remove()

    # Seams for deliberately broken fakes.
    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        _killpg(proc)

    def _decode(self, raw: bytes) -> str:
        return raw.decode("utf-8", errors="replace")

    def _remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _alive(self) -> None:
        if self._closed or not self.root.is_dir():
            raise SandboxError(f"fake sandbox {self.id} is gone")


def _killpg(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class FakeGitServer:
    """A bare repository in the run's directory, at ``file:///git/<id>.git`` in sandboxes given its mounts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"file:///git/{path.name}"
        self.mounts = (Mount(path, f"/git/{path.name}", read_only=False),)

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class FakeBackend:
    """The fake backend; ``root`` defaults to a new temporary directory.

    Args:
        root: where templates and runs live.
        default_timeout: seconds when ``exec`` gets no timeout.
    """

    name = "fake"
    sandbox_class: type[FakeSandbox] = FakeSandbox
    report_timeouts = True

    def __init__(self, root: str | os.PathLike[str] | None = None, default_timeout: float = 600.0) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="cooperbench-fake-"))
        self.default_timeout = default_timeout
        self._images: dict[str, str] = {}

    def resolve_image(self, task: Task) -> str:
        from cooperbench.backends.local import read_base_commit

        template = self.root / "templates" / task.content_hash
        if not template.is_dir():
            bundle = task.path / "repo.bundle"
            if not bundle.is_file():
                raise SandboxError(f"fake backend: {bundle} is missing; the fake only builds tasks that ship a bundle")
            scratch = template.with_name(f".{template.name}-{secrets.token_hex(4)}")
            _git("clone", "-q", bundle, scratch / "workspace" / "repo")
            _git(
                "-c",
                "advice.detachedHead=false",
                "checkout",
                "-q",
                read_base_commit(task),
                cwd=scratch / "workspace" / "repo",
            )
            _git("remote", "remove", "origin", cwd=scratch / "workspace" / "repo")
            (scratch / "workspace" / "bin").mkdir()
            (scratch / "workspace" / "home").mkdir()
            if (task.path / "runner.sh").is_file():
                shutil.copy(task.path / "runner.sh", scratch / "workspace" / "bin" / "runner.sh")
            try:
                scratch.rename(template)
            except OSError:  # built meanwhile by another thread
                shutil.rmtree(scratch, ignore_errors=True)
        ref = f"fake:{task.content_hash}"
        self._images[task.image_name()] = ref
        return ref

    def create_sandbox(
        self, image: str, *, run: RunLabels, purpose: SandboxPurpose = "agent", mounts: Sequence[Mount] = ()
    ) -> FakeSandbox:
        ref = self._images.get(image, image)
        template = self.root / "templates" / ref.removeprefix("fake:")
        if not ref.startswith("fake:") or not template.is_dir():
            raise SandboxError(f"fake backend: unknown image {image!r}; call resolve_image(task) first")
        for mount in mounts:
            if not os.path.exists(mount.source):
                raise SandboxError(f"fake backend: cannot mount {mount.source} at {mount.target}: no such file")
        sandbox_id = f"{purpose}-{secrets.token_hex(4)}"
        root = self._run_dir(run) / "sandboxes" / sandbox_id
        root.mkdir(parents=True)
        self._copy_workspace(template / "workspace", root / "workspace")
        (root / "patches").mkdir()
        (root / "tmp").mkdir()
        view = self._git_view(run)
        if view is not None:
            (root / "git").symlink_to(view)
        for mount in mounts:
            link = root / mount.target.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            if not os.path.lexists(link):  # a broken fake's run-wide /git view may show it already
                link.symlink_to(mount.source)
        box = self.sandbox_class(self, sandbox_id, root, mounts)
        runner = root / "workspace" / "bin" / "runner.sh"
        if runner.is_file():
            runner.write_text(box.to_host(runner.read_text(encoding="utf-8")), encoding="utf-8")
            runner.chmod(0o755)
        return box

    def create_git_server(self, *, run: RunLabels) -> FakeGitServer:
        path = self._git_root(run) / f"team-{secrets.token_hex(4)}.git"
        _git("init", "-q", "--bare", path)
        return FakeGitServer(path)

    def cleanup(self, *, run_name: str | None = None, stale_only: bool = False) -> list[str]:
        removed = []
        for run_dir, owner in self._runs(run_name):
            if stale_only and _pid_alive(owner.get("pid")):
                continue
            removed += self._describe(run_dir)
            shutil.rmtree(run_dir, ignore_errors=True)
        return removed

    def resources(self, run_name: str | None = None) -> list[str]:
        return [item for run_dir, _ in self._runs(run_name) for item in self._describe(run_dir)]

    def _describe(self, run_dir: Path) -> list[str]:
        """Sandboxes and git repositories still on disk (an empty run directory is not a resource)."""
        items = [f"sandbox {p}" for p in sorted((run_dir / "sandboxes").glob("*"))]
        return items + [f"git repository {p}" for p in sorted((run_dir / "git").glob("*.git"))]

    def _runs(self, run_name: str | None) -> list[tuple[Path, dict[str, object]]]:
        runs = []
        for run_dir in sorted((self.root / "runs").glob("*")):
            try:
                owner = json.loads((run_dir / "owner.json").read_text())
            except (OSError, ValueError):
                owner = {}
            if run_name is None or owner.get("run_name") == run_name:
                runs.append((run_dir, owner))
        return runs

    def _run_dir(self, run: RunLabels) -> Path:
        run_dir = self.root / "runs" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', run.run_name)}--{run.run_id}"
        if not (run_dir / "owner.json").is_file():
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "owner.json").write_text(json.dumps({"run_name": run.run_name, "pid": os.getpid()}))
        return run_dir

    # Seams for deliberately broken fakes.
    def _copy_workspace(self, src: Path, dst: Path) -> None:
        shutil.copytree(src, dst, symlinks=True)

    def _git_root(self, run: RunLabels) -> Path:
        path = self._run_dir(run) / "git"
        path.mkdir(exist_ok=True)
        return path

    def _git_view(self, run: RunLabels) -> Path | None:
        """A directory every sandbox of ``run`` sees at ``/git`` (none: only its mounts show there)."""
        return None


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
