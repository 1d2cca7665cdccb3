"""Fixtures shared by the GCP backend's tests: the fake Google Cloud and the first example task."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cooperbench_backend_gcp.testing import FakeGoogleCloud

from cooperbench.dataset import Task, load_tasks

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dataset"


@pytest.fixture()
def cloud() -> Iterator[FakeGoogleCloud]:
    fake = FakeGoogleCloud()
    yield fake
    fake.close()


@pytest.fixture()
def task() -> Task:
    return load_tasks(EXAMPLES)[0]
