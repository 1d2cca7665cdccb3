"""Workspace templates: a task's repository at its base commit (plus a virtualenv), built once.

A template is built from the task's own recipe, through git, so that ``url.<base>.insteadOf``
mirrors in the user's git configuration apply: the task's ``repo.bundle`` is cloned when
present, else its ``setup.sh`` runs (under bubblewrap, in a scratch directory). The checkout
is then put at ``BASE_COMMIT`` and cleaned. Python repositories get ``/workspace/.venv``,
outside the repository so ``git clean -fdx`` in ``runner.sh`` keeps it::

    <template>/meta.json
    <template>/workspace/repo      the repository (detached HEAD at the base commit, no remote)
    <template>/workspace/.venv     Python tasks: --system-site-packages venv of the harness's interpreter
    <template>/workspace/bin       the task's runner.sh / run_tests.sh, on PATH inside sandboxes
    <template>/workspace/home      $HOME inside sandboxes: a .gitconfig with the agent identity

Templates are keyed by the task's ``content_hash`` and the harness interpreter, built into a
temporary directory under a file lock and renamed into place, so concurrent builders (threads
or processes) produce one template.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from cooperbench.backends.local import _bwrap
from cooperbench.backends.local._runs import remove_tree
from cooperbench.dataset import Task
from cooperbench.errors import DatasetError, SandboxError

__all__ = ["Template", "ensure_template", "load_template", "read_base_commit", "template_key"]

FORMAT = 1
META_FILE = "meta.json"
PYTHON_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg")
TASK_SCRIPTS = ("runner.sh", "run_tests.sh")
SETUP_TIMEOUT = 1800.0
AGENT_IDENTITY = ("CooperBench Agent", "agent@cooperbench.invalid")

_BASE_COMMIT = re.compile(r"""^\s*(?:export\s+)?BASE_COMMIT=["']?([0-9a-fA-F]{7,40})["']?\s*(?:#.*)?$""", re.M)
_REPO_NAME = re.compile(r"""^\s*(?:export\s+)?REPO_NAME=["']?([^"'\s$`]+)["']?\s*(?:#.*)?$""", re.M)


@dataclass(frozen=True)
class Template:
    """A ready template on disk."""

    key: str
    path: Path
    base_commit: str
    python: bool

    @property
    def workspace(self) -> Path:
        return self.path / "workspace"


def read_base_commit(task: Task) -> str:
    """The ``BASE_COMMIT`` a task's ``setup.sh`` checks out.

    Raises:
        DatasetError: ``setup.sh`` is missing or sets no ``BASE_COMMIT``.
    """
    path = task.path / "setup.sh"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the task's setup script: {exc.strerror or exc}") from exc
    match = _BASE_COMMIT.search(text)
    if match is None:
        raise DatasetError(f'{path}: no BASE_COMMIT="<sha>" line; every task\'s setup.sh must name its base commit')
    return match.group(1)


def template_key(task: Task) -> str:
    """``<content hash>-<interpreter hash>``: the venv points at the harness's interpreter."""
    env = hashlib.sha256(f"{FORMAT}\0{sys.executable}\0{sys.version}".encode()).hexdigest()[:8]
    return f"{task.content_hash}-{env}"


def ensure_template(task: Task, root: Path, bwrap: str) -> Template:
    """Return the task's template under ``root``, building it first if needed.

    Raises:
        SandboxError: the template cannot be built; the message names the task and the step.
    """
    key = template_key(task)
    final = root / key
    if (final / META_FILE).is_file():
        return load_template(final)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SandboxError(
            f"{root}: cannot create the template cache: {exc}. Set COOPERBENCH_CACHE_DIR to a writable directory"
        ) from exc
    with FileLock(str(root / f"{key}.lock")):
        if (final / META_FILE).is_file():
            return load_template(final)
        scratch = root / f".build-{key}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            _build(task, scratch, bwrap)
            if final.exists():  # a half-deleted template (someone cleared the cache meanwhile)
                remove_tree(final)
            scratch.rename(final)
        except DatasetError as exc:
            raise SandboxError(f"{task.key}: cannot build the workspace template: {exc}") from exc
        except OSError as exc:
            raise SandboxError(f"{task.key}: cannot build the workspace template in {scratch}: {exc}") from exc
        finally:
            remove_tree(scratch)
    return load_template(final)


def load_template(path: Path) -> Template:
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        return Template(path.name, path, str(meta["base_commit"]), bool(meta["python"]))
    except (OSError, ValueError, KeyError) as exc:
        raise SandboxError(f"{path}: the workspace template is corrupt ({exc}); delete this folder and retry") from exc


def _git(*args: str | Path, cwd: Path | None = None, what: str) -> str:
    try:
        proc = subprocess.run(["git", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise SandboxError(f"cannot run git to {what}: {exc}. Install git") from exc
    if proc.returncode != 0:
        raise SandboxError(f"git {' '.join(map(str, args))} failed to {what}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def _build(task: Task, scratch: Path, bwrap: str) -> None:
    base = read_base_commit(task)
    workspace = scratch / "workspace"
    workspace.mkdir(parents=True)
    repo = workspace / "repo"
    bundle = task.path / "repo.bundle"
    if bundle.is_file():
        _git("clone", "-q", bundle, repo, what=f"clone {bundle}")
    else:
        _run_setup_sh(task, scratch, bwrap).rename(repo)
    what = f"put {task.key} at its base commit {base}"
    _git("-c", "advice.detachedHead=false", "checkout", "-q", "--detach", base, cwd=repo, what=what)
    _git("reset", "-q", "--hard", cwd=repo, what=what)
    _git("clean", "-q", "-fdx", cwd=repo, what=what)
    for remote in _git("remote", cwd=repo, what="list remotes").split():
        _git("remote", "remove", remote, cwd=repo, what="drop the clone's remote")
    head = _git("rev-parse", "HEAD", cwd=repo, what="read HEAD")
    if not head.startswith(base.lower()):
        raise SandboxError(
            f"{task.key}: HEAD is {head} after checking out BASE_COMMIT {base} of {task.path / 'setup.sh'}"
        )

    bin_dir = workspace / "bin"
    bin_dir.mkdir()
    for name in TASK_SCRIPTS:
        if (task.path / name).is_file():
            shutil.copyfile(task.path / name, bin_dir / name)
            (bin_dir / name).chmod(0o755)
    _write_home(workspace / "home")
    python = any((repo / marker).is_file() for marker in PYTHON_MARKERS)
    if python:
        _make_venv(workspace, bwrap, task)
    for leftover in ("build", "tmp"):
        remove_tree(scratch / leftover)
    meta = {
        "format": FORMAT,
        "task": task.key,
        "content_hash": task.content_hash,
        "base_commit": head,
        "python": python,
        "interpreter": sys.executable,
        "built_at": time.time(),
    }
    (scratch / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _write_home(home: Path) -> None:
    """``$HOME`` of the sandboxes: the user's git configuration (mirrors), then the agent identity."""
    home.mkdir()
    lines = []
    for config in (Path.home() / ".gitconfig", Path.home() / ".config" / "git" / "config"):
        if config.is_file():
            lines += ["[include]", f"\tpath = {config}"]
    name, email = AGENT_IDENTITY
    lines += ["[user]", f"\tname = {name}", f"\temail = {email}", "[safe]", "\tdirectory = *"]
    (home / ".gitconfig").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run_setup_sh(task: Task, scratch: Path, bwrap: str) -> Path:
    """Run ``setup.sh`` in a scratch directory under bubblewrap; return the repository it cloned."""
    build = scratch / "build"
    (build / "src").mkdir(parents=True)
    _write_home(build / "home")
    (build / "tmp").mkdir()
    binds = [
        _bwrap.Bind(build, "/workspace"),
        _bwrap.Bind(build / "tmp", "/tmp"),
        _bwrap.Bind(task.path, "/task", writable=False),
    ]
    argv = _bwrap.sandbox_argv(bwrap, binds, ["bash", "/task/setup.sh"], cwd="/workspace/src")
    done = _bwrap.run(argv, env=_bwrap.sandbox_env(home="/workspace/home"), timeout=SETUP_TIMEOUT)
    tail = done.stdout.decode("utf-8", "replace")[-3000:]
    match = _REPO_NAME.search((task.path / "setup.sh").read_text(encoding="utf-8", errors="replace"))
    candidates = [build / "src" / match.group(1)] if match else sorted((build / "src").iterdir())
    repos = [p for p in candidates if (p / ".git").exists()]
    if done.timed_out or not repos:
        status = "timed out" if done.timed_out else f"exited {done.returncode}"
        raise SandboxError(
            f"{task.path / 'setup.sh'} {status} without leaving a git repository in its working "
            f"directory; its output ends with:\n{tail}"
        )
    return repos[0]


def _make_venv(workspace: Path, bwrap: str, task: Task) -> None:
    """Create ``/workspace/.venv`` inside a sandbox view of the template, so its paths are the sandbox's."""
    tmp = workspace.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    argv = _bwrap.sandbox_argv(
        bwrap,
        [_bwrap.Bind(workspace, "/workspace"), _bwrap.Bind(tmp, "/tmp")],
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", "/workspace/.venv"],
        cwd="/workspace",
    )
    done = _bwrap.run(argv, env=_bwrap.sandbox_env(home="/workspace/home"), timeout=300)
    if done.returncode != 0:
        raise SandboxError(
            f"{task.key}: cannot create the task's virtualenv with {sys.executable}: "
            f"{done.stdout.decode('utf-8', 'replace').strip()}"
        )
    venv = workspace / ".venv"
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    if sys.prefix != sys.base_prefix:
        # The harness runs in a virtualenv of its own (where pytest lives); make its packages
        # importable after the task venv's own and the base interpreter's.
        paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
        (site / "_cooperbench_harness.pth").write_text("\n".join(paths) + "\n", encoding="utf-8")
    # --without-pip keeps each sandbox copy small; these shims make `pip` and `pytest` the venv's.
    shims = {"pip": "pip", "pip3": "pip"}
    if importlib.util.find_spec("pytest") is not None:
        shims.update({"pytest": "pytest", "py.test": "pytest"})
    for name, module in shims.items():
        shim = venv / "bin" / name
        shim.write_text(f'#!/bin/sh\nexec /workspace/.venv/bin/python -m {module} "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
