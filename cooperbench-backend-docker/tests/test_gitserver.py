"""Git servers: reachable by the sandboxes given the server's access mount (one pair's agents), by no other."""

from __future__ import annotations

import secrets
import threading

import pytest

from cooperbench.backends.base import RunLabels
from cooperbench.errors import SandboxError

pytestmark = pytest.mark.docker


def test_agents_given_the_servers_mount_share_code_through_it(backend, run, task_image):
    server = backend.create_git_server(run=run)
    agent1 = backend.create_sandbox(task_image, run=run, mounts=server.mounts)
    agent2 = backend.create_sandbox(task_image, run=run, mounts=server.mounts)
    try:
        assert server.url.startswith(f"git://cb-git-{run.run_id}-") and server.url.endswith("/team.git")
        pushed = agent1.exec(
            f"git remote add team {server.url} && git checkout -q -b agent1 && echo shared > shared.txt && "
            "git add shared.txt && git commit -qm 'from agent1' && git push -q team agent1"
        )
        assert pushed.returncode == 0, pushed.output
        fetched = agent2.exec(
            f"git remote add team {server.url} && git fetch -q team && git show team/agent1:shared.txt"
        )
        assert fetched.returncode == 0, fetched.output
        assert fetched.output == "shared\n"
        assert agent2.exec("cat /run/cooperbench/team-remote").output == server.url + "\n", "the mount holds the URL"
    finally:
        agent1.cleanup()
        agent2.cleanup()
        server.cleanup()


def test_another_pairs_sandbox_of_the_same_run_cannot_reach_the_server(backend, run, task_image):
    mine, theirs = backend.create_git_server(run=run), backend.create_git_server(run=run)
    box = backend.create_sandbox(task_image, run=run, mounts=theirs.mounts)
    try:
        assert box.exec(f"git ls-remote {theirs.url}").returncode == 0, "positive control: its own pair's server"
        peek = box.exec(f"git ls-remote {mine.url}", timeout=30)
        assert peek.returncode != 0
        assert "unable to look up" in peek.output or "Could not resolve" in peek.output, peek.output
    finally:
        box.cleanup()
        mine.cleanup()
        theirs.cleanup()


def test_a_sandbox_without_the_mount_reaches_no_git_server(backend, run, task_image):
    server = backend.create_git_server(run=run)
    evaluator = backend.create_sandbox(task_image, run=run, purpose="eval")
    try:
        result = evaluator.exec(f"git ls-remote {server.url}", timeout=30)
        assert result.returncode != 0
        assert "unable to look up" in result.output or "Could not resolve" in result.output, result.output
        assert evaluator.exec("test -e /run/cooperbench/team-remote").returncode != 0
    finally:
        evaluator.cleanup()
        server.cleanup()


def test_another_runs_sandbox_cannot_reach_the_server(backend, run, task_image):
    other_run = RunLabels(f"test-other-{secrets.token_hex(4)}")
    server = backend.create_git_server(run=run)
    outsider = backend.create_sandbox(task_image, run=other_run)
    try:
        result = outsider.exec(f"git ls-remote {server.url}", timeout=30)
        assert result.returncode != 0
        assert "unable to look up" in result.output or "Could not resolve" in result.output
    finally:
        outsider.cleanup()
        server.cleanup()
        backend.cleanup(run_name=other_run.run_name)


def test_the_server_cannot_be_reached_by_address_either(backend, run, task_image):
    """Not only by name: the server's IP is on a network the outsider is not attached to."""
    server = backend.create_git_server(run=run)
    outsider = backend.create_sandbox(task_image, run=run)
    try:
        address = backend.client.api.inspect_container(server.container_id)["NetworkSettings"]["Networks"][
            server.network
        ]["IPAddress"]
        probe = outsider.exec(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{address}/9418' && echo CONNECTED", timeout=30)
        assert "CONNECTED" not in probe.output, probe.output
    finally:
        outsider.cleanup()
        server.cleanup()


def test_server_cleanup_removes_its_container_and_network_and_is_idempotent(backend, run, task_image):
    server = backend.create_git_server(run=run)
    box = backend.create_sandbox(task_image, run=run, mounts=server.mounts)  # still attached when the server goes
    server.cleanup()
    server.cleanup()
    api = backend.client.api
    assert not api.containers(all=True, filters={"name": server.name})
    assert not api.networks(names=[server.network])
    assert box.exec("echo still alive").output == "still alive\n"
    with pytest.raises(SandboxError, match="does not exist"):
        backend.create_sandbox(task_image, run=run, mounts=server.mounts)  # its access file went with it
    box.cleanup()
    assert backend.resources(run.run_name) == [], "the run's network goes with its last sandbox"


def test_a_second_cleanup_caller_waits_until_the_server_is_gone(backend, run):
    """The interrupt path calls cleanup() while the pair's thread is already in it: both return only when it is gone."""
    server = backend.create_git_server(run=run)
    first = threading.Thread(target=server.cleanup)
    first.start()
    server.cleanup()
    assert not backend.client.api.containers(all=True, filters={"name": server.name}), "gone when cleanup returns"
    assert not backend.client.api.networks(names=[server.network])
    first.join(timeout=60)


def test_server_image_without_git_is_a_clear_error(backend, run, tmp_path):
    # The base image without git: a shell, but no `git daemon`.
    api = backend.client.api
    tag = f"cooperbench-test-nogit-{secrets.token_hex(4)}:1"
    dockerfile = f"FROM {backend.git_image}\nRUN rm -f /usr/bin/git\n"
    (tmp_path / "Dockerfile").write_text(dockerfile)
    list(api.build(path=str(tmp_path), tag=tag, rm=True, decode=True))
    backend.git_image = tag
    try:
        with pytest.raises(SandboxError, match="needs `git`"):
            backend.create_git_server(run=run)
        assert backend.resources(run.run_name) == [], "the failed server leaves no container or network"
    finally:
        backend.client.images.remove(tag, force=True)
