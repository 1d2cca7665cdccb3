"""Task folders built for tests, from the example dataset: what backends must handle correctly.

- :func:`task_with_future_history`: a task whose repository holds commits after the base
  commit, a tag and an extra branch (the upstream clone of a real task does). No agent sandbox
  may show any of it (issue #9.5).
- :func:`task_with_install_section`: the first example task with the install section of the
  public Python tasks in its ``runner.sh`` and Dockerfile (``pip install -e ".[test]" || pip
  install -e .``, then the pytest tools): what fast installs are measured on.
- :func:`task_named_like_a_harness_dependency`: a task whose package is named ``click`` (a harness
  dependency, through typer) at version 99.0 with an attribute no released click has; its
  features' tests pass only when they import the repository's code (issue #11).

Each returns a loaded :class:`~cooperbench.dataset.Task` in a folder of its own under ``dest``,
built with the ``git`` command line only, so any backend's tests can use it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cooperbench.dataset import Task, load_task

__all__ = [
    "INSTALL_SECTION",
    "FutureHistoryTask",
    "example_task",
    "task_named_like_a_harness_dependency",
    "task_with_future_history",
    "task_with_install_section",
]

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


# The install section of the public Python tasks' runner.sh (and the RUN of their Dockerfile).
INSTALL_SECTION = """\
# Install dependencies (SYSTEM PYTHON)
echo "Installing dependencies..."
pip install -e ".[test]" || pip install -e .
pip install pytest pytest-xdist pytest_mock
"""
_DOCKER_INSTALL = """\
# Set up Python environment (as the public tasks do, before their install step)
WORKDIR /workspace/repo

# Pre-install dependencies into system Python (cache layer)
RUN pip install --upgrade pip && \\
    pip install -e ".[test]" || pip install -e . && \\
    pip install pytest pytest-xdist pytest_mock

"""


def _with_install_section(folder: Path) -> None:
    runner = (folder / "runner.sh").read_text()
    anchor = "# Use the python first on PATH"
    if anchor not in runner:
        raise ValueError(f"{folder / 'runner.sh'}: no '{anchor}' line to put the install section before")
    (folder / "runner.sh").write_text(runner.replace(anchor, INSTALL_SECTION + "\n" + anchor, 1))
    dockerfile = (folder / "Dockerfile").read_text()
    anchor = "# Copy the runner script"
    (folder / "Dockerfile").write_text(dockerfile.replace(anchor, _DOCKER_INSTALL + anchor, 1))


def task_with_install_section(dest: Path, task: Task | None = None) -> Task:
    """Copy ``task`` (default: the first example task) under ``dest`` with the public tasks' install section."""
    task = task or example_task()
    folder = _copy(task, Path(dest))
    _with_install_section(folder)
    loaded = load_task(folder, task.repo)
    assert loaded is not None
    return loaded


_CLICK_INIT = '''"""A package that shares its import name with the real click (the harness has click, via typer)."""

__version__ = "99.0"
FROM_THE_REPOSITORY = True


def greet(name):
    return f"hello {name}"
'''
_CLICK_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "click"
version = "99.0"
description = "Not the real click: a CooperBench test fixture"
requires-python = ">=3.8"

[project.optional-dependencies]
test = ["pytest"]

[tool.setuptools.packages.find]
where = ["src"]
"""
_CLICK_TEST_BASE = """\
import click


def test_the_repository_is_imported():
    assert click.FROM_THE_REPOSITORY and click.__version__ == "99.0"
"""
_CLICK_FEATURES = {
    1: (
        "Add shout()",
        "def shout(name):\n    return greet(name).upper()\n",
        "import click\n\n\ndef test_shout():\n    assert click.FROM_THE_REPOSITORY\n"
        "    assert click.shout('ann') == 'HELLO ANN'\n",
    ),
    2: (
        "Add whisper()",
        "def whisper(name):\n    return greet(name).lower() + '...'\n",
        "import click\n\n\ndef test_whisper():\n    assert click.FROM_THE_REPOSITORY\n"
        "    assert click.whisper('Ann') == 'hello ann...'\n",
    ),
}


def task_named_like_a_harness_dependency(dest: Path) -> Task:
    """A task ``click_task/task1`` whose package is ``click`` 99.0 (src layout), with two features.

    Its runner.sh and Dockerfile are the first example task's with the public install section;
    each feature's tests check ``click.FROM_THE_REPOSITORY``, which no released click has.
    """
    template = example_task()
    folder = Path(dest) / "click_task" / "task1"
    folder.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="cooperbench-click-") as tmp:
        repo = Path(tmp) / "click"
        (repo / "src" / "click").mkdir(parents=True)
        (repo / "tests").mkdir()
        (repo / "src" / "click" / "__init__.py").write_text(_CLICK_INIT)
        (repo / "pyproject.toml").write_text(_CLICK_PYPROJECT)
        (repo / "tests" / "test_base.py").write_text(_CLICK_TEST_BASE)
        (repo / ".gitignore").write_text("*.egg-info/\n__pycache__/\n")
        _git(Path(tmp), "init", "-q", "-b", "main", str(repo))
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "click 99.0")
        base = _git(repo, "rev-parse", "HEAD")
        _git(repo, "bundle", "create", "-q", str(folder / "repo.bundle"), "--all")
        for fid, (title, code, test) in _CLICK_FEATURES.items():
            feature = folder / f"feature{fid}"
            feature.mkdir()
            (feature / "feature.md").write_text(f"**Title**: {title}\n\n**Description**:\n{title} to click.\n")
            init = repo / "src" / "click" / "__init__.py"
            init.write_text(_CLICK_INIT + "\n\n" + code)
            (feature / "feature.patch").write_text(_git(repo, "diff") + "\n")
            _git(repo, "checkout", "-q", "--", ".")
            (repo / "tests" / f"test_f{fid}.py").write_text(test)
            _git(repo, "add", "-N", f"tests/test_f{fid}.py")
            (feature / "tests.patch").write_text(_git(repo, "diff") + "\n")
            _git(repo, "reset", "-q")
            (repo / "tests" / f"test_f{fid}.py").unlink()
    for name in ("runner.sh", "run_tests.sh", "Dockerfile"):
        text = (template.path / name).read_text()
        (folder / name).write_text(text.replace(_base_of(template), base))
        (folder / name).chmod((template.path / name).stat().st_mode)
    setup = (template.path / "setup.sh").read_text().replace(_base_of(template), base)
    setup = setup.replace(f'REPO_NAME="{_repo_name(setup)}"', 'REPO_NAME="click"')
    (folder / "setup.sh").write_text(setup)
    (folder / "setup.sh").chmod(0o755)
    _with_install_section(folder)
    loaded = load_task(folder, "click_task")
    assert loaded is not None
    return loaded


def _base_of(task: Task) -> str:
    from cooperbench.backends.local import read_base_commit

    return read_base_commit(task)


def _repo_name(setup: str) -> str:
    match = re.search(r'^REPO_NAME="([^"]+)"', setup, re.M)
    return match.group(1) if match else ""
