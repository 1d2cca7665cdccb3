"""Resource limits: a memory hog or a fork bomb ends that command, says why, and leaves the rest running."""

from __future__ import annotations

import pytest
from cooperbench_backend_docker.backend import DockerBackend

from cooperbench.errors import ConfigError

pytestmark = pytest.mark.docker

FORK_BOMB = "f() { f | f & }; f; sleep 60"
MEMORY_HOG = "python3 -c 'chunks = []\nwhile True: chunks.append(bytearray(16 << 20))'"


@pytest.fixture
def small(base_image: str) -> DockerBackend:
    return DockerBackend(build_args={"BASE_IMAGE": base_image}, pull=False, memory="256m", pids=128, cpus=1)


def test_limits_are_set_on_the_container_and_described(small, run, task_image):
    box = small.create_sandbox(task_image, run=run)
    try:
        host = small.client.api.inspect_container(box.container_id)["HostConfig"]
        assert host["Memory"] == 256 << 20 and host["MemorySwap"] == 256 << 20, "no swap on top of the limit"
        assert host["PidsLimit"] == 128 and host["NanoCpus"] == 10**9
        assert small.describe()["limits"] == {"cpus": 1.0, "memory": 256 << 20, "memory_swap": 0, "pids": 128}
    finally:
        box.cleanup()


def test_defaults_limit_every_sandbox(backend, run, task_image):
    assert backend.describe()["limits"] == {"cpus": 2.0, "memory": 8 << 30, "memory_swap": 0, "pids": 4096}
    unlimited = DockerBackend(pull=False, memory=None, pids=None, cpus=None)
    box = unlimited.create_sandbox(task_image, run=run)
    try:
        host = unlimited.client.api.inspect_container(box.container_id)["HostConfig"]
        assert host["Memory"] == 0 and not host["PidsLimit"] and host["NanoCpus"] == 0, "null means no limit"
    finally:
        box.cleanup()


def test_a_memory_hog_is_killed_and_the_sandbox_lives_on(small, run, task_image):
    box = small.create_sandbox(task_image, run=run)
    neighbour = small.create_sandbox(task_image, run=run)
    try:
        hog = box.exec(MEMORY_HOG, timeout=120)
        assert hog.returncode == 137 and not hog.timed_out, hog
        assert "the sandbox hit its memory limit (256 MiB)" in hog.output and hog.resource_limit == "memory"
        after = box.exec("echo fine")
        assert after.output == "fine\n", "the sandbox itself survives"
        assert neighbour.exec("echo untouched").output == "untouched\n"
        failing = box.exec("exit 3")
        assert failing.returncode == 3 and failing.output == "", "no note once the limit is no longer hit"
        assert failing.resource_limit is None
    finally:
        box.cleanup()
        neighbour.cleanup()


def test_a_fork_bomb_ends_at_its_timeout_and_the_sandbox_works_again(small, run, task_image):
    box = small.create_sandbox(task_image, run=run)
    neighbour = small.create_sandbox(task_image, run=run)
    try:
        bomb = box.exec(FORK_BOMB, timeout=5)
        assert bomb.timed_out
        assert "the sandbox hit its process limit (128 processes and threads)" in bomb.output
        assert bomb.resource_limit == "pids" and bomb.to_dict()["resource_limit"] == "pids"
        assert neighbour.exec("echo untouched").output == "untouched\n"
        after = box.exec("ls /proc | grep -c '^[0-9]'")
        assert after.returncode == 0, after.output
        assert int(after.output.split()[-1]) < 10, f"the bomb's processes are gone: {after.output}"
    finally:
        box.cleanup()
        neighbour.cleanup()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"memory": "lots"}, "memory must be a size"),
        ({"memory": "1k"}, "below Docker's minimum"),
        ({"pids": 0}, "pids must be a positive number"),
        ({"cpus": -1}, "cpus must be a positive number"),
        ({"cpus": "two"}, "cpus must be a positive number"),
        ({"firewall": "maybe"}, "firewall must be auto, require or off"),
        ({"lifetime": 0}, "lifetime and exec_timeout must be positive"),
    ],
)
def test_bad_limit_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        DockerBackend(**options)
