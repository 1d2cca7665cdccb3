"""The building blocks of remote backends, run for real: the exec wrapper under bash, the git server under git."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cooperbench.backends import remote
from cooperbench.backends.base import ExecResult, Mount
from cooperbench.backends.remote import (
    ACCESS_TARGET,
    SERVER_SCRIPT,
    TOKEN_HEADER,
    ServerAccess,
    authorize_command,
    exec_result,
    probe_command,
    server_source,
    wrap,
)


def _run_wrapped(command: str | list[str], timeout: float) -> ExecResult:
    started = time.monotonic()
    proc = subprocess.run(wrap(command, timeout), capture_output=True, timeout=timeout + 30, check=False)
    return exec_result(proc.stdout, proc.stderr, proc.returncode, started=started)


def test_wrapped_command_returns_its_output_and_status() -> None:
    result = _run_wrapped("echo out; echo err >&2; exit 3", 10)
    assert (result.output, result.returncode, result.timed_out) == ("out\nerr\n", 3, False)


def test_wrapped_argv_is_not_reparsed_by_a_shell() -> None:
    assert _run_wrapped(["printf", "%s|", "a b", "$HOME"], 10).output == "a b|$HOME|"


def test_timeout_kills_the_whole_tree_and_keeps_the_output_so_far(tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    result = _run_wrapped(f"echo before; (sleep 3; touch {marker}) & sleep 60", 1)
    assert result.timed_out
    assert result.output == "before\n"
    assert result.duration < 30
    time.sleep(3.5)
    assert not marker.exists(), "a background process of the timed-out command outlived it"


def test_background_process_does_not_hold_the_exec_open() -> None:
    result = _run_wrapped("sleep 30 >/dev/null 2>&1 & echo started", 60)
    assert (result.output, result.timed_out) == ("started\n", False)
    assert result.duration < 20


def test_failing_fast_commands_get_no_wrapper_noise_and_leave_no_watchdog() -> None:
    # Races between the command's end and the watchdog's start: repeat to hit them.
    timeout = 7000 + secrets.randbelow(900)
    for _ in range(40):
        result = _run_wrapped("echo out; exit 3", timeout)
        assert (result.output, result.returncode) == ("out\n", 3)
    watchdogs = [p for p in Path("/proc").glob("[0-9]*") if _cmdline(p) == ["sleep", str(timeout)]]
    assert not watchdogs, f"{len(watchdogs)} watchdog(s) outlived their command"


def _cmdline(proc: Path) -> list[str]:
    try:
        return (proc / "cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def test_wrapper_failure_shows_why_in_the_output() -> None:
    result = exec_result(b"", b"bash: /tmp/x: Read-only file system\n", 1, started=time.monotonic())
    assert "Read-only file system" in result.output and not result.timed_out


def test_platform_backstop_counts_as_timeout() -> None:
    assert exec_result(b"partial", b"", -1, started=time.monotonic(), timed_out=True).timed_out


def test_a_servers_token_goes_only_with_its_access_mount(tmp_path: Path) -> None:
    access = ServerAccess()
    first = access.add("http://a/team.git", "http://a/", "token-a")
    second = access.add("http://b/team.git", "http://b/", "token-b")
    assert first.target == second.target == ACCESS_TARGET and first.read_only
    assert Path(first.source).read_text() == "http://a/team.git\n", "the access file holds the URL"
    other = Mount(tmp_path, "/run/cooperbench/other")
    grants, rest = access.split([first, other])
    assert [(g.url, g.base, g.token) for g in grants] == [("http://a/team.git", "http://a/", "token-a")]
    assert rest == [other], "a mount that is no server's access is provided as a mount"
    access.remove(first)
    access.remove(first)  # idempotent
    assert not Path(first.source).exists(), "the access file goes with the server"
    assert access.split([first]) == ([], [first]), "a removed server's mount grants nothing"
    assert access.split([second])[0][0].token == "token-b"
    assert ServerAccess.new_token() != ServerAccess.new_token()


def test_server_source_is_the_script_shipped_in_the_package() -> None:
    path = Path(remote.__file__).with_name(SERVER_SCRIPT)
    assert server_source() == path.read_bytes()


def test_git_server_serves_only_requests_carrying_the_token(tmp_path: Path) -> None:
    root = tmp_path / "srv"
    subprocess.run(["git", "init", "--bare", "-q", str(root / "team.git")], check=True)
    subprocess.run(["git", "-C", str(root / "team.git"), "config", "http.receivepack", "true"], check=True)
    script = tmp_path / SERVER_SCRIPT
    script.write_bytes(server_source())
    token, port_file = "s3cret", tmp_path / "port"
    # Port 0: the kernel picks a free port, and the server writes the one it got to the port file.
    server = subprocess.Popen(
        [sys.executable, str(script), str(root), "0", token, str(port_file)], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert server.poll() is None, f"the git server exited: {server.stderr.read() if server.stderr else ''}"
            assert time.monotonic() < deadline, "the git server never reported its port"
            time.sleep(0.05)
        port = int(port_file.read_text())
        url = f"http://127.0.0.1:{port}/team.git"
        while subprocess.run(probe_command(url, token), capture_output=True, check=False).returncode != 0:
            assert time.monotonic() < deadline, "the git server never answered"
            time.sleep(0.2)
        denied = subprocess.run(["git", "ls-remote", url], capture_output=True, text=True, check=False)
        assert denied.returncode != 0 and "403" in denied.stderr
        home = tmp_path / "home"
        home.mkdir()
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1"}
        env |= {
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        }
        subprocess.run(authorize_command(f"http://127.0.0.1:{port}/", token), env=env, check=True)
        work = tmp_path / "work"
        subprocess.run(["git", "init", "-q", "-b", "agent1", str(work)], env=env, check=True)
        subprocess.run(["git", "-C", str(work), "commit", "-q", "--allow-empty", "-m", "x"], env=env, check=True)
        subprocess.run(["git", "-C", str(work), "push", "-q", url, "agent1"], env=env, check=True)
        listed = subprocess.run(["git", "ls-remote", url], env=env, capture_output=True, text=True, check=True)
        assert "refs/heads/agent1" in listed.stdout
        assert TOKEN_HEADER in (home / ".gitconfig").read_text()
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("command", ["true", ["true"]])
def test_wrap_rounds_the_timeout_up_to_whole_seconds(command: str | list[str]) -> None:
    assert wrap(command, 0.2)[4] == "1" and wrap(command, 2.5)[4] == "3"
