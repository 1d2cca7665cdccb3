"""Commands in a docker sandbox: output, exit status, cwd, env, and timeouts that kill the whole tree."""

from __future__ import annotations

import time

import pytest

from cooperbench.errors import SandboxError

pytestmark = pytest.mark.docker

# Counts processes whose command line is exactly `sleep 4242`, straight from /proc (no ps in the image).
COUNT_SLEEPERS = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '^sleep 4242 $'"


def test_stdout_and_stderr_are_interleaved_in_order(sandbox):
    result = sandbox.exec("echo one; echo two >&2; echo three; echo four >&2")
    assert result.output == "one\ntwo\nthree\nfour\n"
    assert result.returncode == 0
    assert not result.timed_out


def test_nonzero_exit_is_a_result(sandbox):
    result = sandbox.exec("echo partial; exit 7")
    assert (result.returncode, result.output) == (7, "partial\n")


def test_invalid_utf8_is_replaced_not_fatal(sandbox):
    assert sandbox.exec("printf 'ok \\377\\376 end'").output == "ok \ufffd\ufffd end"


def test_default_cwd_is_the_task_repository(sandbox):
    assert sandbox.exec("pwd && git rev-parse --is-inside-work-tree").output == "/workspace/repo\ntrue\n"


def test_cwd_and_env_are_applied(sandbox):
    result = sandbox.exec('pwd; echo "$GREETING"', cwd="/tmp", env={"GREETING": "hi there"})
    assert result.output == "/tmp\nhi there\n"


def test_missing_cwd_fails_the_command_with_a_message(sandbox):
    result = sandbox.exec("pwd", cwd="/does/not/exist")
    assert result.returncode != 0
    assert "/does/not/exist" in result.output


def test_argv_commands_are_not_split_by_a_shell(sandbox):
    result = sandbox.exec(["printf", "%s|", "a b", "$HOME", "c;d"])
    assert result.output == "a b|$HOME|c;d|"


def test_command_longer_than_the_argv_limit_runs(sandbox):
    payload = "x" * 300_000  # one argv string may not exceed 128 KiB on Linux
    result = sandbox.exec(f"printf '%s' '{payload}' | wc -c; echo $0")
    assert result.output.split()[0] == "300000"
    assert sandbox.exec("ls /tmp | grep -c cooperbench-cmd || true").output.strip() == "0"


def test_empty_command_is_refused(sandbox):
    with pytest.raises(SandboxError, match="empty command"):
        sandbox.exec([])


def test_timeout_kills_the_whole_tree_and_keeps_output(sandbox):
    command = (
        "echo started; sleep 4242 & setsid sleep 4242 & (nohup sleep 4242 >/dev/null 2>&1 &); "
        "bash -c 'sleep 4242' & echo children; sleep 4242"
    )
    start = time.monotonic()
    result = sandbox.exec(command, timeout=2)
    elapsed = time.monotonic() - start
    assert result.timed_out
    assert result.returncode == -9
    assert result.output == "started\nchildren\n"
    assert 2 <= elapsed < 12
    assert sandbox.exec(COUNT_SLEEPERS).output.strip() == "0"


def test_timeout_kills_many_forked_processes(sandbox):
    result = sandbox.exec("for i in $(seq 100); do sleep 4242 & done; echo forked; wait", timeout=3)
    assert result.timed_out and "forked" in result.output
    assert sandbox.exec(COUNT_SLEEPERS).output.strip() == "0"


def test_timeout_spares_processes_of_earlier_commands(sandbox):
    assert sandbox.exec("nohup sleep 4242 >/dev/null 2>&1 &").returncode == 0
    assert sandbox.exec("sleep 60", timeout=1).timed_out
    assert sandbox.exec(COUNT_SLEEPERS).output.strip() == "1"


def test_default_timeout_comes_from_the_backend(backend, run, task_image):
    backend.exec_timeout = 1
    box = backend.create_sandbox(task_image, run=run)
    try:
        result = box.exec("echo before; sleep 30")
        assert result.timed_out and result.output == "before\n"
    finally:
        box.cleanup()


def test_exec_after_cleanup_raises_sandbox_error(backend, run, task_image):
    box = backend.create_sandbox(task_image, run=run)
    box.cleanup()
    box.cleanup()  # idempotent
    with pytest.raises(SandboxError, match="cleaned up"):
        box.exec("true")


def test_exec_in_a_removed_container_says_the_sandbox_is_gone(backend, run, task_image):
    box = backend.create_sandbox(task_image, run=run)
    backend.client.api.remove_container(box.container_id, force=True)
    with pytest.raises(SandboxError, match="is gone"):
        box.exec("true")
    box.cleanup()
