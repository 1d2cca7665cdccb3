"""`cooperbench images pull|build|list|prune` against a real local registry, and image digests in config.json.

The registry is Debian's `docker-registry`, started on a port of its own; the example tasks'
images are pushed to it once under a prefix of this session, so pulling them is a real pull
and nothing of another engineer's (or run's) images is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest
from cooperbench_backend_docker.backend import DockerBackend
from cooperbench_backend_docker.testing import LocalRegistry

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "examples" / "dataset"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cooperbench", *args], capture_output=True, text=True, timeout=900, cwd=cwd
    )


def _remove(backend: DockerBackend, name: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        backend.client.api.remove_image(name, force=True)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, docker_available: None) -> Iterator[LocalRegistry]:
    with LocalRegistry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="module")
def published(registry: LocalRegistry, task_images: dict[str, str], example_tasks) -> Iterator[str]:
    """The image prefix under which every example task's image is in the registry (and not local)."""
    backend = DockerBackend(pull=False)
    prefix = f"{registry.address}/cbtest-{secrets.token_hex(3)}-"
    names = []
    for task in example_tasks:
        name = task.image_name(prefix)
        repository, _, tag = name.rpartition(":")
        backend.client.api.tag(task_images[task.key], repository, tag)
        for message in backend.client.api.push(repository, tag=tag, stream=True, decode=True):
            assert "error" not in message, message
        _remove(backend, name)
        names.append(name)
    yield prefix
    for name in names:
        _remove(backend, name)


def test_pull_fetches_the_selected_tasks_images_with_their_digests(published: str, example_tasks):
    backend = DockerBackend(pull=False)
    textkit = next(t for t in example_tasks if t.repo == "textkit_task").image_name(published)
    minicalc = next(t for t in example_tasks if t.repo == "minicalc_task").image_name(published)
    try:
        pulled = cli("images", "pull", "--dataset-dir", str(DATASET), "--image-prefix", published, "-r", "textkit_task")
        assert pulled.returncode == 0, pulled.stdout + pulled.stderr
        provenance = backend.image_provenance(textkit)
        digest = provenance["registry_digest"]
        assert digest.startswith(f"{published}textkit@sha256:"), provenance
        assert f"{textkit}: pulled in" in pulled.stdout and digest in pulled.stdout and "MB" in pulled.stdout
        assert "1 image(s) present" in pulled.stdout
        with pytest.raises(docker.errors.ImageNotFound):
            backend.client.images.get(minicalc)  # not selected, not pulled

        listed = cli("images", "list", "--dataset-dir", str(DATASET), "--image-prefix", published, "--json")
        assert listed.returncode == 0, listed.stderr
        rows = {r["task"]: r for r in json.loads(listed.stdout)["images"]}
        assert rows["textkit_task/1"]["present"] and rows["textkit_task/1"]["history_cut"]
        assert rows["textkit_task/1"]["digest"] == digest and rows["textkit_task/1"]["size"] > 0
        assert rows["minicalc_task/2"] == {"task": "minicalc_task/2", "image": minicalc, "present": False}
        table = cli("images", "list", "--dataset-dir", str(DATASET), "--image-prefix", published)
        assert "1 of 2 image(s) present (1 missing)" in table.stdout and "on disk" in table.stdout
    finally:
        _remove(backend, textkit)


def test_pull_names_the_digest_of_the_registry_pulled_from_when_the_image_is_in_two(
    published: str, task_images: dict[str, str], example_tasks, tmp_path: Path
):
    """The same image id pushed to a second registry carries both digests; pull names its own."""
    backend = DockerBackend(pull=False)
    textkit_task = next(t for t in example_tasks if t.repo == "textkit_task")
    textkit = textkit_task.image_name(published)
    with LocalRegistry(tmp_path / "second") as second:
        elsewhere = textkit_task.image_name(f"{second.address}/cbtest-other-")
        repository, _, tag = elsewhere.rpartition(":")
        backend.client.api.tag(task_images[textkit_task.key], repository, tag)
        try:
            for message in backend.client.api.push(repository, tag=tag, stream=True, decode=True):
                assert "error" not in message, message
            selected = ("--dataset-dir", str(DATASET), "--image-prefix", published, "-r", "textkit_task")
            pulled = cli("images", "pull", *selected)
            assert pulled.returncode == 0, pulled.stdout + pulled.stderr
            provenance = backend.image_provenance(textkit)
            assert provenance["registry_digest"].startswith(f"{published}textkit@sha256:"), provenance
            assert f"from {provenance['registry_digest']}" in pulled.stdout
        finally:
            _remove(backend, elsewhere)
            _remove(backend, textkit)


def test_prune_removes_only_images_of_tasks_not_selected(published: str, example_tasks):
    backend = DockerBackend(pull=False)
    names = {t.repo: t.image_name(published) for t in example_tasks}
    repository = names["textkit_task"].rpartition(":")[0]
    backend.client.api.tag(names["textkit_task"].replace(published, "akhatua/cooperbench-"), repository, "latest")
    not_a_task_image = f"{repository}:latest"
    try:
        pulled = cli("images", "pull", "--dataset-dir", str(DATASET), "--image-prefix", published)
        assert pulled.returncode == 0, pulled.stdout + pulled.stderr
        dry = cli(
            "images",
            "prune",
            "--dataset-dir",
            str(DATASET),
            "--image-prefix",
            published,
            "-r",
            "textkit_task",
            "--dry-run",
        )
        assert dry.returncode == 0 and f"would remove {names['minicalc_task']}" in dry.stdout
        assert backend.client.images.get(names["minicalc_task"]), "a dry run removes nothing"
        pruned = cli(
            "images", "prune", "--dataset-dir", str(DATASET), "--image-prefix", published, "-r", "textkit_task"
        )
        assert pruned.returncode == 0, pruned.stdout + pruned.stderr
        assert f"removed {names['minicalc_task']}" in pruned.stdout and "removed 1 image(s)" in pruned.stdout
        with pytest.raises(docker.errors.ImageNotFound):
            backend.client.images.get(names["minicalc_task"])
        assert backend.client.images.get(names["textkit_task"]), "the selected task's image stays"
        assert backend.client.images.get(not_a_task_image), "an image not named like a task image stays"
        assert backend.client.images.get("akhatua/cooperbench-textkit:task1"), "another prefix's images stay"
        again = cli("images", "prune", "--dataset-dir", str(DATASET), "--image-prefix", published, "-r", "textkit_task")
        assert "nothing to remove" in again.stdout
    finally:
        for name in (*names.values(), not_a_task_image):
            _remove(backend, name)


def test_pull_from_a_registry_that_does_not_answer_names_the_image_and_fails(tmp_path: Path, docker_available: None):
    import socket

    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        prefix = f"127.0.0.1:{closed.getsockname()[1]}/cbtest-down-"
        result = cli("images", "pull", "--dataset-dir", str(DATASET), "--image-prefix", prefix, "-r", "textkit_task")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{prefix}textkit:task1" in result.stderr and "could not be pulled" in result.stderr


def test_build_builds_cuts_history_and_then_knows_it_is_up_to_date(tmp_path: Path, base_image: str):
    prefix = f"cbtest-build-{secrets.token_hex(3)}-"
    config = tmp_path / "config.yaml"
    config.write_text(f"backend:\n  name: docker\n  build_args: {{BASE_IMAGE: '{base_image}'}}\n")
    args = ["images", "build", "--dataset-dir", str(DATASET), "--image-prefix", prefix, "-r", "textkit_task"]
    backend = DockerBackend(pull=False)
    try:
        built = cli(*args, "--agent-config", str(config))
        assert built.returncode == 0, built.stdout + built.stderr
        assert f"{prefix}textkit:task1: built in" in built.stdout
        labels = backend.client.images.get(f"{prefix}textkit:task1").labels
        assert labels["cooperbench.history_cut"] and labels["cooperbench.task"] == "textkit_task/1"
        again = cli(*args, "--agent-config", str(config))
        assert "up to date" in again.stdout
    finally:
        _remove(backend, f"{prefix}textkit:task1")


def test_selection_and_config_errors_are_clear(tmp_path: Path):
    missing = cli("images", "list", "--dataset-dir", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "nope" in missing.stderr
    none = cli("images", "list", "--dataset-dir", str(DATASET), "-r", "no_such_task")
    assert none.returncode == 2 and "no task selected" in none.stderr
    config = tmp_path / "modal.yaml"
    config.write_text("backend: modal\n")
    other = cli("images", "list", "--dataset-dir", str(DATASET), "--agent-config", str(config))
    assert other.returncode == 2 and "works on the docker backend" in other.stderr


def test_a_run_records_the_digest_of_each_image_in_config_json(published: str, tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(f"backend:\n  name: docker\n  image_prefix: '{published}'\n  pull: true\n")
    run_name = f"docker-digests-{os.getpid()}"
    logs = tmp_path / "logs"
    backend = DockerBackend(pull=False)
    try:
        result = cli(
            "run", "--backend", "docker", "-a", "oracle", "-n", run_name, "-r", "textkit_task", "-f", "1,2",
            "--agent-config", str(config), "--dataset-dir", str(DATASET), "--log-dir", str(logs), "--no-messaging",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        provenance = json.loads((logs / run_name / "config.json").read_text())["provenance"]
        ((name, details),) = provenance["image_details"].items()
        assert name == "akhatua/cooperbench-textkit:task1", "keyed by the name agents are given"
        digest = details["registry_digest"]
        assert digest.startswith(f"{published}textkit@sha256:"), details
        assert details["id"].startswith("sha256:")
        assert backend.resources(run_name) == []
    finally:
        _remove(backend, f"{published}textkit:task1")
        backend.cleanup(run_name=run_name)
