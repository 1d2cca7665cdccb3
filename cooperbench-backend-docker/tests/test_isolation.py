"""The isolation suite (cooperbench.testing.isolation) on the docker backend, on the real Docker Engine."""

from __future__ import annotations

import pytest
from cooperbench_backend_docker.backend import DockerBackend
from cooperbench_backend_docker.testing import ensure_base_image

from cooperbench.backends.base import Backend
from cooperbench.testing.isolation import BackendIsolation

pytestmark = pytest.mark.docker


class TestDockerIsolation(BackendIsolation):
    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls, docker_available: None) -> Backend:
        base = ensure_base_image()
        # A prefix of its own: the history probe builds a copy of the example task with more history
        # under the task's name, which must not replace the image every other test uses.
        return DockerBackend(
            build_args={"BASE_IMAGE": base},
            pull=False,
            git_image=base,
            firewall="require",
            image_prefix="cooperbench-test-isolation-",
        )
