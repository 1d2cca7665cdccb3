"""A task whose package is named `click` (a harness dependency): on docker its tests import the repository's code.

The fixture's `click` is version 99.0 with `FROM_THE_REPOSITORY = True`, which no released click
has; each feature's tests assert it. The task installs itself like the public Python tasks
(`pip install -e ".[test]"` in its Dockerfile and its runner.sh), so the image needs pip and
the package index: the test base image with a venv first on PATH.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def pip_base_image() -> str:
    from cooperbench_backend_docker.testing import ensure_base_image, ensure_pip_base_image

    from cooperbench.errors import SandboxError

    try:
        return ensure_pip_base_image(base_image=ensure_base_image())
    except SandboxError as exc:
        if os.environ.get("COOPERBENCH_REQUIRE_DOCKER") == "1" or "Cannot reach the Docker daemon" not in str(exc):
            raise
        pytest.skip(f"no Docker Engine: {exc}")


def test_click_task_is_graded_against_the_repositorys_click(tmp_path: Path, pip_base_image: str):
    import click  # the harness's own, through typer
    from cooperbench_backend_docker.backend import DockerBackend

    from cooperbench.testing.task_fixtures import task_named_like_a_harness_dependency

    assert not hasattr(click, "FROM_THE_REPOSITORY"), "the harness's click must differ from the task's"
    dataset = tmp_path / "dataset"
    task = task_named_like_a_harness_dependency(dataset)
    prefix = f"cbtest-click-{secrets.token_hex(3)}-"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"backend:\n  name: docker\n  pull: false\n  image_prefix: {prefix}\n"
        f"  build_args: {{BASE_IMAGE: '{pip_base_image}'}}\n"
    )
    run_name = f"docker-click-{os.getpid()}"
    logs = tmp_path / "logs"
    command = [sys.executable, "-m", "cooperbench", "run", "--backend", "docker", "-a", "oracle", "-n", run_name]
    command += ["--agent-config", str(config), "--dataset-dir", str(dataset), "--log-dir", str(logs)]
    command += ["-r", "click_task", "--no-messaging", "--policy", "paper"]  # both features edit click/__init__.py
    backend = DockerBackend(pull=False)
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=1500, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        pair = logs / run_name / "coop" / "click_task" / "1" / "f1_f2"
        assert (pair / "eval.json").is_file(), f"no evaluation; the run said:\n{proc.stdout}{proc.stderr}"
        evaluation = json.loads((pair / "eval.json").read_text())
        for key in ("feature1", "feature2"):
            feature = evaluation[key]
            assert feature["passed"] and feature["tests_passed"] >= 1, feature["test_output"][-3000:]
        assert evaluation["both_passed"]
        assert backend.resources(run_name) == []
    finally:
        backend.cleanup(run_name=run_name)
        image = task.image_name(prefix)
        if backend.client.images.list(name=image.rpartition(":")[0]):
            backend.client.images.remove(image, force=True)
