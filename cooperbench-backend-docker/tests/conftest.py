"""Fixtures for the docker backend's tests, all against the real Docker Engine.

Images come from :mod:`cooperbench_backend_docker.testing` (a debootstrapped Debian base, and
the example dataset's task images built on it), built once and cached by tag. When no
daemon answers, the docker tests are skipped, unless ``COOPERBENCH_REQUIRE_DOCKER=1`` (set
it in CI) turns that into a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from cooperbench_backend_docker.backend import DockerBackend
from cooperbench_backend_docker.testing import ensure_base_image, ensure_task_images

from cooperbench.backends.base import RunLabels
from cooperbench.dataset import Task, load_tasks
from cooperbench.errors import SandboxError

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "examples" / "dataset"


@pytest.fixture(scope="session")
def docker_available() -> None:
    try:
        DockerBackend().client.ping()
    except SandboxError as exc:
        if os.environ.get("COOPERBENCH_REQUIRE_DOCKER") == "1":
            pytest.fail(f"COOPERBENCH_REQUIRE_DOCKER=1 but {exc}")
        pytest.skip(f"no Docker Engine: {exc}")


@pytest.fixture(scope="session")
def base_image(docker_available: None) -> str:
    """The Debian test base image (built with debootstrap the first time, then reused)."""
    return ensure_base_image()


@pytest.fixture(scope="session")
def task_images(base_image: str) -> dict[str, str]:
    """``{task key: image}`` of the example dataset, built on the base image."""
    return ensure_task_images(DATASET, base_image=base_image)


@pytest.fixture(scope="session")
def example_tasks() -> list[Task]:
    return load_tasks(DATASET)


@pytest.fixture
def backend(base_image: str) -> DockerBackend:
    """A backend that builds on the test base image, never pulls, and runs its git server on the base image."""
    return DockerBackend(build_args={"BASE_IMAGE": base_image}, pull=False, git_image=base_image, exec_timeout=60)


@pytest.fixture
def run(backend: DockerBackend) -> Iterator[RunLabels]:
    """A run of a name unique to this test; whatever is left of it is removed afterwards."""
    labels = RunLabels(f"test-{secrets.token_hex(4)}")
    yield labels
    backend.cleanup(run_name=labels.run_name)


@pytest.fixture
def task_image(task_images: dict[str, str], example_tasks: list[Task]) -> str:
    return task_images[example_tasks[0].key]


@pytest.fixture
def sandbox(backend: DockerBackend, run: RunLabels, task_image: str) -> Iterator[object]:
    box = backend.create_sandbox(task_image, run=run)
    yield box
    box.cleanup()
