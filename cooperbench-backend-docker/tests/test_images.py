"""Task images (local, pulled or built) and the containers made from them."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cooperbench_backend_docker.backend import DockerBackend

from cooperbench.dataset import Task
from cooperbench.errors import SandboxError

pytestmark = pytest.mark.docker


# A task image holds a repository at /workspace/repo (the backend cuts its history once per image).
REPO = (
    "RUN git init -q /workspace/repo && "
    "git -C /workspace/repo -c user.name=t -c user.email=t@t commit -q --allow-empty -m base\n"
)


def make_task(folder: Path, dockerfile: str | None) -> Task:
    folder.mkdir(parents=True, exist_ok=True)
    if dockerfile is not None:
        (folder / "Dockerfile").write_text(dockerfile)
    return Task(repo="probe_task", task_id=1, path=folder, feature_ids=(1,))


@pytest.fixture
def prefix(backend: DockerBackend) -> Iterator[str]:
    """An image prefix of this test only; its images are removed afterwards."""
    value = f"cooperbench-test-{secrets.token_hex(4)}-"
    yield value
    for image in backend.client.images.list(name=f"{value}probe"):
        backend.client.images.remove(image.id, force=True)


def test_resolve_finds_the_local_image_without_building(backend, example_tasks, task_images):
    task = example_tasks[0]
    start = time.monotonic()
    assert backend.resolve_image(task) == task.image_name() == task_images[task.key]
    assert time.monotonic() - start < 5


def test_builds_from_the_dockerfile_with_build_args_and_clears_its_entrypoint(tmp_path, base_image, prefix, run):
    dockerfile = (
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nARG GREETING\n"
        f'{REPO}RUN echo "$GREETING" > /greeting\nENTRYPOINT ["/bin/false"]\n'
    )
    task = make_task(tmp_path / "task", dockerfile)
    backend = DockerBackend(image_prefix=prefix, build_args={"BASE_IMAGE": base_image, "GREETING": "built here"})
    image = backend.resolve_image(task)
    assert image == f"{prefix}probe:task1"
    assert backend.client.images.get(image).labels["cooperbench.task"] == "probe_task/1"
    assert backend.client.api.inspect_image(image)["Config"]["Entrypoint"] == ["/bin/false"], "kept by the cut"
    box = backend.create_sandbox(image, run=run)
    try:
        assert box.read_file("/greeting") == b"built here\n"
    finally:
        box.cleanup()


def test_an_image_built_from_an_older_task_folder_is_rebuilt(tmp_path, base_image, prefix, run):
    task = make_task(tmp_path / "task", f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\n{REPO}COPY marker /marker\n")
    (task.path / "marker").write_text("version 1\n")
    backend = DockerBackend(image_prefix=prefix, build_args={"BASE_IMAGE": base_image}, pull=False)
    first = backend.client.images.get(backend.resolve_image(task)).id
    assert backend.client.images.get(backend.resolve_image(task)).id == first, "an unchanged folder reuses the image"
    (task.path / "marker").write_text("version 2\n")
    changed = Task(task.repo, task.task_id, task.path, task.feature_ids)  # content_hash is cached per Task
    image = backend.resolve_image(changed)
    assert backend.client.images.get(image).id != first
    box = backend.create_sandbox(image, run=run)
    try:
        assert box.read_file("/marker") == b"version 2\n"
    finally:
        box.cleanup()
        backend.client.images.remove(first, force=True)  # untagged by the rebuild


def test_failing_dockerfile_raises_with_the_build_log_and_the_fix(tmp_path, base_image, prefix):
    task = make_task(tmp_path / "task", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo about to fail && exit 3\n")
    backend = DockerBackend(image_prefix=prefix, build_args={"BASE_IMAGE": base_image}, pull=False)
    with pytest.raises(SandboxError) as caught:
        backend.resolve_image(task)
    message = str(caught.value)
    assert f"{prefix}probe:task1" in message
    assert str(tmp_path / "task" / "Dockerfile") in message
    assert "about to fail" in message and "3" in message
    assert "build_args" in message
    assert not backend.client.images.list(name=f"{prefix}probe")


def test_missing_image_without_dockerfile_fails_fast_after_trying_the_registry(tmp_path, prefix, docker_available):
    task = make_task(tmp_path / "task", None)
    backend = DockerBackend(image_prefix=prefix, pull=True, pull_timeout=10)
    start = time.monotonic()
    with pytest.raises(SandboxError) as caught:
        backend.resolve_image(task)
    assert time.monotonic() - start < 20
    message = str(caught.value)
    assert f"{prefix}probe:task1" in message
    assert "could not be pulled" in message and "must be built" in message
    assert "Dockerfile" in message and "image_prefix" in message


def test_sandbox_of_an_unknown_image_names_it(backend, run):
    with pytest.raises(SandboxError, match=r"no-such-image-for-cooperbench:1.*resolve_image"):
        backend.create_sandbox("no-such-image-for-cooperbench:1", run=run)


def test_containers_carry_run_labels_limits_and_no_entrypoint(base_image, task_image, run):
    backend = DockerBackend(cpus=0.5, memory="256m")
    box = backend.create_sandbox(task_image, run=run, purpose="eval")
    try:
        info = backend.client.api.inspect_container(box.container_id)
        labels = info["Config"]["Labels"]
        for key, value in run.as_labels().items():
            assert labels[key] == value
        assert labels["cooperbench.backend"] == "docker"
        assert labels["cooperbench.purpose"] == "eval"
        assert info["Config"]["Entrypoint"] in ([], None)
        assert info["HostConfig"]["NanoCpus"] == 500_000_000
        assert info["HostConfig"]["Memory"] == 256 * 1024 * 1024
        limit = box.exec("cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
        assert limit.output.strip() == str(256 * 1024 * 1024)
    finally:
        box.cleanup()


def test_a_sandbox_stops_by_itself_at_the_end_of_its_lifetime(task_image, run):
    backend = DockerBackend(lifetime=2)
    box = backend.create_sandbox(task_image, run=run)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and backend.client.api.containers(filters={"id": box.container_id}):
        time.sleep(0.5)
    with pytest.raises(SandboxError, match="is gone"):
        box.exec("true")
