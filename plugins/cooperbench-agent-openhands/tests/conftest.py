"""Fixtures: real ``local`` sandboxes of the example dataset, bound as a run, and the scripted LLM server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cooperbench.backends import get_backend
from cooperbench.backends._context import ActiveRun, bind_run
from cooperbench.backends.base import RunLabels
from cooperbench.dataset import Task, load_task
from cooperbench.testing.llm_server import Usage

REPO_ROOT = Path(__file__).resolve().parents[3]
DATASET = REPO_ROOT / "examples" / "dataset"
TASK_DIR = DATASET / "textkit_task" / "task1"


@pytest.fixture(scope="session")
def task() -> Task:
    loaded = load_task(TASK_DIR)
    assert loaded is not None
    return loaded


@pytest.fixture(scope="session")
def local_run(task: Task, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActiveRun]:
    """The run sandboxes land in: the ``local`` backend with the task's workspace template resolved."""
    backend = get_backend("local", cache_dir=str(tmp_path_factory.mktemp("local-cache")))
    ref = backend.resolve_image(task)
    run = ActiveRun(backend=backend, labels=RunLabels("oh-test"), images={task.image_name(): ref}, backend_name="local")
    yield run
    backend.cleanup(run_name="oh-test")


@pytest.fixture
def bound(local_run: ActiveRun) -> Iterator[ActiveRun]:
    with bind_run(local_run):
        yield local_run


@dataclass(frozen=True)
class Pricing:
    """The per-token prices the tests configure, so an agent's cost can be checked exactly."""

    input: float = 0.001
    output: float = 0.002

    def cost(self, usage: Usage, calls: int) -> float:
        return calls * (usage.prompt_tokens * self.input + usage.completion_tokens * self.output)


@pytest.fixture(scope="session")
def pricing() -> Pricing:
    return Pricing()


@pytest.fixture(scope="session")
def dataset_dir() -> Path:
    return DATASET


@pytest.fixture(scope="session")
def agent_config(pricing: Pricing) -> Callable[..., dict[str, Any]]:
    """``agent_config(base_url, **sections)``: a ``config`` pointing the agent at the test server, priced."""

    def make(base_url: str, **extra: Any) -> dict[str, Any]:
        model = {
            "api_base": base_url,
            "api_key": "test-key",
            "input_cost_per_token": pricing.input,
            "output_cost_per_token": pricing.output,
            "num_retries": 0,
            **extra.pop("model", {}),
        }
        return {"model": model, **extra}

    return make
