"""Fixtures of the agents' end-to-end tests: one local-backend cache for the session (templates built once)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # for `e2e_helpers` (tests are imported with --import-mode=importlib)
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``COOPERBENCH_CACHE_DIR`` of every run of the session: each task's workspace template is built once."""
    return tmp_path_factory.mktemp("e2e-cache")
