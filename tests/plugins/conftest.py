"""Fixtures of the plugin-system tests: a fresh virtual environment and throwaway plugin distributions.

The tests install real distributions (a ``pyproject.toml`` with entry points in the
``cooperbench`` group, built by hatchling) into a virtual environment created for the test
session, holding only the core (editable, from this work tree) and its dependencies, and
drive it through subprocesses, as a user would after ``pip install``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

#: What a user's shell might carry that would change what the subprocesses see.
_SCRUBBED_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE", "PYTHONWARNINGS")


def _clean_env(pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV and not k.startswith("COOPERBENCH_")}
    # Bytecode goes to a private folder: start-up stays fast and the work tree stays clean.
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["NO_COLOR"] = "1"
    return env


@dataclass
class Venv:
    """A virtual environment holding the core, and the installer commands that change it."""

    path: Path
    uv: str | None
    base_env: dict[str, str] = field(repr=False)

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    @property
    def cooperbench(self) -> str:
        return str(self.path / "bin" / "cooperbench")

    def _installer(self, *args: str) -> list[str]:
        if self.uv:
            return [self.uv, "pip", args[0], "--python", self.python, *args[1:]]
        if args[0] == "uninstall":
            return [self.python, "-m", "pip", "uninstall", "-y", *args[1:]]
        return [self.python, "-m", "pip", *args]

    def _change(self, *args: str) -> None:
        proc = subprocess.run(self._installer(*args), env=self.base_env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"

    def install(self, *specs: str | Path, deps: bool = False) -> None:
        """Install distributions (folders, wheels or requirement strings)."""
        self._change("install", "-q", *([] if deps else ["--no-deps"]), *map(str, specs))

    def uninstall(self, *names: str) -> None:
        self._change("uninstall", "-q", *names)

    def run(
        self, *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of the environment (``cooperbench``, ``python``) with a clean environment."""
        return subprocess.run(
            list(argv),
            env={**self.base_env, **(env or {})},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(self.cooperbench, *args, env=env)

    def plugins(self, *args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """The rows of ``cooperbench plugins --json``; fails the test if the command fails."""
        proc = self.cli("plugins", "--json", *args, env=env)
        assert proc.returncode == 0, f"cooperbench plugins failed:\n{proc.stdout}\n{proc.stderr}"
        rows: list[dict[str, Any]] = json.loads(proc.stdout)
        return rows

    def python_json(self, code: str, env: dict[str, str] | None = None) -> Any:
        """Run ``code`` in the environment's Python and return what it printed as JSON on its last line."""
        proc = self.run(self.python, "-c", textwrap.dedent(code), env=env)
        assert proc.returncode == 0, f"python failed:\n{proc.stdout}\n{proc.stderr}"
        return json.loads(proc.stdout.strip().splitlines()[-1])


def _new_venv(root: Path) -> Venv:
    env = _clean_env(root / "pycache")
    uv = shutil.which("uv")
    path = root / "env"
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(path)], check=True, env=env)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, env=env)
    return Venv(path=path, uv=uv, base_env=env)


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh virtual environment with the core installed editable from this work tree, and nothing else."""
    venv = _new_venv(tmp_path_factory.mktemp("venv"))
    venv.install("-e", REPO_ROOT, deps=True)
    return venv


# Builds each folder's wheel through the PEP 517 hook, as pip and uv do, all in one process:
# an isolated build per distribution costs seconds on a busy machine.
_BUILD_WHEELS = """
import json, os, sys
from hatchling.build import build_wheel

out = sys.argv[1]
built = {}
for folder in sys.argv[2:]:
    os.chdir(folder)
    target = os.path.join(out, os.path.basename(folder))
    built[folder] = os.path.join(target, build_wheel(target))
print(json.dumps(built))
"""


@dataclass
class DistFactory:
    """Writes throwaway plugin distributions (a ``pyproject.toml`` and the modules of a package) and builds them."""

    root: Path
    builder: Venv
    _written: dict[str, str] = field(default_factory=dict)
    _wheels: dict[Path, Path] = field(default_factory=dict)

    def wheels(self, *folders: Path) -> list[Path]:
        """The wheels of distribution folders, built once each."""
        missing = [str(f) for f in folders if f not in self._wheels]
        if missing:
            out = self.root / "wheels"
            proc = self.builder.run(self.builder.python, "-c", _BUILD_WHEELS, str(out), *missing)
            assert proc.returncode == 0, f"building {missing} failed:\n{proc.stderr}"
            self._wheels.update({Path(k): Path(v) for k, v in json.loads(proc.stdout).items()})
        return [self._wheels[f] for f in folders]

    def __call__(
        self,
        name: str,
        files: dict[str, str],
        *,
        entry_points: dict[str, str] | None = None,
        version: str = "1.0.0",
    ) -> Path:
        """Write distribution ``name`` and return its folder (install it with :meth:`Venv.install`).

        Args:
            name: the distribution name, e.g. ``cbt-agent-hello``.
            files: module paths relative to the distribution root (``cbt_hello/plugin.py``) and their source.
            entry_points: entry point name to module in the ``cooperbench`` group; by default one,
                named after the distribution, pointing at ``<package>.plugin``.
            version: the distribution's version.
        """
        packages = sorted({Path(p).parts[0] for p in files})
        if entry_points is None:
            entry_points = {name.removeprefix("cbt-"): f"{packages[0]}.plugin"}
        folder = self.root / name
        signature = json.dumps([files, entry_points, version], sort_keys=True)
        if self._written.get(name) == signature:
            return folder  # written (and maybe built) by an earlier test
        self._written[name] = signature
        self._wheels.pop(folder, None)
        if folder.exists():
            shutil.rmtree(folder)
        for rel, source in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))
        for package in packages:
            (folder / package / "__init__.py").touch()
        eps = "\n".join(f'"{k}" = "{v}"' for k, v in entry_points.items())
        (folder / "pyproject.toml").write_text(
            textwrap.dedent(
                f"""\
                [project]
                name = "{name}"
                version = "{version}"
                requires-python = ">=3.10"
                dependencies = ["cooperbench"]

                [project.entry-points.cooperbench]
                """
            )
            + eps
            + textwrap.dedent(
                f"""

                [build-system]
                requires = ["hatchling"]
                build-backend = "hatchling.build"

                [tool.hatch.build.targets.wheel]
                packages = {json.dumps(packages)}
                """
            )
        )
        return folder


@pytest.fixture(scope="session")
def make_dist(tmp_path_factory: pytest.TempPathFactory) -> DistFactory:
    """``make_dist(name, files, *, entry_points=None, version="1.0.0") -> folder``."""
    builder = _new_venv(tmp_path_factory.mktemp("builder"))
    builder.install("hatchling", deps=True)
    return DistFactory(tmp_path_factory.mktemp("dists"), builder)


@dataclass
class Installer:
    """Installs distribution folders (as wheels) into the session venv; what is left is uninstalled afterwards."""

    venv: Venv
    factory: DistFactory
    installed: list[str] = field(default_factory=list)

    def __call__(self, *folders: Path) -> None:
        self.venv.install(*self.factory.wheels(*folders))
        self.installed.extend(f.name for f in folders)

    def uninstall(self, *names: str) -> None:
        self.venv.uninstall(*names)
        self.installed = [n for n in self.installed if n not in names]


@pytest.fixture
def install(venv: Venv, make_dist: DistFactory) -> Iterator[Installer]:
    """``install(*folders)`` for one test; ``install.uninstall(name)``; the rest is uninstalled afterwards."""
    installer = Installer(venv, make_dist)
    yield installer
    if installer.installed:
        venv.uninstall(*installer.installed)


def _agent_plugin(package: str, agent: str) -> dict[str, str]:
    """The files of a plugin registering one working agent class under ``agent``."""
    return {
        f"{package}/plugin.py": f"""\
            import cooperbench
            from cooperbench.agents import AgentResult


            class Runner:
                def run(self, task, image, **kwargs):
                    return AgentResult(status="Submitted", patch="from {agent}")


            @cooperbench.hookimpl
            def cooperbench_register_agents(register):
                register({agent!r}, Runner)
            """
    }


def _row(rows: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one listing row of ``kind`` named ``name``."""
    found = [r for r in rows if r["kind"] == kind and r["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r} in {json.dumps(rows, indent=1)}"
    return found[0]


@pytest.fixture(scope="session")
def hello_dist(make_dist: DistFactory) -> Path:
    """A healthy plugin distribution registering the agent ``hello``."""
    return make_dist("cbt-agent-hello", _agent_plugin("cbt_hello", "hello"), version="1.2.3")


@pytest.fixture(scope="session")
def agent_plugin() -> Callable[..., dict[str, str]]:
    """``agent_plugin(package, agent)``: the files of a plugin registering one working agent."""
    return _agent_plugin


@pytest.fixture(scope="session")
def row() -> Callable[[list[dict[str, Any]], str, str], dict[str, Any]]:
    """``row(rows, kind, name)``: the one row of ``cooperbench plugins --json`` for that plugin."""
    return _row
