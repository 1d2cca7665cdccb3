"""Interpreters and toolchains of this host that local task environments are built on.

Each is looked for once per process (``functools.lru_cache``). A Python task's venv is made from
the interpreter whose version its Dockerfile names (``FROM python:3.11-slim``): pyenv's versions
(``$PYENV_ROOT/versions``), then ``python3.X`` on ``PATH``; when the machine has no such version,
the nearest one is used and the choice is recorded in the template's provenance. Go, Rust and
Node tasks use the host's ``go``, ``cargo`` and ``node``/``npm``/``pnpm``/``yarn``; a missing one
is an error that names it, why the task needs it, and how to install it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cooperbench.errors import SandboxError

__all__ = ["Interpreter", "Tool", "choose_python", "find_tool", "interpreters", "require_tools", "tools_needed"]

_PROBE = (
    "import json, os, sys, venv, ensurepip; "
    "print(json.dumps([list(sys.version_info[:3]), os.path.realpath(sys.executable), "
    "os.path.realpath(sys.base_prefix), sys.implementation.name]))"
)


@dataclass(frozen=True)
class Interpreter:
    """A Python of this host able to make virtualenvs with pip (it has ``venv`` and ``ensurepip``)."""

    executable: str  # the real binary (never a pyenv shim)
    version: tuple[int, int, int]
    prefix: str  # sys.base_prefix: what a venv made from it needs to see
    implementation: str = "cpython"

    @property
    def minor(self) -> tuple[int, int]:
        return self.version[0], self.version[1]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def _candidates() -> list[str]:
    found: list[str] = []
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = root / "versions"
    if versions.is_dir():
        for entry in sorted(versions.iterdir()):
            for name in ("python3", "python"):
                if (entry / "bin" / name).is_file():
                    found.append(str(entry / "bin" / name))
                    break
    for minor in range(6, 30):
        path = shutil.which(f"python3.{minor}")
        if path:
            found.append(path)
    for name in ("python3", "python"):
        path = shutil.which(name)
        if path:
            found.append(path)
    found.append(getattr(sys, "_base_executable", "") or sys.executable)
    # pyenv's shims are scripts that run one of the versions listed above; venvs' pythons are
    # symlinks to an interpreter: probe each real binary once.
    shims = str(root / "shims") + os.sep
    real = (os.path.realpath(path) for path in found if path and not path.startswith(shims))
    return list(dict.fromkeys(real))


def _probe(path: str) -> Interpreter | None:
    try:
        done = subprocess.run([path, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False)
        version, executable, prefix, implementation = json.loads(done.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError, TypeError):
        return None  # not runnable, Python 2, or no venv/ensurepip (Debian without python3-venv)
    if done.returncode != 0 or version[0] != 3:
        return None
    return Interpreter(executable, (version[0], version[1], version[2]), prefix, implementation)


@functools.cache
def _probe_cached(path: str) -> Interpreter | None:
    return _probe(path)


@functools.lru_cache(maxsize=1)
def interpreters() -> tuple[Interpreter, ...]:
    """Every usable Python 3 of this host, newest first, one per real binary."""
    seen: dict[str, Interpreter] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for found in pool.map(_probe_cached, _candidates()):
            if found is not None and found.executable not in seen:
                seen[found.executable] = found
    return tuple(sorted(seen.values(), key=lambda i: i.version, reverse=True))


def choose_python(requested: tuple[int, int] | None, *, task: str) -> tuple[Interpreter, str]:
    """The interpreter for a task asking for Python ``requested`` (``None``: it names none).

    Returns:
        The interpreter, and how it was chosen (for provenance): ``exact``, ``nearest`` or ``default``.

    Raises:
        SandboxError: this host has no usable Python 3; the message says how to install one.
    """
    wanted = requested or sys.version_info[:2]
    # Fast path: a binary named python3.X is probed alone before every candidate is.
    for path in _candidates():
        if os.path.basename(path) == f"python{wanted[0]}.{wanted[1]}":
            quick = _probe_cached(path)
            if quick is not None and quick.minor == wanted:
                return quick, "exact" if requested else "default"
    found = interpreters()
    if not found:
        raise SandboxError(
            f"{task}: no Python 3 interpreter with the venv and ensurepip modules on this host (looked in "
            f"pyenv's versions and for python3.X on PATH). Install one: `pyenv install 3.11`, or "
            "`apt-get install python3 python3-venv`; or use --backend docker"
        )
    if requested is None:
        own = sys.version_info[:2]
        same = [i for i in found if i.minor == own]
        return (same or list(found))[0], "default"
    exact = [i for i in found if i.minor == requested]
    if exact:
        return exact[0], "exact"
    # Nearest minor version of the same major; on a tie the older one (old pins break on new Pythons).
    best = min(found, key=lambda i: (abs(i.version[1] - requested[1]) + 100 * abs(i.version[0] - requested[0]),
                                      i.version[1] > requested[1]))  # fmt: skip
    return best, "nearest"


@dataclass(frozen=True)
class Tool:
    """A host toolchain command a task needs, where it lives and what a sandbox must see of it."""

    name: str
    path: str  # real path of the command
    version: str
    ro_paths: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


_HINTS = {
    "go": "install Go (`apt-get install golang-go`, or the archive from go.dev unpacked in /usr/local/go)",
    "cargo": "install Rust (`curl https://sh.rustup.rs | sh`, or `apt-get install cargo`)",
    "node": "install Node.js (`apt-get install nodejs npm`)",
    "npm": "install npm (`apt-get install npm`)",
    "npx": "install npm, which provides npx (`apt-get install npm`)",
    "pnpm": "install pnpm (`npm install -g pnpm`, or `corepack enable`)",
    "yarn": "install Yarn (`npm install -g yarn`, or `corepack enable`)",
}
_VERSION_ARGS = {"go": ["version"]}
# Where installers put these when their bin directory is not on PATH.
_EXTRA_DIRS = {
    "go": ["/usr/local/go/bin", "~/go/bin", "/usr/lib/go/bin"],
    "cargo": ["~/.cargo/bin"],
}
# What the runner or an install step runs, per command a task needs.
_USES = {
    "go": re.compile(r"\bgo\s+(test|build|mod|run|vet|get|install|generate)\b"),
    "cargo": re.compile(r"\bcargo\s+\w+|\brustup\b|sh\.rustup\.rs"),
    "pnpm": re.compile(r"\bpnpm\b"),
    "yarn": re.compile(r"\byarn\s+\w+"),
    "npx": re.compile(r"\bnpx\s+\w+"),
    "npm": re.compile(r"\bnpm\s+(run|test|ci|install|i|exec)\b"),
}
_FAMILY_TOOLS = {"go": ("go",), "rust": ("cargo",), "node": ("node",)}


def tools_needed(family: str, scripts: list[str]) -> dict[str, str]:
    """``{command: why}`` for the host commands a task needs (from its image family and its scripts)."""
    needed = {name: "its Dockerfile's base image" for name in _FAMILY_TOOLS.get(family, ())}
    for text in scripts:
        for name, pattern in _USES.items():
            match = pattern.search(text)
            if match and name not in needed:
                needed[name] = f"its scripts run `{match.group(0).strip()}`"
    if any(n in needed for n in ("npm", "npx", "pnpm", "yarn")):
        needed.setdefault("node", "its scripts run Node.js tools")
    return needed


def _locate(name: str) -> str | None:
    path = shutil.which(name)
    if path:
        return path
    for folder in _EXTRA_DIRS.get(name, []):
        candidate = Path(folder).expanduser() / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _home_dir(path: str, marker: str) -> str | None:
    """The ``~/.cargo``-like directory holding ``path``, when the command lives in one."""
    for parent in Path(path).parents:
        if parent.name == marker:
            return str(parent)
    return None


@functools.cache
def find_tool(name: str) -> Tool | None:
    """The host's ``name`` command with what a sandbox needs to run it, or ``None`` when there is none."""
    found = _locate(name)
    if found is None:
        return None
    real = os.path.realpath(found)
    ro = [str(Path(real).parent.parent)]
    env: list[tuple[str, str]] = []
    if name == "cargo":
        cargo_home = _home_dir(found, ".cargo")
        rustup = os.environ.get("RUSTUP_HOME") or str(Path.home() / ".rustup")
        if cargo_home:
            ro.append(os.path.realpath(cargo_home))
        if Path(rustup).is_dir():
            ro.append(os.path.realpath(rustup))
            env.append(("RUSTUP_HOME", os.path.realpath(rustup)))
    if name == "go":
        goroot = _run([found, "env", "GOROOT"])
        if goroot:
            ro.append(os.path.realpath(goroot))
    version = _run([found, *_VERSION_ARGS.get(name, ["--version"])], env=dict(env)) or "unknown"
    return Tool(name, found, version.splitlines()[0], tuple(dict.fromkeys(ro)), tuple(env))


def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                              env={**os.environ, **(env or {})})  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def require_tools(needed: dict[str, str], *, task: str) -> list[Tool]:
    """The host commands in ``needed``; every missing one named in one error with how to install it.

    Raises:
        SandboxError: at least one command is missing.
    """
    tools, missing = [], []
    for name, why in needed.items():
        tool = find_tool(name)
        if tool is None:
            missing.append(f"`{name}` ({why}): {_HINTS.get(name, f'install {name}')}")
        else:
            tools.append(tool)
    if missing:
        raise SandboxError(
            f"{task}: the local backend runs this task with the host's toolchains, and this host lacks "
            + "; ".join(missing)
            + f" (looked on PATH={os.environ.get('PATH', '')} and in the installers' usual folders). "
            "Install them, or run this task with --backend docker"
        )
    return tools
