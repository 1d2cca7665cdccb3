"""Workspace templates: a task's repository at its base commit plus its own environment, built once.

A template is built from the task's own recipe, through git, so that ``url.<base>.insteadOf``
mirrors in the user's git configuration apply (:mod:`._gitconfig`): the task's ``repo.bundle``
is cloned when present, else its ``setup.sh`` runs (under bubblewrap, in a scratch directory).
The checkout is then put at ``BASE_COMMIT``, cleaned, and its history cut at the base
(:mod:`cooperbench.git_history`). The task's environment is built next (:mod:`._environment`):
for Python tasks a venv of the task's Python version with the Dockerfile's install steps run in
it, outside the repository so ``git clean -fdx`` in ``runner.sh`` keeps it::

    <template>/meta.json           base commit, what sandboxes need (env, path, ro_paths), provenance
    <template>/workspace/repo      the repository: HEAD detached at the base commit, whose ancestors are
                                   all its history holds
    <template>/workspace/.venv     Python tasks: the task's venv (nothing of the harness's packages)
    <template>/workspace/.cooperbench  Python tasks: the pip/uv commands that replay unchanged installs
    <template>/workspace/bin       the task's runner.sh / run_tests.sh, on PATH inside sandboxes
    <template>/workspace/home      $HOME inside sandboxes: a .gitconfig with the agent identity only

Templates are keyed by the task's ``content_hash`` and the interpreter the task's venv is made
from, built into a temporary directory under a file lock and renamed into place, so concurrent
builders (threads or processes) produce one template.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from filelock import FileLock

from cooperbench.backends.local import _bwrap
from cooperbench.backends.local._dockerfile import read_recipe
from cooperbench.backends.local._environment import BuildContext, build_environment, python_for
from cooperbench.backends.local._gitconfig import effective_git_config, mirror_paths, render_config
from cooperbench.backends.local._runs import remove_tree
from cooperbench.dataset import Task
from cooperbench.errors import DatasetError, SandboxError
from cooperbench.git_history import history_leaks, scrub_repository

__all__ = ["Template", "ensure_template", "load_template", "read_base_commit", "template_key"]

FORMAT = 6
META_FILE = "meta.json"
PYTHON_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg")
TASK_SCRIPTS = ("runner.sh", "run_tests.sh")
SETUP_TIMEOUT = 1800.0
AGENT_IDENTITY = ("CooperBench Agent", "agent@cooperbench.invalid")
# The task environment, kept apart from the workspace copy (see _share_environment).
SHARED_DIRS = (".venv", ".cooperbench")
SHARED_UID = 65534  # nobody

_BASE_COMMIT = re.compile(r"""^\s*(?:export\s+)?BASE_COMMIT=["']?([0-9a-fA-F]{7,40})["']?\s*(?:#.*)?$""", re.M)
_REPO_NAME = re.compile(r"""^\s*(?:export\s+)?REPO_NAME=["']?([^"'\s$`]+)["']?\s*(?:#.*)?$""", re.M)


@dataclass(frozen=True)
class Template:
    """A ready template on disk."""

    key: str
    path: Path
    base_commit: str
    python: bool
    # What commands in its sandboxes need: variables, directories first on PATH, host paths to show
    # read-only at the same place (the interpreter the venv is made from, toolchains).
    env: dict[str, str] = field(default_factory=dict)
    path_prefix: tuple[str, ...] = ()
    ro_paths: tuple[Path, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)
    # Whether the files of ``shared`` are owned by SHARED_UID and read-only, so sandboxes (root
    # without capabilities) may hard-link them instead of copying: they can unlink and add
    # entries in their own directories, never change a shared file.
    shared_linked: bool = False

    @property
    def workspace(self) -> Path:
        return self.path / "workspace"

    @property
    def shared(self) -> Path:
        """The task environment (``.venv``, ``.cooperbench``), put into each sandbox's ``/workspace``."""
        return self.path / "shared"


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
    """``<content hash>-<environment hash>``: the venv points at the interpreter it was made from."""
    chosen = python_for(read_recipe(task.path), task.key)
    interpreter = f"{chosen[0].executable}\0{chosen[0].version_text}" if chosen else "none"
    memo = files("cooperbench.backends.local").joinpath("_install_memo.py").read_bytes()
    env = hashlib.sha256(f"{FORMAT}\0{interpreter}\0".encode() + memo).hexdigest()[:8]
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
        return Template(
            path.name,
            path,
            str(meta["base_commit"]),
            bool(meta["python"]),
            env={str(k): str(v) for k, v in meta["env"].items()},
            path_prefix=tuple(map(str, meta["path"])),
            ro_paths=tuple(Path(p) for p in meta["ro_paths"]),
            provenance=dict(meta.get("provenance") or {}),
            shared_linked=bool(meta.get("shared_linked", False)),
        )
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
    recipe = read_recipe(task.path)
    interpreter = python_for(recipe, task.key)
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
    head = _git("rev-parse", "HEAD", cwd=repo, what="read HEAD")
    if not head.startswith(base.lower()):
        raise SandboxError(
            f"{task.key}: HEAD is {head} after checking out BASE_COMMIT {base} of {task.path / 'setup.sh'}"
        )
    # The clone's later commits hold the features' real implementation: keep the base and its past only.
    scrub_repository(repo, head)

    bin_dir = workspace / "bin"
    bin_dir.mkdir()
    for name in TASK_SCRIPTS:
        if (task.path / name).is_file():
            shutil.copyfile(task.path / name, bin_dir / name)
            (bin_dir / name).chmod(0o755)
    _write_home(workspace / "home", [])
    tmp = scratch / "tmp"
    tmp.mkdir(exist_ok=True)
    runner = _read_text(task.path / "runner.sh")
    is_python = any((repo / marker).is_file() for marker in PYTHON_MARKERS)
    context = BuildContext(task.key, workspace, tmp, bwrap, _uv_binary(), _download_caches())
    environment = build_environment(context, recipe, runner, is_python, interpreter)
    # Install steps run in the repository; none of what they did may show as history.
    leaks = history_leaks(repo, head)
    if leaks:
        raise SandboxError(f"{task.key}: the repository still shows history past {head}: {'; '.join(leaks[:5])}")
    for leftover in ("build", "tmp"):
        remove_tree(scratch / leftover)
    shared_linked = _share_environment(workspace, scratch / "shared")
    meta = {
        "format": FORMAT,
        "task": task.key,
        "content_hash": task.content_hash,
        "base_commit": head,
        "python": environment.python,
        "env": environment.env,
        "path": environment.path,
        "ro_paths": environment.ro_paths,
        "provenance": environment.provenance,
        "shared_linked": shared_linked,
        "built_at": time.time(),
    }
    (scratch / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _uv_binary() -> str:
    import uv

    try:
        return os.path.realpath(uv.find_uv_bin())
    except FileNotFoundError as exc:
        raise SandboxError(
            f"the uv binary of the `uv` package is missing ({exc}); reinstall it: pip install uv"
        ) from exc


def _download_caches() -> dict[str, Path]:
    """The user's pip and uv caches (``$PIP_CACHE_DIR``/``$UV_CACHE_DIR`` or their defaults), shared by builds."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    caches = {}
    for name, variable in (("pip", "PIP_CACHE_DIR"), ("uv", "UV_CACHE_DIR")):
        path = Path(os.environ.get(variable) or base / name).expanduser().absolute()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue  # no cache: downloads just are not kept
        caches[f"/tmp/.cooperbench-{name}"] = path
    return caches


def _share_environment(workspace: Path, shared: Path) -> bool:
    """Move the task environment out of ``workspace`` into ``shared``; lock its files when running as root.

    A venv holds thousands of files; copying them for every sandbox costs seconds. As root, the
    files are given to SHARED_UID and made read-only, so sandboxes hard-link them: root inside a
    sandbox has no capability (bwrap --cap-drop ALL), hence can neither write nor chmod nor chown
    a file it does not own, while its own directories let pip add and remove entries freely.
    Returns whether the files were locked (else sandboxes copy them).
    """
    moved = False
    for name in SHARED_DIRS:
        if (workspace / name).exists():
            shared.mkdir(exist_ok=True)
            (workspace / name).rename(shared / name)
            moved = True
    if not moved or os.geteuid() != 0:
        return False
    for folder, _dirs, names in os.walk(shared):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            os.chown(path, SHARED_UID, SHARED_UID)
            os.chmod(path, os.stat(path).st_mode & ~0o222)
    return True


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _write_home(home: Path, user_config: list[tuple[str, str | None]]) -> None:
    """A ``$HOME`` with a ``.gitconfig``: ``user_config`` (flattened, for builds only), then the agent identity."""
    home.mkdir()
    name, email = AGENT_IDENTITY
    text = render_config(user_config)
    text += "\n".join(["[user]", f"\tname = {name}", f"\temail = {email}", "[safe]", "\tdirectory = *"]) + "\n"
    (home / ".gitconfig").write_text(text, encoding="utf-8")


def _run_setup_sh(task: Task, scratch: Path, bwrap: str) -> Path:
    """Run ``setup.sh`` in a scratch directory under bubblewrap; return the repository it cloned.

    Its git sees the user's effective configuration (system, global, includes; see :mod:`._gitconfig`),
    and the local folders its ``insteadOf`` mirrors point to are shown read-only.
    """
    build = scratch / "build"
    (build / "src").mkdir(parents=True)
    user_config = effective_git_config()
    _write_home(build / "home", user_config)
    (build / "tmp").mkdir()
    binds = [
        _bwrap.Bind(build, "/workspace"),
        _bwrap.Bind(build / "tmp", "/tmp"),
        _bwrap.Bind(task.path, "/task", writable=False),
        *(_bwrap.Bind(path, str(path), writable=False) for path in mirror_paths(user_config)),
    ]
    argv = _bwrap.sandbox_argv(bwrap, binds, ["bash", "/task/setup.sh"], cwd="/workspace/src")
    env = _bwrap.sandbox_env(home="/workspace/home")
    env["GIT_CONFIG_NOSYSTEM"] = "1"  # the system file's entries are in the flattened one already
    done = _bwrap.run(argv, env=env, timeout=SETUP_TIMEOUT)
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
