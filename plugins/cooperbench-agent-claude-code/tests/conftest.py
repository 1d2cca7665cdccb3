"""Fixtures of the claude_code tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # for `claude_code_helpers` (tests are imported with --import-mode=importlib)
    sys.path.insert(0, str(HERE))

from claude_code_helpers import new_key  # noqa: E402


@pytest.fixture
def api_key() -> str:
    """A key of this test alone, so finding it anywhere means it leaked from this run."""
    return new_key()


@pytest.fixture(scope="session")
def local_run(tmp_path_factory: pytest.TempPathFactory):
    """A run on the ``local`` backend with textkit task 1's workspace template built, for the runner's own tests."""
    from claude_code_helpers import TASK_DIR

    from cooperbench.backends import get_backend
    from cooperbench.backends._context import ActiveRun
    from cooperbench.backends.base import RunLabels
    from cooperbench.dataset import load_task

    task = load_task(TASK_DIR)
    assert task is not None
    backend = get_backend("local", cache_dir=str(tmp_path_factory.mktemp("local-cache")))
    run = ActiveRun(
        backend=backend,
        labels=RunLabels("cc-test"),
        images={task.image_name(): backend.resolve_image(task)},
        backend_name="local",
    )
    yield task, run
    backend.cleanup(run_name="cc-test")
