"""Each probe of the isolation suite fails on a local sandbox weakened in exactly the way it probes.

The unweakened local backend passes every probe (test_local_isolation.py), so a failure here
is the weakness being caught, and the suite cannot pass a backend that leaks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from cooperbench.backends.base import Mount, RunLabels, SandboxPurpose
from cooperbench.backends.local import LocalBackend, LocalSandbox
from cooperbench.backends.local._bwrap import Bind
from cooperbench.dataset import Task
from cooperbench.testing import isolation
from cooperbench.testing.isolation import IsolationSubject


class Weakened(LocalBackend):
    """A local backend whose sandboxes get extra binds (``extra(box)``) or extra setup (``after(box)``)."""

    def extra(self, box: LocalSandbox) -> Sequence[Bind]:
        return ()

    def after(self, box: LocalSandbox) -> None:
        pass

    def create_sandbox(
        self, image: str, *, run: RunLabels, purpose: SandboxPurpose = "agent", mounts: Sequence[Mount] = ()
    ) -> LocalSandbox:
        box = super().create_sandbox(image, run=run, purpose=purpose, mounts=mounts)
        box._binds = (*box._binds, *self.extra(box))
        self.after(box)
        return box


class HostVarTmp(Weakened):
    def extra(self, box: LocalSandbox) -> Sequence[Bind]:
        return [Bind(Path("/var/tmp"), "/var/tmp", writable=False)]


class DatasetVisible(Weakened):
    task: Task

    def extra(self, box: LocalSandbox) -> Sequence[Bind]:
        return [Bind(self.task.path, str(self.task.path), writable=False)]


SHARED_TMP = Path(tempfile.gettempdir()) / "cooperbench-weak-shared-tmp"


class SharedTmp(Weakened):
    def extra(self, box: LocalSandbox) -> Sequence[Bind]:
        SHARED_TMP.mkdir(exist_ok=True)
        return [Bind(SHARED_TMP, "/tmp")]


class RunWideGit(Weakened):
    """The old layout: every sandbox of a run sees the run's whole git directory at /git."""

    def extra(self, box: LocalSandbox) -> Sequence[Bind]:
        return [Bind(box.root.parent.parent / "git", "/git")]


class KeepsHistory(Weakened):
    """Sandboxes get every ref of the task's bundle back (as an unscrubbed clone has)."""

    def after(self, box: LocalSandbox) -> None:
        bundle = Path(self.bundle_dir) / "repo.bundle"
        if bundle.is_file():
            box.write_file("/tmp/full.bundle", bundle.read_bytes())
            box.exec("git fetch -q /tmp/full.bundle 'refs/*:refs/remotes/full/*' --tags")

    bundle_dir = ""

    def resolve_image(self, task: Task) -> str:
        self.bundle_dir = str(task.path)
        return super().resolve_image(task)


def host_network(root: Path) -> LocalBackend:
    with pytest.warns(UserWarning, match="network: host"):
        return LocalBackend(cache_dir=root, network="host")


def dataset_visible(root: Path, task: Task) -> LocalBackend:
    backend = DatasetVisible(cache_dir=root)
    backend.task = task
    return backend


Make = Callable[[Path, Task], LocalBackend]
CASES: list[tuple[str, Make, Callable[[IsolationSubject], None], str]] = [
    ("host-var-tmp", lambda root, _: HostVarTmp(cache_dir=root), isolation.check_host_unix_sockets, "unix sockets"),
    ("host-network-sockets", lambda root, _: host_network(root), isolation.check_host_unix_sockets, "@cooperbench"),
    ("dataset-visible", dataset_visible, isolation.check_host_paths, "feature.patch"),
    ("shared-tmp", lambda root, _: SharedTmp(cache_dir=root), isolation.check_other_sandbox_files, "another sandbox"),
    ("run-wide-git", lambda root, _: RunWideGit(cache_dir=root), isolation.check_other_pair_git_remote, "another pair"),
    ("host-network-tcp", lambda root, _: host_network(root), isolation.check_loopback_services, "127.0.0.1"),
    ("host-network-redis", lambda root, _: host_network(root), isolation.check_other_run_messages, "PONG"),
    ("keeps-history", lambda root, _: KeepsHistory(cache_dir=root), isolation.check_history, "its ancestors"),
]


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "cache"
    LocalBackend(cache_dir=tmp_path / "cache").cleanup()


@pytest.mark.parametrize(("make", "check", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_probe_catches_a_weakened_sandbox(
    make: Callable[[Path, Task], LocalBackend],
    check: Callable[[IsolationSubject], None],
    reason: str,
    example_task: Task,
    cache: Path,
) -> None:
    backend = make(cache, example_task)
    subject = IsolationSubject(backend, example_task, backend.resolve_image(example_task))
    try:
        with pytest.raises(AssertionError, match=reason):
            check(subject)
    finally:
        subject.close()


def test_every_probe_is_caught_by_a_case() -> None:
    assert {c[2].__name__.removeprefix("check_") for c in CASES} == set(isolation.CHECKS)


def test_overriding_a_probe_without_xfail_is_refused() -> None:
    with pytest.raises(TypeError, match="xfail"):

        class Careless(isolation.BackendIsolation):
            def test_history(self, isolation: Any) -> None:
                pass
