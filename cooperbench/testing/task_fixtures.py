"""Task folders built for tests, from the example dataset: what backends must handle correctly.

- :func:`task_with_future_history`: a task whose repository holds commits after the base
  commit, a tag and an extra branch (the upstream clone of a real task does). No agent sandbox
  may show any of it (issue #9.5).

Each returns a loaded :class:`~cooperbench.dataset.Task` in a folder of its own under ``dest``,
built with the ``git`` command line only, so any backend's tests can use it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cooperbench.dataset import Task, load_task

__all__ = ["FutureHistoryTask", "example_task", "task_with_future_history"]

# Marks everything that exists only after the base commit; an agent must never read it.
FUTURE_MARKER = "COOPERBENCH-FUTURE-8c1f2e"

_IDENTITY = {
    "GIT_AUTHOR_NAME": "Upstream",
    "GIT_AUTHOR_EMAIL": "upstream@cooperbench.invalid",
    "GIT_AUTHOR_DATE": "1767225600 +0000",
    "GIT_COMMITTER_NAME": "Upstream",
    "GIT_COMMITTER_EMAIL": "upstream@cooperbench.invalid",
    "GIT_COMMITTER_DATE": "1767225600 +0000",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


@dataclass(frozen=True)
class FutureHistoryTask:
    """A task whose ``repo.bundle`` goes past the base commit."""

    task: Task
    base: str
    future_commits: tuple[str, ...]  # every commit that is not the base or an ancestor of it
    tag: str  # a tag on a future commit
    branch: str  # a branch besides the default one, on a future commit
    marker: str = FUTURE_MARKER  # text found only in the future commits' files and messages


def example_task(index: int = 0) -> Task:
    """A task of the repository's ``examples/dataset`` (sorted by repo and task id)."""
    from cooperbench.dataset import load_tasks

    examples = Path(__file__).resolve().parents[2] / "examples" / "dataset"
    tasks = load_tasks(examples)
    return tasks[index]


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, env={**os.environ, **_IDENTITY}
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout.strip()


def _copy(task: Task, dest: Path) -> Path:
    folder = dest / task.repo / task.path.name
    if folder.exists():
        raise FileExistsError(f"{folder} exists; give each fixture its own dest")
    shutil.copytree(task.path, folder)
    return folder


def task_with_future_history(dest: Path, task: Task | None = None) -> FutureHistoryTask:
    """Copy ``task`` (default: the first example task) under ``dest`` with a repository that goes past its base.

    The bundle's default branch moves two commits past the base (the second one implements
    what the first feature asks for, as upstream's later history does); a tag marks the first of
    them and another branch holds one more commit. ``setup.sh`` and ``BASE_COMMIT`` are unchanged.
    """
    task = task or example_task()
    folder = _copy(task, Path(dest))
    with tempfile.TemporaryDirectory(prefix="cooperbench-future-") as tmp:
        repo = Path(tmp) / "repo"
        _git(Path(tmp), "clone", "-q", str(folder / "repo.bundle"), str(repo))
        base = _git(repo, "rev-parse", "HEAD")
        default = _git(repo, "symbolic-ref", "--short", "HEAD")
        future = []
        (repo / "FUTURE.md").write_text(f"{FUTURE_MARKER}: released later\n")
        _git(repo, "add", "FUTURE.md")
        _git(repo, "commit", "-q", "-m", f"{FUTURE_MARKER} release notes")
        future.append(_git(repo, "rev-parse", "HEAD"))
        tag = "v99.0"
        _git(repo, "tag", "-a", tag, "-m", f"{FUTURE_MARKER} tag")
        gold = folder / "feature1" / "feature.patch"
        _git(repo, "apply", str(gold))
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", f"{FUTURE_MARKER} the real implementation of feature 1")
        future.append(_git(repo, "rev-parse", "HEAD"))
        branch = "upstream-next"
        _git(repo, "checkout", "-q", "-b", branch)
        (repo / "NEXT.md").write_text(f"{FUTURE_MARKER}: next\n")
        _git(repo, "add", "NEXT.md")
        _git(repo, "commit", "-q", "-m", f"{FUTURE_MARKER} next")
        future.append(_git(repo, "rev-parse", "HEAD"))
        _git(repo, "checkout", "-q", default)
        (folder / "repo.bundle").unlink()
        _git(repo, "bundle", "create", "-q", str(folder / "repo.bundle"), "--all")
    loaded = load_task(folder, task.repo)
    assert loaded is not None
    return FutureHistoryTask(loaded, base, tuple(future), tag, branch)
