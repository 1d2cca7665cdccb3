"""cooperbench.patches.base_commit: the sandbox's starting commit, or an error that says what git did.

The commands run for real (bash, git) on a host directory through a minimal environment that,
like every backend's, returns stdout and stderr interleaved. Where git itself must misbehave
(killed, silent, slow), a ``git`` script first on ``PATH`` stands in for it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cooperbench.errors import SandboxError
from cooperbench.patches import base_commit

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]


class HostShell:
    """``execute`` as the Environment contract has it: bash on this host, stderr into stdout.

    ``max_timeout`` caps the timeout a caller asks for, so a timeout is reached in a test's time.
    A command killed by signal N ends with status 128 + N, as a shell (and a container engine) reports it.
    """

    def __init__(self, path_first: Path | None = None, max_timeout: float | None = None) -> None:
        self.env = dict(os.environ)
        if path_first is not None:
            self.env["PATH"] = f"{path_first}{os.pathsep}{self.env['PATH']}"
        self.max_timeout = max_timeout

    def execute(self, command: str, timeout: float | None = None) -> dict[str, Any]:
        if self.max_timeout is not None:
            timeout = min(timeout or self.max_timeout, self.max_timeout)
        try:
            done = subprocess.run(
                ["bash", "-c", command],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.output.decode() if exc.output else ""
            return {"output": output, "returncode": -9, "timed_out": True}
        status = 128 - done.returncode if done.returncode < 0 else done.returncode
        return {"output": done.stdout.decode(), "returncode": status, "timed_out": False}


def fake_git(tmp_path: Path, body: str) -> Path:
    """A directory holding a ``git`` script with ``body`` (it may call the real git as ``$REAL_GIT``)."""
    real = subprocess.run(["bash", "-c", "command -v git"], capture_output=True, text=True, check=True).stdout.strip()
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    script = folder / "git"
    script.write_text(f"#!/bin/bash\nREAL_GIT={real}\n{body}\n")
    script.chmod(0o755)
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "repo"
    path.mkdir()
    for argv in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "base"]):
        subprocess.run([*GIT, *argv], cwd=path, check=True)
    head = subprocess.run([*GIT, "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True)
    return path, head.stdout.strip()


def test_the_base_commit_is_heads_commit_id(repo: tuple[Path, str]) -> None:
    path, head = repo
    assert base_commit(HostShell(), cwd=str(path)) == head


def test_a_warning_of_git_before_the_id_does_not_hide_it(repo: tuple[Path, str], tmp_path: Path) -> None:
    path, head = repo
    shim = fake_git(tmp_path, 'echo "warning: something git wants to say" >&2\nexec "$REAL_GIT" "$@"')
    assert base_commit(HostShell(shim), cwd=str(path)) == head


def test_a_folder_that_is_no_repository_is_named_with_gits_status_and_message(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(SandboxError) as caught:
        base_commit(HostShell(), cwd=str(plain))
    message = str(caught.value)
    assert f"cannot read the base commit of {plain} in the sandbox" in message
    assert f"`git -C {plain} rev-parse HEAD` exited with status 128" in message
    assert "not a git repository" in message


def test_a_repository_without_commits_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=empty, check=True)
    with pytest.raises(SandboxError, match=r"exited with status 128; its output: .*HEAD") as caught:
        base_commit(HostShell(), cwd=str(empty))
    assert str(empty) in str(caught.value)


def test_a_git_killed_before_it_printed_anything_is_reported_as_such(repo: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = repo
    shim = fake_git(tmp_path, "kill -KILL $$")
    with pytest.raises(SandboxError, match=r"rev-parse HEAD` exited with status 137; it printed nothing$"):
        base_commit(HostShell(shim), cwd=str(path))


def test_a_git_that_succeeds_without_an_id_is_not_taken_for_a_commit(repo: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = repo
    shim = fake_git(tmp_path, "echo 'HEAD'")
    with pytest.raises(SandboxError, match=r"exited with status 0 but printed no commit id; its output: HEAD$"):
        base_commit(HostShell(shim), cwd=str(path))


def test_a_git_that_hangs_is_reported_as_timed_out(repo: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = repo
    shim = fake_git(tmp_path, "echo 'still looking'; exec sleep 60")
    with pytest.raises(SandboxError, match=r"did not finish within 30 s; its output: still looking$"):
        base_commit(HostShell(shim, max_timeout=0.5), cwd=str(path))
