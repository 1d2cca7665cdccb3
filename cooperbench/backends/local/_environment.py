"""A task's own environment in its local template: interpreter, packages and toolchains, built once.

Nothing of the harness's own environment is in it: a Python task gets a plain venv
(``/workspace/.venv``, no system site-packages) of the Python version its Dockerfile names
(:mod:`._toolchains` finds it, or the nearest one), then what a Docker image of the task has:
``pip`` and ``pytest`` (the example dataset's images provide pytest; the public ones install it),
then the Dockerfile's own install steps (:mod:`._dockerfile`), run in the repository as the
image build runs them. Finally the ``runner.sh`` install section is run twice to record its
installs for replay (:mod:`._install_memo`). Go, Rust and Node tasks get the host's toolchains on
``PATH``, with their caches inside the workspace.

What sandboxes of the template need is returned as an :class:`Environment`: environment
variables, directories put first on ``PATH``, and host paths to show read-only (the interpreter's
prefix, toolchain folders), plus a provenance record for ``meta.json``.
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cooperbench.backends.local import _bwrap
from cooperbench.backends.local._dockerfile import Recipe, expand
from cooperbench.backends.local._toolchains import Interpreter, choose_python, require_tools, tools_needed
from cooperbench.errors import SandboxError

__all__ = ["VENV", "Environment", "build_environment", "install_section", "python_for"]

log = logging.getLogger(__name__)

VENV = "/workspace/.venv"
TOOLS_DIR = "/workspace/.cooperbench"
SHIM_BIN = f"{TOOLS_DIR}/bin"
TASK_BIN = "/workspace/bin"
MEMO_FILE = "install_memo.py"
BASE_PACKAGES = ("pytest",)
STEP_TIMEOUT = 3600.0
# Build steps run the real pip/uv (nothing to replay yet).
_REAL = {"COOPERBENCH_INSTALL_MEMO": "off"}
_TAIL = 4000

# A line of runner.sh that installs Python packages (the section recorded for replay).
_INSTALL_LINE = re.compile(r"^\s*(?:if\s+!?\s*)?(?:pip3?|uv\s+pip|python3?\s+-m\s+pip|uv)\s+(?:install|sync)\b")


@dataclass
class Environment:
    """What a template's sandboxes need, and how it was made."""

    env: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    ro_paths: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    python: bool = False


@dataclass(frozen=True)
class BuildContext:
    """Where and how build commands run: the template's workspace and the shared download caches."""

    task: str
    workspace: Path
    tmp: Path
    bwrap: str
    uv: str  # the uv binary of the harness (shown to build sandboxes only)
    caches: dict[str, Path]  # sandbox path -> host path (the user's pip and uv caches), writable in builds only


def python_for(recipe: Recipe, task: str) -> tuple[Interpreter, str] | None:
    """The interpreter a task's venv is built on, and how it was chosen; ``None`` when the host has no Python 3."""
    try:
        return choose_python(recipe.python_version, task=task)
    except SandboxError:
        return None


def install_section(runner: str) -> str:
    """The lines of ``runner.sh`` that install Python packages, as one shell snippet ("" when none).

    From the first such line to the last (so ``if ...; then ... fi`` around them stays whole);
    when that block is not valid shell on its own, just the install lines.
    """
    lines = runner.splitlines()
    hits = [i for i, line in enumerate(lines) if _INSTALL_LINE.match(line)]
    if not hits:
        return ""
    block = "\n".join(lines[hits[0] : hits[-1] + 1])
    for end in range(hits[-1] + 1, min(len(lines), hits[-1] + 6) + 1):
        candidate = "\n".join(lines[hits[0] : end])
        if _valid_shell(candidate):
            return candidate + "\n"
    single = [lines[i] for i in hits if not lines[i].lstrip().startswith("if")]
    joined = "\n".join(single)
    return joined + "\n" if single and _valid_shell(joined) else ("" if not _valid_shell(block) else block + "\n")


def _valid_shell(text: str) -> bool:
    try:
        return subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True, check=False).returncode == 0
    except OSError:
        return False


def _run(
    ctx: BuildContext, environment: Environment, command: str, *, cwd: str, what: str,
    extra_env: dict[str, str] | None = None, check: bool = True,
) -> str:  # fmt: skip
    """Run ``command`` in a build sandbox of the template (its workspace writable, download caches bound)."""
    binds = [
        _bwrap.Bind(ctx.workspace, "/workspace"),
        _bwrap.Bind(ctx.tmp, "/tmp"),
        *(_bwrap.Bind(host, inside) for inside, host in ctx.caches.items()),
        *(_bwrap.Bind(Path(p), p, writable=False) for p in environment.ro_paths),
        _bwrap.Bind(Path(ctx.uv).parent, str(Path(ctx.uv).parent), writable=False),
    ]
    argv = _bwrap.sandbox_argv(ctx.bwrap, binds, ["bash", "-c", command], cwd=cwd)
    env = _build_env(ctx, environment)
    env.update(extra_env or {})
    done = _bwrap.run(argv, env=env, timeout=STEP_TIMEOUT)
    output = done.stdout.decode("utf-8", "replace")
    if check and (done.returncode != 0 or done.timed_out):
        status = "timed out" if done.timed_out else f"exited {done.returncode}"
        raise SandboxError(f"{ctx.task}: {what} {status}; its output ends with:\n{output[-_TAIL:]}")
    return output


def _build_env(ctx: BuildContext, environment: Environment) -> dict[str, str]:
    env = _bwrap.sandbox_env(home="/workspace/home", path_prefix=environment.path)
    env.update(environment.env)
    for inside in ctx.caches:
        env["UV_CACHE_DIR" if inside.endswith("uv") else "PIP_CACHE_DIR"] = inside
    return env


def build_environment(
    ctx: BuildContext, recipe: Recipe, runner: str, repo_is_python: bool, interpreter: tuple[Interpreter, str] | None
) -> Environment:
    """Make the task's environment inside ``ctx.workspace``; see the module doc.

    Raises:
        SandboxError: a tool is missing, or a step fails (the message names it and has its output).
    """
    environment = Environment()
    scripts = [runner, *(step.command for step in recipe.steps), *(step.command for step in recipe.skipped)]
    family = recipe.family or ("python" if repo_is_python else "")
    tools = require_tools(tools_needed(family, scripts), task=ctx.task)
    image_env = expand(recipe.env, {})
    image_path = recipe.env.get("PATH", "")
    for key, value in image_env.items():
        if key not in ("PATH", "HOME"):
            environment.env[key] = value
    for tool in tools:
        environment.ro_paths.extend(tool.ro_paths)
        environment.env.update(dict(tool.env))
        folder = str(Path(tool.path).parent)
        if folder not in environment.path:
            environment.path.append(folder)
    environment.env.update(_tool_env({t.name for t in tools}))
    python = family == "python" or repo_is_python
    environment.provenance = {
        "image": recipe.image,
        "family": family,
        "toolchains": {t.name: {"path": t.path, "version": t.version} for t in tools},
        "install_steps": [step.command for step in recipe.steps],
        "skipped_steps": [step.command for step in recipe.skipped],
    }
    if python:
        if interpreter is None:
            choose_python(recipe.python_version, task=ctx.task)  # raises the explained error
            raise AssertionError("unreachable")
        _make_venv(ctx, environment, interpreter, recipe, uses_uv=any(re.search(r"\buv\b", t) for t in scripts))
    # Directories the image's ENV PATH adds (e.g. /root/.cargo/bin) that exist here.
    for entry in image_path.split(":"):
        if entry and "$" not in entry and Path(entry).is_dir() and entry not in environment.path:
            environment.path.append(entry)
    for step in recipe.steps:
        cwd = step.workdir if step.workdir.startswith(("/workspace", "/tmp")) else "/workspace/repo"
        _run(ctx, environment, step.command, cwd=cwd, extra_env=_REAL,
             what=f"the install step of {recipe.path} line {step.line} (`{_short(step.command)}`)")  # fmt: skip
    if python:
        # Bytecode once here, as pip compiles it in an image (uv installs without it): otherwise every
        # sandbox's first `pytest` compiles pytest, pluggy, pygments and the plugins again (on a
        # dirty-equals task: 1-3 s of a 2-5 s test run). A sandbox links the .pyc files (copies them
        # when not root: ~20 MB, much less than that compile).
        _run(ctx, environment, f"{VENV}/bin/python -m compileall -q -j 0 {VENV}/lib >/dev/null 2>&1 || true",
             cwd="/workspace", what="compiling the venv's bytecode")  # fmt: skip
        _record_installs(ctx, environment, runner)
    environment.ro_paths = list(dict.fromkeys(environment.ro_paths))
    return environment


def _short(command: str, limit: int = 120) -> str:
    return command if len(command) <= limit else command[: limit - 3] + "..."


def _tool_env(names: set[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    if "go" in names:
        # Module and build caches live in the workspace (writable, copied per sandbox); never
        # download another toolchain; keep the module cache deletable.
        env.update(
            {
                "GOPATH": "/workspace/.go",
                "GOMODCACHE": "/workspace/.go/pkg/mod",
                "GOCACHE": "/workspace/.cache/go-build",
                "GOTOOLCHAIN": "local",
                "GOFLAGS": "-modcacherw",
            }
        )
    if "cargo" in names:
        env["CARGO_HOME"] = "/workspace/.cargo"
    return env


def _make_venv(
    ctx: BuildContext, environment: Environment, chosen: tuple[Interpreter, str], recipe: Recipe, *, uses_uv: bool
) -> None:
    interpreter, how = chosen
    environment.python = True
    environment.ro_paths.append(interpreter.prefix)
    environment.path[:0] = [SHIM_BIN, f"{VENV}/bin", TASK_BIN]
    environment.env["VIRTUAL_ENV"] = VENV
    requested = recipe.python_version
    environment.provenance["python"] = {
        "requested": ".".join(map(str, requested)) if requested else None,
        "used": interpreter.version_text,
        "executable": interpreter.executable,
        "chosen": how,
    }
    if how == "nearest":
        log.warning(
            "%s: its Dockerfile names Python %s, which this host lacks; using Python %s (%s)",
            ctx.task,
            environment.provenance["python"]["requested"],
            interpreter.version_text,
            interpreter.executable,
        )
    # uv makes the venv and seeds it (pip, and setuptools/wheel below 3.12, as python images have)
    # from its warm cache in a fraction of a second; everything the task installs goes through pip.
    uv = shlex.quote(ctx.uv)
    python = shlex.quote(interpreter.executable)
    what = f"creating the task's virtualenv with {interpreter.executable}"
    _run(
        ctx, environment, f"{uv} venv -q --seed --python {python} {VENV}", cwd="/workspace", extra_env=_REAL, what=what
    )
    _write_shims(ctx.workspace, uses_uv=uses_uv)
    packages = " ".join(BASE_PACKAGES)
    what = (
        f"installing {packages} into the task's virtualenv (the package index must be reachable, or "
        "UV_INDEX_URL / UV_FIND_LINKS must name a source that has it)"
    )
    _run(ctx, environment, f"{uv} pip install -q --python {VENV}/bin/python {packages}", cwd="/workspace",
         extra_env=_REAL, what=what)  # fmt: skip


def _write_shims(workspace: Path, *, uses_uv: bool) -> None:
    from importlib.resources import files

    tools = workspace / ".cooperbench"
    (tools / "bin").mkdir(parents=True, exist_ok=True)
    memo = files("cooperbench.backends.local").joinpath("_install_memo.py").read_text(encoding="utf-8")
    (tools / MEMO_FILE).write_text(memo, encoding="utf-8")
    names = ["pip", "pip3", *(["uv"] if uses_uv else [])]
    for name in names:
        shim = tools / "bin" / name
        shim.write_text(f'#!/bin/sh\nexec {VENV}/bin/python -I {TOOLS_DIR}/{MEMO_FILE} {name} "$@"\n', encoding="utf-8")
        shim.chmod(0o755)


def _record_installs(ctx: BuildContext, environment: Environment, runner: str) -> None:
    """Run runner.sh's install section twice from a clean tree: to a fixed point, then recording."""
    section = install_section(runner)
    environment.provenance["recorded_installs"] = section.strip().splitlines()
    if not section:
        return
    prelude = "cd /workspace/repo && git reset -q --hard && git clean -q -fdx\n"
    for extra in (_REAL, {"COOPERBENCH_INSTALL_RECORD": "1"}):
        _run(ctx, environment, prelude + section, cwd="/workspace/repo", extra_env=extra, check=False,
             what="the install section of runner.sh")  # fmt: skip
    # Keep build output (ignored files, as an image would have it); drop anything else untracked.
    _run(ctx, environment, "git clean -q -fd && rm -f .git/ORIG_HEAD", cwd="/workspace/repo",
         what="cleaning the repository")  # fmt: skip
