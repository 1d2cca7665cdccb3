"""Resources of a run whose process was killed: found by label and removed, live runs left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from cooperbench.backends.base import RunLabels

pytestmark = pytest.mark.docker

HOLDER = textwrap.dedent(
    """
    import sys, time
    from cooperbench.backends.base import RunLabels
    from cooperbench_backend_docker.backend import DockerBackend

    run_name, image, git_image = sys.argv[1:4]
    backend = DockerBackend(git_image=git_image)
    run = RunLabels(run_name)
    boxes = [backend.create_sandbox(image, run=run) for _ in range(2)]
    server = backend.create_git_server(run=run)
    boxes[0].exec("nohup sleep 1000 >/dev/null 2>&1 &")
    print("ready", flush=True)
    time.sleep(600)
    """
)


def start_holder(run_name: str, image: str, git_image: str) -> subprocess.Popen[str]:
    """A process that creates two sandboxes and a git server for ``run_name``, then waits to be killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, run_name, image, git_image], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", f"holder failed to start (exit {proc.poll()})"
    return proc


def kill_9(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_cli_cleanup_removes_everything_of_a_killed_run(backend, run, task_image, base_image):
    proc = start_holder(run.run_name, task_image, base_image)
    try:
        held = backend.resources(run.run_name)
        # Two sandboxes and a git server; the run's network and the server's.
        assert sum(r.startswith("container") for r in held) == 3 and sum(r.startswith("network") for r in held) == 2
    finally:
        kill_9(proc)
    cli = subprocess.run(
        [sys.executable, "-m", "cooperbench", "cleanup", "--backend", "docker", "--run", run.run_name],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "Removed 5 resource(s)." in cli.stdout
    assert backend.resources(run.run_name) == []


def test_stale_only_sweeps_a_killed_process_and_spares_a_live_one(backend, run, task_image, base_image):
    live = backend.create_sandbox(task_image, run=run)  # same run name, owned by this (live) process
    proc = start_holder(run.run_name, task_image, base_image)
    kill_9(proc)
    try:
        removed = backend.cleanup(run_name=run.run_name, stale_only=True)
        assert len(removed) == 5, removed
        assert backend.resources(run.run_name) == [
            f"container {live.id} (sandbox of run {run.run_name})",
            f"network cb-run-{run.run_id} (of run {run.run_name})",
        ]
        assert live.exec("echo alive").output == "alive\n"
        assert backend.cleanup(run_name=run.run_name, stale_only=True) == []
    finally:
        live.cleanup()


def test_a_live_holder_is_not_stale(backend, run, task_image, base_image):
    proc = start_holder(run.run_name, task_image, base_image)
    try:
        assert backend.cleanup(run_name=run.run_name, stale_only=True) == []
        assert len(backend.resources(run.run_name)) == 5
    finally:
        kill_9(proc)


def test_cleanup_of_one_run_leaves_other_runs_alone(backend, run, task_image):
    other = RunLabels(f"{run.run_name}-other")
    mine, theirs = backend.create_sandbox(task_image, run=run), backend.create_sandbox(task_image, run=other)
    try:
        assert backend.cleanup(run_name=run.run_name) == [
            f"container {mine.id} (sandbox of run {run.run_name})",
            f"network cb-run-{run.run_id} (of run {run.run_name})",
        ]
        assert theirs.exec("echo untouched").output == "untouched\n"
    finally:
        theirs.cleanup()
        mine.cleanup()
