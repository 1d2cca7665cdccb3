"""A Docker daemon that is down, and bad options: one clear error naming the cause and the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cooperbench_backend_docker.backend import DockerBackend
from cooperbench_backend_docker.testing import ensure_base_image

from cooperbench.backends import RunLabels, get_backend
from cooperbench.dataset import Task
from cooperbench.errors import ConfigError, SandboxError

DOWN = "unix:///nonexistent.sock"


@pytest.fixture
def daemon_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", DOWN)


def assert_names_daemon_and_fix(exc: pytest.ExceptionInfo[SandboxError]) -> None:
    message = str(exc.value)
    assert "Cannot reach the Docker daemon at unix:///nonexistent.sock" in message
    assert "start it" in message and "DOCKER_HOST" in message and "--backend local" in message


def test_creating_the_backend_does_not_contact_the_daemon(daemon_down):
    assert get_backend("docker").name == "docker"


@pytest.mark.parametrize(
    "operation",
    [
        lambda b: b.create_sandbox("any:image", run=RunLabels("down")),
        lambda b: b.resolve_image(Task("probe_task", 1, Path("/nonexistent"), (1,))),
        lambda b: b.create_git_server(run=RunLabels("down")),
        lambda b: b.cleanup(),
    ],
    ids=["create_sandbox", "resolve_image", "create_git_server", "cleanup"],
)
def test_every_operation_on_a_down_daemon_raises_one_clear_error(daemon_down, operation):
    with pytest.raises(SandboxError) as caught:
        operation(DockerBackend(git_image="any:image"))
    assert_names_daemon_and_fix(caught)


def test_base_url_option_overrides_the_environment():
    with pytest.raises(SandboxError) as caught:
        DockerBackend(base_url=DOWN).cleanup()
    assert_names_daemon_and_fix(caught)


def test_test_image_builder_reports_a_down_daemon(daemon_down):
    with pytest.raises(SandboxError) as caught:
        ensure_base_image("cooperbench-test-never-built:1")
    assert_names_daemon_and_fix(caught)


def test_cli_cleanup_reports_a_down_daemon():
    env = {**os.environ, "DOCKER_HOST": DOWN}
    proc = subprocess.run(
        [sys.executable, "-m", "cooperbench", "cleanup", "--backend", "docker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "Cannot reach the Docker daemon at unix:///nonexistent.sock" in proc.stdout + proc.stderr


def test_unknown_option_is_a_config_error():
    with pytest.raises(ConfigError, match=r"docker.*no_such_option"):
        get_backend("docker", no_such_option=1)


def test_git_server_without_an_image_says_which_option_to_set():
    with pytest.raises(SandboxError, match="git_image"):
        DockerBackend(base_url=DOWN).create_git_server(run=RunLabels("no-image"))
