"""Fixtures: the example dataset, the gold patches the scripted Codex teammates apply, a clean CLI environment."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
DATASET = REPO_ROOT / "examples" / "dataset"
TASK_DIR = DATASET / "textkit_task" / "task1"


@pytest.fixture(scope="session")
def dataset_dir() -> Path:
    return DATASET


@pytest.fixture(scope="session")
def gold() -> dict[int, str]:
    """The gold patches of textkit task 1's features 1 and 3."""
    return {f: (TASK_DIR / f"feature{f}" / "feature.patch").read_text() for f in (1, 3)}


@pytest.fixture
def secret_key() -> str:
    return f"sk-cooperbench-test-{secrets.token_hex(12)}"


def cli_env(tmp_path: Path, key: str | None) -> dict[str, str]:
    """The environment of a ``cooperbench`` subprocess: no user defaults, its own cache, the key (or none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOPERBENCH_") and k != "OPENAI_API_KEY"}
    env["COOPERBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    env["COOPERBENCH_CONFIG"] = str(tmp_path / "defaults.yaml")
    (tmp_path / "defaults.yaml").write_text("{}\n")
    if key is not None:
        env["OPENAI_API_KEY"] = key
    return env


def cooperbench_cli() -> str:
    return str(Path(sys.executable).with_name("cooperbench"))


@pytest.fixture(scope="session")
def local_run(tmp_path_factory: pytest.TempPathFactory):
    """A run on the ``local`` backend with textkit task 1's workspace template resolved (for in-process runs)."""
    from cooperbench.backends import get_backend
    from cooperbench.backends._context import ActiveRun
    from cooperbench.backends.base import RunLabels
    from cooperbench.dataset import load_task

    task = load_task(TASK_DIR)
    assert task is not None
    backend = get_backend("local", cache_dir=str(tmp_path_factory.mktemp("codex-local-cache")))
    ref = backend.resolve_image(task)
    labels = RunLabels("codex-test")
    yield ActiveRun(backend=backend, labels=labels, images={task.image_name(): ref}, backend_name="local"), task
    backend.cleanup(run_name="codex-test")
