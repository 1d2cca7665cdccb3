"""Fixtures: a real ``local`` sandbox backend, bound as the active run like the harness binds it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cooperbench.backends import RunLabels
from cooperbench.backends._context import ActiveRun, bind_run
from cooperbench.backends.local import LocalBackend
from cooperbench.testing.conformance import default_task

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # for `miniswe_helpers` (tests are imported with --import-mode=importlib)
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def local_backend(tmp_path_factory: pytest.TempPathFactory) -> LocalBackend:
    return LocalBackend(cache_dir=tmp_path_factory.mktemp("miniswe-cache"))


@pytest.fixture(scope="session")
def task_image(local_backend: LocalBackend) -> str:
    """The example task's workspace template (built once per session)."""
    return local_backend.resolve_image(default_task())


@pytest.fixture
def active_run(local_backend: LocalBackend) -> Iterator[ActiveRun]:
    """The run agents' sandboxes land on, as the harness binds it around an agent."""
    run = ActiveRun(backend=local_backend, labels=RunLabels("miniswe-tests"), backend_name="local")
    with bind_run(run):
        yield run


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path
