from __future__ import annotations

import pytest

from cooperbench.dataset import Task
from cooperbench.testing.conformance import default_task


@pytest.fixture(scope="session")
def example_task() -> Task:
    """The first task of examples/dataset (the suite's default task)."""
    return default_task()
