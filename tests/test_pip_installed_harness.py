"""A harness installed as users install it (plain distributions, no pytest, no workspace) validates on local.

The task environments must not borrow anything from the harness's own environment: a venv that
holds only ``cooperbench`` and ``cooperbench-agent-miniswe`` (and their dependencies) has no
pytest, yet the example dataset's features pass there, because each task's venv has its own.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cooperbench.backends.local._toolchains import interpreters

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "examples" / "dataset"


def _uv() -> str:
    import uv

    return uv.find_uv_bin()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv on the oldest supported Python this host has (3.10+), with the two distributions only."""
    usable = [i for i in interpreters() if i.minor >= (3, 10)]
    assert usable, "a Python 3.10+ interpreter (pyenv) is needed"
    python = min(usable, key=lambda i: i.version).executable
    venv = tmp_path_factory.mktemp("pip-installed") / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT")}
    subprocess.run([_uv(), "venv", "-q", "--seed", "--python", python, str(venv)], check=True, env=env)
    # The same distributions `pip install ./ ./cooperbench-agent-miniswe` installs (uv is only faster at it).
    subprocess.run(
        [_uv(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(ROOT),
         str(ROOT / "cooperbench-agent-miniswe")],
        check=True, env=env, timeout=1200,
    )  # fmt: skip
    return venv


def test_the_installed_harness_has_no_pytest(installed: Path) -> None:
    done = subprocess.run([str(installed / "bin" / "python"), "-c", "import pytest"], capture_output=True)
    assert done.returncode != 0, "the harness must work without pytest in its environment"


def test_validate_passes_on_local_with_a_pip_installed_harness(installed: Path, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON", "PYTEST"))},
        "COOPERBENCH_CACHE_DIR": str(tmp_path / "cache"),
        "PATH": f"{installed / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # A clean pair and a union-merged pair of one task: each task environment is built and used.
    for features in ("1,3", "1,2"):
        done = subprocess.run(
            [str(installed / "bin" / "cooperbench"), "validate", "--dataset-dir", str(DATASET),
             "-r", "textkit_task", "-f", features, "--backend", "local", "--log-dir", str(tmp_path / "logs")],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "OK: 1 pair(s) and 2 feature(s) validated." in done.stdout
        assert "No module named pytest" not in done.stdout + done.stderr
        assert "textkit_task/1: Python 3.11." in done.stdout, "validate shows what the task's environment runs"
