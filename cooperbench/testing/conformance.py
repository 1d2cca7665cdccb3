"""The conformance suite every sandbox backend passes, shipped as a library.

A backend distribution runs it against itself in a few lines::

    import pytest
    from cooperbench.testing.conformance import BackendConformance

    class TestDockerBackend(BackendConformance):
        @pytest.fixture(scope="class")
        @classmethod
        def backend(cls):
            return DockerBackend()

        # Optional: the default task is the first of the repository's examples/dataset
        # (or the task folder in $COOPERBENCH_CONFORMANCE_TASK).
        @pytest.fixture(scope="class")
        @classmethod
        def task(cls):
            return load_task(Path("my/dataset/repo_task/task1"))

A backend that cannot pass a test overrides it, and must mark the override
``@pytest.mark.xfail(reason="...")`` (defining the class fails otherwise), so every gap is
written down next to its reason. Each test calls a ``check_*`` function of this module; the
checks take a :class:`Subject` and raise ``AssertionError``, so they also run outside the
class (the core's own tests run them against deliberately broken backends to prove the suite
catches them).

What the suite pins down, beyond :mod:`cooperbench.backends.base`: the task's own
``runner.sh``, written to ``/patches``, passes with a gold patch (so the image has what the
task's tests need); a backend lists what it holds with the optional method
``resources(run_name) -> list[str]`` (:class:`~cooperbench.backends.base.ListsResources`;
empty once everything was cleaned up), which this suite requires; each
``create_git_server`` call makes a new, empty repository; and ``create_sandbox(mounts=...)``
shows a host file, directory and unix socket at their targets (read-only ones unwritable)
in that sandbox only. What a sandbox must *not* reach is checked by the isolation suite,
``cooperbench.testing.isolation``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shlex
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from cooperbench.backends.base import (
    PATCHES_DIR,
    REPO_DIR,
    Backend,
    ExecResult,
    GitServer,
    ListsResources,
    Mount,
    RunLabels,
    Sandbox,
    SandboxPurpose,
)
from cooperbench.dataset import Task, load_task, load_tasks
from cooperbench.errors import SandboxError

__all__ = ["CHECKS", "BackendConformance", "BackendSuite", "Subject", "default_task"]

TASK_ENV = "COOPERBENCH_CONFORMANCE_TASK"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Conformance",
    "GIT_AUTHOR_EMAIL": "c@cooperbench.invalid",
    "GIT_COMMITTER_NAME": "Conformance",
    "GIT_COMMITTER_EMAIL": "c@cooperbench.invalid",
}


def default_task() -> Task:
    """The task folder in ``$COOPERBENCH_CONFORMANCE_TASK``, else the first task of ``examples/dataset``.

    Fails the requesting test when neither exists (override the ``task`` fixture then).
    """
    explicit = os.environ.get(TASK_ENV)
    if explicit:
        task = load_task(Path(explicit))
        if task is None:
            pytest.fail(f"{TASK_ENV}={explicit}: not a task folder with at least two features")
        return task
    import cooperbench

    examples = Path(cooperbench.__file__).resolve().parents[1] / "examples" / "dataset"
    tasks = load_tasks(examples) if examples.is_dir() else []
    if not tasks:
        pytest.fail(
            f"no example dataset at {examples}: override the `task` fixture of your BackendConformance "
            f"subclass, or set {TASK_ENV}=<dataset>/<repo>/task<id>"
        )
    return tasks[0]


@dataclass
class Subject:
    """The backend under test, a task, and its resolved image; hands out labelled resources."""

    backend: Backend
    task: Task
    image: str
    run_names: list[str] = field(default_factory=list)

    @property
    def base_commit(self) -> str:
        from cooperbench.backends.local import read_base_commit

        return read_base_commit(self.task)

    label_prefix: ClassVar[str] = "conformance"
    purpose: ClassVar[SandboxPurpose] = "check"

    def labels(self) -> RunLabels:
        """Labels of a new run, remembered so :meth:`close` can sweep what a failed check left."""
        labels = RunLabels(f"{self.label_prefix}-{secrets.token_hex(4)}")
        self.run_names.append(labels.run_name)
        return labels

    @contextlib.contextmanager
    def sandbox(
        self, run: RunLabels | None = None, mounts: Sequence[Mount] = (), image: str | None = None
    ) -> Iterator[Sandbox]:
        """A sandbox of ``run`` (a new run by default) from ``image`` (the subject's), with ``mounts``.

        ``mounts`` is passed to the backend only when non-empty.
        """
        extra: dict[str, Any] = {"mounts": tuple(mounts)} if mounts else {}
        box = self.backend.create_sandbox(image or self.image, run=run or self.labels(), purpose=self.purpose, **extra)
        try:
            yield box
        finally:
            box.cleanup()

    @contextlib.contextmanager
    def git_server(self, run: RunLabels) -> Iterator[GitServer]:
        server = self.backend.create_git_server(run=run)
        try:
            yield server
        finally:
            server.cleanup()

    def close(self) -> None:
        for name in self.run_names:
            with contextlib.suppress(Exception):
                self.backend.cleanup(run_name=name)


def _ok(box: Sandbox, command: str | list[str], **kwargs: Any) -> str:
    """Run a command that must succeed; return its output."""
    result = box.exec(command, **kwargs)
    assert result.returncode == 0 and not result.timed_out, f"{command!r} failed: {result!r}"
    return result.output


def _resources(backend: Backend, run_name: str) -> list[str]:
    assert isinstance(backend, ListsResources), (
        f"{type(backend).__name__} has no resources(run_name) method (cooperbench.backends.base.ListsResources); "
        "the conformance suite needs it to check that cleanup leaves nothing behind"
    )
    return list(backend.resources(run_name))


# ---------------------------------------------------------------------------------- exec


def check_exit_codes(s: Subject) -> None:
    with s.sandbox() as box:
        cases: list[tuple[str | list[str], int]] = [
            ("true", 0),
            ("false", 1),
            ("exit 3", 3),
            (["sh", "-c", "exit 7"], 7),
            ("no-such-command-cooperbench", 127),
        ]
        for command, code in cases:
            result = box.exec(command)
            assert result.returncode == code, f"{command!r} exits {code}: {result!r}"
        both = box.exec("echo to-out; echo to-err >&2")
        assert "to-out" in both.output and "to-err" in both.output, f"stdout and stderr are both kept: {both!r}"


def check_invalid_utf8_output(s: Subject) -> None:
    with s.sandbox() as box:
        try:
            result = box.exec(r"printf 'bad \377\376 bytes\n'")
        except Exception as exc:
            raise AssertionError(f"exec raised {exc!r} on output that is not UTF-8") from exc
        assert result.returncode == 0 and "bad " in result.output and "bytes" in result.output, (
            f"output kept: {result!r}"
        )
        assert "\ufffd" in result.output, f"invalid bytes are replaced by U+FFFD: {result.output!r}"


def check_large_output(s: Subject) -> None:
    size = 20_000_000
    with s.sandbox() as box:
        result = box.exec(f"head -c {size} /dev/zero | tr '\\0' a; echo; echo done >&2", timeout=300)
        assert not result.timed_out, "20 MB of output must not deadlock the exec"
        assert result.returncode == 0, f"exit status: {result.returncode}"
        assert result.output.count("a") == size and "done" in result.output, f"got {len(result.output)} characters"


def check_timeout_kills_process_tree(s: Subject) -> None:
    limit = 2.0
    command = "echo started; (sleep 3; echo leaked > /tmp/cb-leak) & sleep 100 & sleep 100; wait"
    with s.sandbox() as box:
        box.exec("rm -f /tmp/cb-leak")
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["result"] = box.exec(command, timeout=limit)
            except BaseException as exc:  # reported below
                outcome["error"] = exc

        started = time.monotonic()
        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(limit + 1.0)
        elapsed = time.monotonic() - started
        assert not worker.is_alive(), f"exec(timeout={limit}) did not return within 1 s of its limit"
        assert "error" not in outcome, f"a timeout is a result, not an exception: {outcome.get('error')!r}"
        result: ExecResult = outcome["result"]
        assert result.timed_out, f"timed_out must be set: {result!r}"
        assert "started" in result.output, f"the output printed before the timeout is kept: {result.output!r}"
        assert elapsed >= limit - 0.1, f"returned after {elapsed:.2f} s, before its {limit} s limit"
        time.sleep(max(0.0, 3.8 - (time.monotonic() - started)))
        with pytest.raises(FileNotFoundError):
            box.read_file("/tmp/cb-leak")  # the background child was killed before it wrote this
        assert _ok(box, "echo alive").strip() == "alive", "the sandbox stays usable after a timeout"


def check_env_and_cwd(s: Subject) -> None:
    with s.sandbox() as box:
        assert _ok(box, "pwd").strip() == REPO_DIR, "commands run in /workspace/repo by default"
        assert _ok(box, "pwd", cwd=PATCHES_DIR).strip() == PATCHES_DIR
        assert _ok(box, 'printf %s "$CB_VALUE"', env={"CB_VALUE": "a b'c\"d"}) == "a b'c\"d"
        assert _ok(box, 'printf %s "${CB_VALUE-unset}"') == "unset", "env does not carry over to the next exec"
        assert _ok(box, ["printf", "%s|", "two words", "$HOME"]) == "two words|$HOME|", "argv is passed verbatim"


# ---------------------------------------------------------------------------------- files


def check_files_in_and_out(s: Subject) -> None:
    size = 8 * 1024 * 1024 + 123
    blob = (bytes(range(256)) + os.urandom(4096)) * (size // 4352 + 1)
    blob = blob[:size]
    with s.sandbox() as box:
        box.write_file("/tmp/cb/in/deep/blob.bin", blob)
        remote = _ok(box, "sha256sum /tmp/cb/in/deep/blob.bin").split()[0]
        assert remote == hashlib.sha256(blob).hexdigest(), "a large binary file arrives byte for byte"
        assert box.read_file("/tmp/cb/in/deep/blob.bin") == blob, "read_file returns the bytes written"
        _ok(box, f"head -c {size} /dev/urandom > {PATCHES_DIR}/out.bin")
        out = box.read_file(f"{PATCHES_DIR}/out.bin")
        remote = _ok(box, f"sha256sum {PATCHES_DIR}/out.bin").split()[0]
        assert hashlib.sha256(out).hexdigest() == remote, "a large binary file made inside comes out byte for byte"
        box.write_file(f"{REPO_DIR}/new dir/run.sh", "#!/bin/sh\necho ran-é\n", mode=0o755)
        assert _ok(box, f"'{REPO_DIR}/new dir/run.sh'").strip() == "ran-é", "text is UTF-8 and mode is applied"
        box.write_file(f"{REPO_DIR}/new dir/run.sh", b"short")
        assert box.read_file(f"{REPO_DIR}/new dir/run.sh") == b"short", "write_file replaces the whole file"
        with pytest.raises(FileNotFoundError):
            box.read_file("/tmp/cb/no-such-file")


# ---------------------------------------------------------------------------------- layout


def check_repo_at_base_commit(s: Subject) -> None:
    with s.sandbox() as box:
        assert _ok(box, "git rev-parse HEAD").strip() == s.base_commit, "HEAD is the task's BASE_COMMIT"
        assert _ok(box, "git rev-parse --show-toplevel").strip() == REPO_DIR, f"the repository is {REPO_DIR}"
        assert _ok(box, "git status --porcelain") == "", "the repository starts clean"


def check_patches_dir_writable(s: Subject) -> None:
    with s.sandbox() as box:
        _ok(box, f"test -d {PATCHES_DIR} && touch {PATCHES_DIR}/from-exec")
        box.write_file(f"{PATCHES_DIR}/feature.patch", "diff\n")
        assert _ok(box, f"cat {PATCHES_DIR}/feature.patch") == "diff\n", "a file written to /patches is readable"


def check_runner_script_runs_gold_patch(s: Subject) -> None:
    feature = s.task.feature_ids[0]
    with s.sandbox() as box:
        box.write_file(f"{PATCHES_DIR}/runner.sh", (s.task.path / "runner.sh").read_bytes(), mode=0o755)
        for name in ("tests.patch", "feature.patch"):
            box.write_file(f"{PATCHES_DIR}/{name}", s.task.feature_file(feature, name).read_bytes())
        result = box.exec(f"bash {PATCHES_DIR}/runner.sh tests.patch feature.patch", timeout=900)
        assert result.returncode == 0, (
            f"the task's own runner.sh passes with the gold patch, as the evaluator runs it: {result.output[-3000:]}"
        )
        assert _ok(box, "git status --porcelain") == "", "runner.sh restores the repository"


def check_sandboxes_isolated(s: Subject) -> None:
    run = s.labels()
    with s.sandbox(run) as one, s.sandbox(run) as two:
        _ok(
            one,
            f'echo changed >> "$(git ls-files | head -n 1)" && touch {REPO_DIR}/only-one {PATCHES_DIR}/only-one'
            " /tmp/only-one && git add -A && git commit -qm one",
            env=GIT_IDENTITY,
        )
        assert _ok(two, "git status --porcelain") == "", "a change in one sandbox does not show in another"
        assert _ok(two, "git rev-parse HEAD").strip() == s.base_commit, (
            "a commit in one sandbox does not show in another"
        )
        leaked = _ok(two, f"ls {REPO_DIR}/only-one {PATCHES_DIR}/only-one /tmp/only-one 2>/dev/null || true")
        assert leaked == "", f"files made in one sandbox do not show in another: {leaked!r}"


# ---------------------------------------------------------------------------------- cleanup


def check_cleanup_idempotent_and_complete(s: Subject) -> None:
    run = s.labels()
    box = s.backend.create_sandbox(s.image, run=run, purpose="check")
    server = s.backend.create_git_server(run=run)
    _ok(box, "nohup sleep 60 >/dev/null 2>&1 &")
    assert _resources(s.backend, run.run_name), "resources() lists a live sandbox and git server"
    for _ in range(2):
        box.cleanup()
        server.cleanup()
    assert _resources(s.backend, run.run_name) == [], "nothing of the run is left"
    assert s.backend.cleanup(run_name=run.run_name) == [], "a later sweep finds nothing to remove"
    with pytest.raises(SandboxError):
        box.exec("true")


def check_backend_cleanup_sweeps_one_run(s: Subject) -> None:
    doomed, kept = s.labels(), s.labels()
    with s.sandbox(doomed) as gone, s.sandbox(kept) as alive:
        assert s.backend.cleanup(run_name=kept.run_name, stale_only=True) == [], "a live run is not stale"
        removed = s.backend.cleanup(run_name=doomed.run_name)
        assert removed, "cleanup(run_name=...) reports what it removed"
        assert _resources(s.backend, doomed.run_name) == [], "cleanup(run_name=...) leaves nothing of that run"
        with pytest.raises(SandboxError):
            gone.exec("true")
        assert _ok(alive, "echo still-here").strip() == "still-here", "other runs are untouched"
    assert s.backend.cleanup(run_name=kept.run_name) == [], "a cleaned-up sandbox leaves nothing to sweep"


# ---------------------------------------------------------------------------------- git server


def check_git_server_shares_within_run(s: Subject) -> None:
    run = s.labels()
    with s.git_server(run) as server, s.sandbox(run, server.mounts) as one, s.sandbox(run, server.mounts) as two:
        url = shlex.quote(server.url)
        _ok(
            one,
            f"git checkout -qb agent1 && echo shared > shared.txt && git add shared.txt && git commit -qm via-team"
            f" && git remote add team {url} && git push -q team agent1",
            env=GIT_IDENTITY,
        )
        _ok(two, f"git remote add team {url} && git fetch -q team")
        assert _ok(two, "git log -1 --format=%s team/agent1").strip() == "via-team", "the push is served to a fetch"
        assert _ok(two, "git show team/agent1:shared.txt").strip() == "shared", "the pushed content is served"


def check_git_servers_isolated(s: Subject) -> None:
    run, other = s.labels(), s.labels()
    with (
        s.git_server(run) as first,
        s.git_server(run) as second,
        s.git_server(other) as foreign,
        s.sandbox(run, (*first.mounts, *second.mounts)) as box,
        s.sandbox(other, foreign.mounts) as stranger,
    ):
        _ok(
            box,
            f"git checkout -qb agent1 && git commit -q --allow-empty -m x && git push -q {shlex.quote(first.url)}"
            " agent1",
            env=GIT_IDENTITY,
        )
        assert "agent1" not in _ok(box, f"git ls-remote {shlex.quote(second.url)}"), "a new server starts empty"
        assert "agent1" not in _ok(stranger, f"git ls-remote {shlex.quote(foreign.url)}"), (
            "another run's server is empty"
        )
        peek = stranger.exec(f"git ls-remote {shlex.quote(first.url)}", timeout=60)
        assert "agent1" not in peek.output, "another run's sandbox cannot read this run's repository"


def check_git_server_has_mounts(s: Subject) -> None:
    run = s.labels()
    with s.git_server(run) as server:
        mounts = getattr(server, "mounts", None)
        assert isinstance(mounts, tuple) and all(isinstance(m, Mount) for m in mounts), (
            f"GitServer.mounts is a tuple of cooperbench.backends.base.Mount (empty for a network server): {mounts!r}"
        )


# ---------------------------------------------------------------------------------- mounts


@contextlib.contextmanager
def _unix_server(path: str, reply: bytes) -> Iterator[None]:
    """A unix socket at ``path`` answering every connection with ``reply``."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o666)
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        server.close()
        thread.join(5)


_CONNECT = (
    "import socket,sys; s=socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1]); "
    "print(s.recv(100).decode())"
)


def _mount_fixture(root: Path) -> tuple[Path, Path, Path, str]:
    shared = root / "shared-dir"
    (shared / "sub").mkdir(parents=True)
    (shared / "sub" / "inside.txt").write_text("dir-content\n")
    single = root / "single.txt"
    single.write_text("file-content\n")
    writable = root / "writable-dir"
    writable.mkdir()
    for path in (root, shared, shared / "sub", writable):
        path.chmod(0o777)  # a backend may run sandbox commands as another uid
    for path in (single, shared / "sub" / "inside.txt"):
        path.chmod(0o644)
    return shared, single, writable, str(root / "cb.sock")


def check_mounts(s: Subject) -> None:
    """A mounted file, directory and unix socket are visible at their targets; a writable mount writes through."""
    with tempfile.TemporaryDirectory(prefix="cb-mounts-") as scratch:
        shared, single, writable, sock = _mount_fixture(Path(scratch))
        mounts = (
            Mount(shared, "/run/cooperbench/shared"),
            Mount(single, "/run/cooperbench/single.txt"),
            Mount(writable, "/git/writable", read_only=False),
            Mount(Path(sock), "/run/cooperbench/conformance.sock"),
        )
        with _unix_server(sock, b"pong-from-host"), s.sandbox(mounts=mounts) as box:
            assert _ok(box, "cat /run/cooperbench/shared/sub/inside.txt") == "dir-content\n", "a mounted directory"
            assert _ok(box, "cat /run/cooperbench/single.txt") == "file-content\n", "a mounted file"
            _ok(box, "echo from-sandbox > /git/writable/made.txt")
            assert (writable / "made.txt").read_text() == "from-sandbox\n", "a writable mount writes to the host"
            # A relative name: a backend may show the socket under a long host path (108-byte limit).
            reply = _ok(box, ["python3", "-c", _CONNECT, "conformance.sock"], cwd="/run/cooperbench", timeout=60)
            assert "pong-from-host" in reply, f"a mounted unix socket connects to the host's server: {reply!r}"
        with s.sandbox() as plain:
            seen = plain.exec("ls /run/cooperbench/shared /git/writable 2>&1; cat /run/cooperbench/single.txt 2>&1")
            assert (
                "inside" not in seen.output and "file-content" not in seen.output and "made.txt" not in seen.output
            ), f"a sandbox created without the mounts does not see them: {seen.output!r}"


def check_read_only_mounts(s: Subject) -> None:
    """Writes through a read-only mount fail and never reach the host."""
    with tempfile.TemporaryDirectory(prefix="cb-mounts-") as scratch:
        shared, single, _writable, _sock = _mount_fixture(Path(scratch))
        mounts = (Mount(shared, "/run/cooperbench/shared"), Mount(single, "/run/cooperbench/single.txt"))
        with s.sandbox(mounts=mounts) as box:
            attempts = [
                "echo changed > /run/cooperbench/single.txt",
                "echo new > /run/cooperbench/shared/new.txt",
                "echo changed > /run/cooperbench/shared/sub/inside.txt",
                "rm -f /run/cooperbench/shared/sub/inside.txt",
            ]
            for command in attempts:
                result = box.exec(command)
                assert result.returncode != 0, f"a write through a read-only mount fails: {command!r} -> {result!r}"
        assert single.read_text() == "file-content\n", "the host file is unchanged"
        assert (shared / "sub" / "inside.txt").read_text() == "dir-content\n", "the host directory is unchanged"
        assert not (shared / "new.txt").exists(), "nothing was added to the host directory"


def check_missing_mount_source_is_sandbox_error(s: Subject) -> None:
    with tempfile.TemporaryDirectory(prefix="cb-mounts-") as scratch:
        missing = Path(scratch) / "not-there"
        with pytest.raises(SandboxError, match="not-there"):
            s.backend.create_sandbox(
                s.image, run=s.labels(), purpose="check", mounts=(Mount(missing, "/run/cooperbench/x"),)
            )


# ---------------------------------------------------------------------------------- concurrency


def check_concurrent_sandboxes(s: Subject, count: int = 8) -> None:
    run = s.labels()

    def work(index: int) -> list[str]:
        with s.sandbox(run) as box:
            seen = []
            for step in range(3):
                _ok(box, f"echo {index}-{step} > {REPO_DIR}/mine.txt && sleep 0.1")
                seen.append(_ok(box, f"cat {REPO_DIR}/mine.txt").strip())
            box.write_file(f"{PATCHES_DIR}/{index}.patch", str(index))
            seen.append(_ok(box, f"ls {PATCHES_DIR}").strip())
            return seen

    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(work, range(count)))
    for index, seen in enumerate(results):
        assert seen == [f"{index}-0", f"{index}-1", f"{index}-2", f"{index}.patch"], f"sandbox {index} saw {seen}"


def check_unknown_image_is_sandbox_error(s: Subject) -> None:
    with pytest.raises(SandboxError):
        s.backend.create_sandbox("cooperbench-no-such-image:missing", run=s.labels())


CHECKS = {name.removeprefix("check_"): obj for name, obj in list(globals().items()) if name.startswith("check_")}


class BackendSuite:
    """What the backend suites share: the ``backend`` and ``task`` fixtures, and reasoned overrides only.

    A suite (a direct subclass) sets ``suite_kind``; a backend's subclass of a suite that
    overrides one of its ``test_*`` methods must mark the override ``@pytest.mark.xfail(reason=...)``.
    """

    suite_kind = "a suite test"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "suite_kind" in vars(cls):
            return  # a suite itself
        suite: Any = next(k for k in cls.__mro__[1:] if "suite_kind" in vars(k))
        for name, value in vars(cls).items():
            if not (name.startswith("test_") and hasattr(suite, name)):
                continue
            marks = getattr(value, "pytestmark", [])
            if not any(m.name == "xfail" and m.kwargs.get("reason") for m in marks):
                raise TypeError(
                    f"{cls.__qualname__}.{name} overrides {suite.suite_kind}; mark the override "
                    "@pytest.mark.xfail(reason='why this backend cannot pass it')"
                )

    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls) -> Backend:
        pytest.fail("override the `backend` fixture: return an instance of the backend under test")

    @pytest.fixture(scope="class")
    @classmethod
    def task(cls) -> Task:
        return default_task()


class BackendConformance(BackendSuite):
    """Base class of a backend's conformance tests: subclass it and provide the ``backend`` fixture.

    Fixtures are class-scoped classmethods (``@pytest.fixture(scope="class")`` over
    ``@classmethod``): the backend and the resolved image are made once per class.

    Overriding a ``test_*`` method requires ``@pytest.mark.xfail(reason=...)`` on the override.
    """

    suite_kind = "a conformance test"

    @pytest.fixture(scope="class")
    @classmethod
    def subject(cls, backend: Backend, task: Task) -> Iterator[Subject]:
        subject = Subject(backend, task, backend.resolve_image(task))
        yield subject
        subject.close()

    def test_exit_codes(self, subject: Subject) -> None:
        check_exit_codes(subject)

    def test_invalid_utf8_output(self, subject: Subject) -> None:
        check_invalid_utf8_output(subject)

    def test_large_output(self, subject: Subject) -> None:
        check_large_output(subject)

    def test_timeout_kills_process_tree(self, subject: Subject) -> None:
        check_timeout_kills_process_tree(subject)

    def test_env_and_cwd(self, subject: Subject) -> None:
        check_env_and_cwd(subject)

    def test_files_in_and_out(self, subject: Subject) -> None:
        check_files_in_and_out(subject)

    def test_repo_at_base_commit(self, subject: Subject) -> None:
        check_repo_at_base_commit(subject)

    def test_patches_dir_writable(self, subject: Subject) -> None:
        check_patches_dir_writable(subject)

    def test_runner_script_runs_gold_patch(self, subject: Subject) -> None:
        check_runner_script_runs_gold_patch(subject)

    def test_sandboxes_isolated(self, subject: Subject) -> None:
        check_sandboxes_isolated(subject)

    def test_cleanup_idempotent_and_complete(self, subject: Subject) -> None:
        check_cleanup_idempotent_and_complete(subject)

    def test_backend_cleanup_sweeps_one_run(self, subject: Subject) -> None:
        check_backend_cleanup_sweeps_one_run(subject)

    def test_git_server_shares_within_run(self, subject: Subject) -> None:
        check_git_server_shares_within_run(subject)

    def test_git_servers_isolated(self, subject: Subject) -> None:
        check_git_servers_isolated(subject)

    def test_git_server_has_mounts(self, subject: Subject) -> None:
        check_git_server_has_mounts(subject)

    def test_mounts(self, subject: Subject) -> None:
        check_mounts(subject)

    def test_read_only_mounts(self, subject: Subject) -> None:
        check_read_only_mounts(subject)

    def test_missing_mount_source_is_sandbox_error(self, subject: Subject) -> None:
        check_missing_mount_source_is_sandbox_error(subject)

    def test_concurrent_sandboxes(self, subject: Subject) -> None:
        check_concurrent_sandboxes(subject)

    def test_unknown_image_is_sandbox_error(self, subject: Subject) -> None:
        check_unknown_image_is_sandbox_error(subject)
