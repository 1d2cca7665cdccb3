"""``cooperbench run --agent codex`` on the docker backend: the real Codex CLI bind-mounted read-only into the
task's container, its model the scripted test server behind the harness's model relay, with ``--git``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from codex_helpers import check_coop_and_solo

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def docker_engine() -> None:
    from cooperbench_backend_docker.testing import ensure_base_image

    from cooperbench.errors import SandboxError

    try:
        ensure_base_image()
    except SandboxError as exc:
        if os.environ.get("COOPERBENCH_REQUIRE_DOCKER") == "1" or "Cannot reach the Docker daemon" not in str(exc):
            raise
        pytest.skip(f"no Docker Engine: {exc}")


def test_codex_coop_with_git_and_solo_on_docker(
    docker_engine: None, tmp_path: Path, dataset_dir: Path, gold: dict[int, str], secret_key: str
):
    from cooperbench_backend_docker.backend import DockerBackend

    check_coop_and_solo(tmp_path, dataset_dir, gold, secret_key, backend="docker", git=True)
    assert DockerBackend().resources("codex-coop") == [] and DockerBackend().resources("codex-solo") == []
