"""The isolation suite against the real ``local`` backend (bubblewrap, slirp4netns, cgroups)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cooperbench.backends.base import Backend
from cooperbench.backends.local import LocalBackend
from cooperbench.testing.isolation import BackendIsolation


class TestLocalIsolation(BackendIsolation):
    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls, tmp_path_factory: pytest.TempPathFactory) -> LocalBackend:
        return LocalBackend(cache_dir=tmp_path_factory.mktemp("local-isolation-cache"))

    @classmethod
    def secret_paths(cls, backend: Backend) -> tuple[Path, ...]:
        assert isinstance(backend, LocalBackend)
        backend.templates_dir.mkdir(parents=True, exist_ok=True)
        return (backend.cache_dir, backend.templates_dir)
