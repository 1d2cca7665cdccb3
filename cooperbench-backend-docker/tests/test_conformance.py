"""The docker backend against the shared backend conformance suite (real Docker Engine)."""

from __future__ import annotations

import pytest
from cooperbench_backend_docker.backend import DockerBackend
from cooperbench_backend_docker.testing import ensure_base_image

from cooperbench.backends.base import Backend
from cooperbench.testing.conformance import BackendConformance

pytestmark = pytest.mark.docker


class TestDockerConformance(BackendConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls, docker_available: None) -> Backend:
        base = ensure_base_image()
        return DockerBackend(build_args={"BASE_IMAGE": base}, pull=False, git_image=base)
