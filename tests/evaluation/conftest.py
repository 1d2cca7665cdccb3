from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from cooperbench.backends.local import LocalBackend
from cooperbench.dataset import Pair, Task, discover_pairs, load_task

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dataset"


@pytest.fixture(scope="session")
def examples() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> LocalBackend:
    """The real local backend (bubblewrap), with its own template cache for this session."""
    return LocalBackend(cache_dir=tmp_path_factory.mktemp("local-cache"))


@pytest.fixture(scope="session")
def get_pair() -> Callable[[str, int, int, int], Pair]:
    def get(repo: str, task_id: int, a: int, b: int) -> Pair:
        (pair,) = discover_pairs(EXAMPLES, repo=repo, task_id=task_id, features=[a, b])
        return pair

    return get


def gold(pair: Pair, index: int) -> str:
    """The gold feature.patch of the pair's ``index``-th feature (0 or 1)."""
    return pair.task.feature_file(pair.features[index], "feature.patch").read_text()


@pytest.fixture
def task_copy(tmp_path: Path) -> Callable[[str, int], Task]:
    """A private copy of an example task folder, to break on purpose."""

    def copy(repo: str, task_id: int) -> Task:
        dest = tmp_path / "dataset" / repo / f"task{task_id}"
        shutil.copytree(EXAMPLES / repo / f"task{task_id}", dest)
        task = load_task(dest, repo)
        assert task is not None
        return task

    return copy
