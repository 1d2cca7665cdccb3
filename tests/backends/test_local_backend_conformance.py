"""The conformance suite against the real ``local`` backend (bubblewrap)."""

from __future__ import annotations

import pytest

from cooperbench.backends.local import LocalBackend
from cooperbench.testing.conformance import BackendConformance


class TestLocalBackend(BackendConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls, tmp_path_factory: pytest.TempPathFactory) -> LocalBackend:
        return LocalBackend(cache_dir=tmp_path_factory.mktemp("local-cache"))
