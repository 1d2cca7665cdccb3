"""cooperbench.git_history: the repository cut at its base commit, and the probe that checks it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cooperbench.errors import SandboxError
from cooperbench.git_history import history_leaks, leak_probe_script, scrub_repository, scrub_script

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True, check=True).stdout.strip()


def commit(repo: Path, name: str, text: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"add {name}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[Path, str, list[str]]:
    """A clone whose history goes past its base in every way git keeps things around."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    commit(origin, "a.txt", "a\n")
    base = commit(origin, "b.txt", "b\n")
    future = [commit(origin, "future.txt", "SECRET implementation\n")]
    git(origin, "tag", "-a", "v2", "-m", "SECRET tag")
    repo = tmp_path / "clone"
    # --shared: the clone borrows origin's objects through an alternates file.
    git(tmp_path, "clone", "-q", "--shared", str(origin), str(repo))
    git(repo, "checkout", "-q", "-b", "side")
    future.append(commit(repo, "side.txt", "SECRET side\n"))
    git(repo, "notes", "add", "-m", "SECRET note", future[0])
    git(repo, "replace", "--graft", future[1], base)
    (repo / "wip.txt").write_text("SECRET stash\n")
    git(repo, "add", "wip.txt")
    git(repo, "stash", "-q")
    git(repo, "pack-refs", "--all")
    git(repo, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", base)
    return repo, base, future


def test_unscrubbed_clone_shows_its_future(upstream: tuple[Path, str, list[str]]) -> None:
    repo, base, future = upstream
    leaks = "\n".join(history_leaks(repo, base))
    for needle in ("refs/tags/v2", "refs/heads/side", "refs/remotes/origin", "refs/stash", "refs/notes",
                   "refs/replace", "remote origin", "alternate object store", "reflog", future[0]):  # fmt: skip
        assert needle in leaks, f"the probe reports {needle}"


def test_scrub_keeps_the_base_and_its_ancestors_only(upstream: tuple[Path, str, list[str]]) -> None:
    repo, base, future = upstream
    (repo / "untracked.txt").write_text("mine\n")
    scrub_repository(repo, base)
    assert history_leaks(repo, base) == []
    assert git(repo, "rev-parse", "HEAD") == base
    assert git(repo, "log", "--all", "--format=%s").splitlines() == ["add b.txt", "add a.txt"]
    assert len(git(repo, "rev-list", "--all").split()) == 2
    objects = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split()
    assert set(objects) == _reachable(repo, base)
    assert all(sha not in objects for sha in future)
    assert git(repo, "for-each-ref") == "" and git(repo, "remote") == "" and git(repo, "stash", "list") == ""
    assert git(repo, "reflog") == ""
    assert not (repo / ".git" / "objects" / "info" / "alternates").exists()
    assert "SECRET" not in git(repo, "log", "--all", "-p")
    # The working tree is untouched and git sees it clean apart from the untracked file.
    assert git(repo, "status", "--porcelain") == "?? untracked.txt"
    assert not any(p.name.startswith(".cooperbench-scrub") for p in repo.iterdir())


def _reachable(repo: Path, base: str) -> set[str]:
    return {line.split()[0] for line in git(repo, "rev-list", "--objects", base).splitlines()}


def test_scrub_script_is_the_same_scrub_for_container_builds(upstream: tuple[Path, str, list[str]]) -> None:
    repo, base, _ = upstream
    done = subprocess.run(scrub_script(str(repo), base), shell=True, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    probe = subprocess.run(leak_probe_script(str(repo), base), shell=True, env=ENV, capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stdout == ""


def test_scrub_of_a_missing_base_is_an_error_and_changes_nothing(upstream: tuple[Path, str, list[str]]) -> None:
    repo, _, _ = upstream
    before = git(repo, "for-each-ref")
    with pytest.raises(SandboxError, match=r"cannot cut the history of .* at 0123456: .*not a commit"):
        scrub_repository(repo, "0123456")
    assert git(repo, "for-each-ref") == before


def test_probe_of_a_path_without_repository_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="cannot check the history"):
        history_leaks(tmp_path / "nothing", "HEAD")
