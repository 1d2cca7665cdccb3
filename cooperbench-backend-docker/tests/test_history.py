"""History: an agent sandbox's repository holds the base commit and its ancestors, nothing newer (#9.5).

The task fixture's repository goes two commits past its base, with a tag and another branch on
the future commits, the second of which implements feature 1 (as upstream's later history does).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import docker
import pytest
from cooperbench_backend_docker._images import LABEL_HISTORY_CUT, scrub_version
from cooperbench_backend_docker.backend import DockerBackend

from cooperbench.backends.base import REPO_DIR, RunLabels
from cooperbench.git_history import leak_probe_script
from cooperbench.testing.task_fixtures import FutureHistoryTask, task_with_future_history

pytestmark = pytest.mark.docker

PREFIX = "cooperbench-test-docker-history-"


@pytest.fixture(scope="module")
def future(tmp_path_factory: pytest.TempPathFactory) -> FutureHistoryTask:
    return task_with_future_history(tmp_path_factory.mktemp("future"))


@pytest.fixture(scope="module")
def history_backend(base_image: str) -> DockerBackend:
    # A prefix of its own: the fixture's task has the example task's name but other content.
    return DockerBackend(build_args={"BASE_IMAGE": base_image}, pull=False, image_prefix=PREFIX)


@pytest.fixture(scope="module")
def future_image(history_backend: DockerBackend, future: FutureHistoryTask) -> str:
    image = history_backend.resolve_image(future.task)
    yield image
    # another test of the docker group may have removed it already (an images prune of unselected tasks)
    with contextlib.suppress(docker.errors.ImageNotFound):
        history_backend.client.images.remove(image, force=True)


def test_nothing_after_the_base_is_visible_in_an_agent_sandbox(
    history_backend: DockerBackend, future: FutureHistoryTask, future_image: str
):
    run = RunLabels("test-docker-history")
    box = history_backend.create_sandbox(future_image, run=run)
    try:
        assert box.exec("git rev-parse HEAD").output.strip() == future.base
        probe = box.exec(leak_probe_script(REPO_DIR, future.base))
        assert probe.returncode == 0 and probe.output == "", f"the history goes past the base:\n{probe.output}"
        everything = box.exec(
            "git log --all --format='%H %s'; git tag; git branch -a; git remote -v; git reflog 2>&1; "
            "git cat-file --batch-all-objects --batch-check; "
            f"grep -rl {future.marker} .git 2>/dev/null; git rev-list --all"
        ).output
        assert future.marker not in everything
        for commit in future.future_commits:
            assert commit not in everything
            assert box.exec(f"git cat-file -e {commit}").returncode != 0, f"future commit {commit} is readable"
        assert future.tag not in everything and future.branch not in everything
        assert box.exec("git status --porcelain").output == "", "the working tree is the base, clean"
    finally:
        box.cleanup()
        history_backend.cleanup(run_name=run.run_name)


def test_the_cut_is_made_once_per_image_and_recorded(
    history_backend: DockerBackend, future: FutureHistoryTask, future_image: str
):
    api = history_backend.client.api
    first = api.inspect_image(future_image)["Id"]
    assert history_backend.resolve_image(future.task) == future_image
    assert api.inspect_image(future_image)["Id"] == first, "an image already cut is not rebuilt"
    labels = api.inspect_image(future_image)["Config"]["Labels"]
    assert labels[LABEL_HISTORY_CUT] == scrub_version()
    provenance = history_backend.image_provenance(future_image)
    assert provenance["id"] == first and provenance["history_cut_from"] not in (None, first)
    assert provenance["task_hash"] == future.task.content_hash
    config = api.inspect_image(future_image)["Config"]
    assert config["Entrypoint"] == ["/usr/local/bin/runner.sh"], "the cut keeps the image's own configuration"
    assert config["WorkingDir"] == REPO_DIR


def test_an_image_without_a_repository_is_a_clear_error(
    history_backend: DockerBackend, base_image: str, tmp_path: Path
):
    from cooperbench_backend_docker._images import ensure_history_cut

    from cooperbench.errors import SandboxError

    tag = f"{PREFIX}norepo:1"
    history_backend.client.api.tag(base_image, f"{PREFIX}norepo", "1")
    try:
        with pytest.raises(SandboxError, match=r"cutting the repository history of image .*norepo:1.*/workspace/repo"):
            ensure_history_cut(history_backend.client, tag, timeout=300, base_url=None)
    finally:
        history_backend.client.images.remove(tag, force=True)
