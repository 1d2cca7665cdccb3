"""The conformance suite fails backends that break the contract, each for the right reason.

Every case runs one of the suite's check functions directly against a fake backend with
exactly one deliberate defect; the unbroken fake passes every check (see
test_fake_backend_conformance.py), so a failure here is the defect being caught.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from cooperbench.backends.base import ExecResult, Mount, RunLabels, SandboxPurpose
from cooperbench.dataset import Task
from cooperbench.testing import conformance
from cooperbench.testing.conformance import BackendConformance, Subject
from cooperbench.testing.fake_backend import FakeBackend, FakeGitServer, FakeSandbox


class KillsOnlyTheShell(FakeSandbox):
    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.kill()  # the shell dies, its background children keep the output pipe open


class NoTimeoutFlag(FakeBackend):
    report_timeouts = False


class StrictDecoding(FakeSandbox):
    def _decode(self, raw: bytes) -> str:
        return raw.decode("utf-8")


class TruncatesOutput(FakeSandbox):
    def _decode(self, raw: bytes) -> str:
        return super()._decode(raw[: 1 << 20])


class WorkspaceCwd(FakeSandbox):
    def exec(self, command: str | list[str], *, cwd: str | None = None, **kwargs: Any) -> ExecResult:
        return super().exec(command, cwd=cwd or "/workspace", **kwargs)


class FilesThroughArgv(FakeSandbox):
    def write_file(self, path: str, data: bytes | str, *, mode: int = 0o644) -> None:
        raw = data.encode() if isinstance(data, str) else data
        script = "import sys; open(sys.argv[1], 'wb').write(bytes.fromhex(sys.argv[2]))"
        subprocess.run(["python3", "-c", script, self.to_host(path), raw.hex()], check=True)


class LeavesDirectories(FakeSandbox):
    def _remove(self) -> None:
        pass


class SharedWorkspace(FakeBackend):
    def _copy_workspace(self, src: Path, dst: Path) -> None:
        dst.symlink_to(src)


class DirtyWorkspace(FakeBackend):
    def _copy_workspace(self, src: Path, dst: Path) -> None:
        super()._copy_workspace(src, dst)
        (dst / "repo" / "stray.txt").write_text("left over\n")


class SharedPatches(FakeBackend):
    def create_sandbox(self, image: str, *, run: RunLabels, purpose: SandboxPurpose = "agent") -> FakeSandbox:
        box = super().create_sandbox(image, run=run, purpose=purpose)
        shared = self.root / "shared-patches"
        shared.mkdir(exist_ok=True)
        (box.root / "patches").rmdir()
        (box.root / "patches").symlink_to(shared)
        return box


class OneGitRootForAllRuns(FakeBackend):
    def _git_root(self, run: RunLabels) -> Path:
        super()._git_root(run)
        path = self.root / "global-git"
        path.mkdir(exist_ok=True)
        return path

    def _git_view(self, run: RunLabels) -> Path | None:
        return self._git_root(run)


class IgnoresMounts(FakeBackend):
    def create_sandbox(
        self, image: str, *, run: RunLabels, purpose: SandboxPurpose = "agent", mounts: Sequence[Mount] = ()
    ) -> FakeSandbox:
        return super().create_sandbox(image, run=run, purpose=purpose)


class MountsForEveryone(FakeBackend):
    """Mounts land in a directory every later sandbox also shows."""

    seen: tuple[Mount, ...] = ()

    def create_sandbox(
        self, image: str, *, run: RunLabels, purpose: SandboxPurpose = "agent", mounts: Sequence[Mount] = ()
    ) -> FakeSandbox:
        self.seen = (*self.seen, *mounts)
        return super().create_sandbox(image, run=run, purpose=purpose, mounts=self.seen)


class NoGitMounts(FakeBackend):
    def create_git_server(self, *, run: RunLabels) -> FakeGitServer:
        server = super().create_git_server(run=run)
        del server.mounts
        return server


class UnreachableGitServer(FakeBackend):
    def create_git_server(self, *, run: RunLabels) -> FakeGitServer:
        server = super().create_git_server(run=run)
        server.url = "file:///git/elsewhere.git"
        return server


class SweepsLiveRuns(FakeBackend):
    def cleanup(self, *, run_name: str | None = None, stale_only: bool = False) -> list[str]:
        return super().cleanup(run_name=run_name)


class AcceptsAnyImage(FakeBackend):
    def create_sandbox(self, image: str, *, run: RunLabels, purpose: SandboxPurpose = "agent") -> FakeSandbox:
        return super().create_sandbox(next(iter(self._images.values())), run=run, purpose=purpose)


def sandbox_class(cls: type[FakeSandbox]) -> type[FakeBackend]:
    return type(f"FakeWith{cls.__name__}", (FakeBackend,), {"sandbox_class": cls})


CASES: list[tuple[type[FakeBackend], Callable[[Subject], None], str]] = [
    (sandbox_class(KillsOnlyTheShell), conformance.check_timeout_kills_process_tree, "within 1 s of its limit"),
    (NoTimeoutFlag, conformance.check_timeout_kills_process_tree, "timed_out must be set"),
    (sandbox_class(StrictDecoding), conformance.check_invalid_utf8_output, "not UTF-8"),
    (sandbox_class(TruncatesOutput), conformance.check_large_output, "characters"),
    (sandbox_class(WorkspaceCwd), conformance.check_env_and_cwd, "/workspace/repo by default"),
    (sandbox_class(LeavesDirectories), conformance.check_cleanup_idempotent_and_complete, "nothing of the run"),
    (SharedWorkspace, conformance.check_sandboxes_isolated, "in one sandbox"),
    (DirtyWorkspace, conformance.check_repo_at_base_commit, "starts clean"),
    (SharedPatches, conformance.check_concurrent_sandboxes, "saw"),
    (OneGitRootForAllRuns, conformance.check_git_servers_isolated, "another run's sandbox"),
    (UnreachableGitServer, conformance.check_git_server_shares_within_run, "failed"),
    (NoGitMounts, conformance.check_git_server_has_mounts, "GitServer.mounts"),
    (IgnoresMounts, conformance.check_mounts, "failed"),
    (MountsForEveryone, conformance.check_mounts, "without the mounts"),
    (SweepsLiveRuns, conformance.check_backend_cleanup_sweeps_one_run, "a live run is not stale"),
    (AcceptsAnyImage, conformance.check_unknown_image_is_sandbox_error, "DID NOT RAISE"),
]


@pytest.mark.parametrize(("backend_class", "check", "reason"), CASES, ids=[c[0].__name__ for c in CASES])
def test_check_fails_a_broken_backend(
    backend_class: type[FakeBackend], check: Callable[[Subject], None], reason: str, example_task: Task, tmp_path: Path
) -> None:
    backend = backend_class(tmp_path)
    subject = Subject(backend, example_task, backend.resolve_image(example_task))
    try:
        with pytest.raises((AssertionError, pytest.fail.Exception), match=reason):
            check(subject)
    finally:
        subject.close()


def test_large_files_through_argv_are_caught(example_task: Task, tmp_path: Path) -> None:
    backend = sandbox_class(FilesThroughArgv)(tmp_path)
    subject = Subject(backend, example_task, backend.resolve_image(example_task))
    with pytest.raises(OSError, match="Argument list too long"):
        conformance.check_files_in_and_out(subject)


def test_every_check_is_a_test_of_the_suite() -> None:
    tests = {name.removeprefix("test_") for name in vars(BackendConformance) if name.startswith("test_")}
    assert tests == set(conformance.CHECKS)


def test_overriding_a_suite_test_without_xfail_is_refused() -> None:
    with pytest.raises(TypeError, match=r"overrides a conformance test; mark the override @pytest.mark.xfail"):

        class TestSilentlySkipping(BackendConformance):
            def test_large_output(self, subject: Subject) -> None:
                pass


def test_overriding_with_an_xfail_without_reason_is_refused() -> None:
    with pytest.raises(TypeError, match="overrides a conformance test"):

        class TestUnexplained(BackendConformance):
            @pytest.mark.xfail
            def test_large_output(self, subject: Subject) -> None:
                pass


def test_overriding_a_suite_test_with_a_reasoned_xfail_is_allowed() -> None:
    class TestDocumentedGap(BackendConformance):
        @pytest.mark.xfail(reason="this backend caps output at 1 MB")
        def test_large_output(self, subject: Subject) -> None:
            conformance.check_large_output(subject)

    marks = getattr(TestDocumentedGap.test_large_output, "pytestmark", [])
    assert [m.kwargs["reason"] for m in marks] == ["this backend caps output at 1 MB"]
