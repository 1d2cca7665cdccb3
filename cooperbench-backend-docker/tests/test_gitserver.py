"""The per-run git server: reachable by name from the run's sandboxes, and from no other run's."""

from __future__ import annotations

import secrets

import pytest

from cooperbench.backends.base import RunLabels
from cooperbench.errors import SandboxError

pytestmark = pytest.mark.docker


def test_agents_of_a_run_share_code_through_the_server(backend, run, task_image):
    server = backend.create_git_server(run=run)
    agent1 = backend.create_sandbox(task_image, run=run)
    agent2 = backend.create_sandbox(task_image, run=run)
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
    finally:
        agent1.cleanup()
        agent2.cleanup()
        server.cleanup()


def test_sandboxes_created_before_the_server_are_connected_to_it(backend, run, task_image):
    early = backend.create_sandbox(task_image, run=run)
    server = backend.create_git_server(run=run)
    try:
        result = early.exec(f"git ls-remote {server.url}")
        assert result.returncode == 0, result.output
    finally:
        early.cleanup()
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


def test_two_runs_get_two_separate_servers(backend, run, task_image):
    other_run = RunLabels(f"test-other-{secrets.token_hex(4)}")
    first, second = backend.create_git_server(run=run), backend.create_git_server(run=other_run)
    try:
        assert first.url != second.url
        box = backend.create_sandbox(task_image, run=other_run)
        assert box.exec(f"git ls-remote {second.url}").returncode == 0
        assert box.exec(f"git ls-remote {first.url}", timeout=30).returncode != 0
        box.cleanup()
    finally:
        first.cleanup()
        second.cleanup()
        backend.cleanup(run_name=other_run.run_name)


def test_server_cleanup_removes_its_container_and_network_and_is_idempotent(backend, run, task_image):
    server = backend.create_git_server(run=run)
    box = backend.create_sandbox(task_image, run=run)  # still attached when the server goes
    server.cleanup()
    server.cleanup()
    api = backend.client.api
    assert not api.containers(all=True, filters={"name": server.name})
    assert not api.networks(names=[f"cb-run-{run.run_id}"])
    assert box.exec("echo still alive").output == "still alive\n"
    box.cleanup()


def test_servers_of_one_run_are_separate_and_the_network_goes_with_the_last(backend, run, task_image):
    first, second = backend.create_git_server(run=run), backend.create_git_server(run=run)
    box = backend.create_sandbox(task_image, run=run)
    try:
        assert first.url != second.url
        pushed = box.exec(f"git commit -q --allow-empty -m x && git push -q {first.url} HEAD:refs/heads/agent1")
        assert pushed.returncode == 0, pushed.output
        assert "agent1" not in box.exec(f"git ls-remote {second.url}").output
        first.cleanup()
        assert backend.client.api.networks(names=[f"cb-run-{run.run_id}"]), "the second server still needs it"
        assert box.exec(f"git ls-remote {second.url}").returncode == 0
        second.cleanup()
        assert not backend.client.api.networks(names=[f"cb-run-{run.run_id}"])
    finally:
        box.cleanup()
        first.cleanup()
        second.cleanup()


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
        assert not api.networks(names=[f"cb-run-{run.run_id}"])
    finally:
        backend.client.images.remove(tag, force=True)
