"""Running one command in a container, with a timeout that kills its whole process tree.

The Engine has no call that kills an exec, so every command carries a random token in its
environment. Every process it starts inherits the token (even through ``setsid``, ``nohup``
or a double fork), so on timeout a second exec stops, then kills, each process whose
environment holds it, until none is left. Stopping first keeps a fork loop from outrunning
the kill.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import docker.errors

from cooperbench.backends.base import REPO_DIR, ExecResult

if TYPE_CHECKING:
    from docker.api import APIClient

__all__ = ["TOKEN_VAR", "ExecRequest", "run_exec"]

TOKEN_VAR = "COOPERBENCH_EXEC_TOKEN"
TIMEOUT_RETURNCODE = -9

# Argv beyond this goes through a file: one argument may not exceed 128 KiB on Linux.
_MAX_INLINE_COMMAND = 100_000
# Output kept per command; beyond it the middle is dropped (an agent that cats a huge file
# must not exhaust the harness's memory).
_MAX_OUTPUT = 64 * 1024 * 1024
# How long to wait for the stream to end once the tree was killed; it ends at once unless a
# process escaped the kill (then the output so far is returned).
_KILL_GRACE = 1.0

# $1: the requested cwd ("" = default), $2: the default cwd (used only when it exists).
# stderr joins stdout before anything runs, so the two stay in order.
_CD = 'exec 2>&1; if [ -n "$1" ]; then cd -- "$1" || exit 1; elif [ -d "$2" ]; then cd -- "$2"; fi; '
_WRAPPER = _CD + 'shift 2; exec "$@"'
# A shell line runs in the wrapper's own bash (one process less per command than `exec bash -c`):
# the line is eval'ed with no positional parameters, as under `bash -c`, and its variable unset first.
_BASH_WRAPPER = _CD + '__cooperbench_cmd=$3; shift 3; eval "unset __cooperbench_cmd; $__cooperbench_cmd"'

# $1: the token. Repeats until no marked process is left (a process may fork between passes).
# One grep over every /proc/<pid>/environ where grep knows -z; a loop over them where it does not.
_KILL_TREE = r"""
mark="COOPERBENCH_EXEC_TOKEN=$1"
marked() {
  if printf 'a\0' | grep -qzx a 2>/dev/null; then
    for f in $(grep -lsxzF "$mark" /proc/[0-9]*/environ); do p=${f#/proc/}; echo "${p%/environ}"; done
  else
    for d in /proc/[0-9]*; do
      tr '\0' '\n' < "$d/environ" 2>/dev/null | grep -qxF "$mark" && echo "${d#/proc/}"
    done
  fi
}
for pass in 1 2 3 4 5 6 7 8; do
  pids=$(marked)
  [ -z "$pids" ] && exit 0
  kill -STOP $pids 2>/dev/null
  kill -KILL $pids 2>/dev/null
done
"""


@dataclass
class ExecRequest:
    """One command to run: a shell line (``bash -c``) or an argv list."""

    command: str | list[str]
    timeout: float
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(12))


class _Output:
    """Collects output chunks, keeping the head and tail of very long output."""

    def __init__(self, limit: int = _MAX_OUTPUT) -> None:
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0
        self.lock = threading.Lock()

    def add(self, chunk: bytes) -> None:
        with self.lock:
            room = self.limit // 2 - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                excess = len(self.tail) - self.limit // 2
                if excess > 0:
                    del self.tail[:excess]
                    self.dropped += excess

    def text(self) -> str:
        with self.lock:
            middle = f"\n[... {self.dropped} bytes of output dropped ...]\n".encode() if self.dropped else b""
            return bytes(self.head + middle + self.tail).decode("utf-8", errors="replace")


def _argv(request: ExecRequest, script_path: str | None) -> list[str]:
    if script_path is not None:
        # Open the script, then delete it: bash reads it through the still-open descriptor.
        inner = ["bash", "-c", 'exec 3<"$0" && rm -f -- "$0" && exec bash /dev/fd/3', script_path]
    elif isinstance(request.command, str):
        return ["bash", "-c", _BASH_WRAPPER, "bash", request.cwd or "", REPO_DIR, request.command]
    else:
        inner = list(request.command)
    return ["sh", "-c", _WRAPPER, "cooperbench-exec", request.cwd or "", REPO_DIR, *inner]


def needs_script(request: ExecRequest) -> bool:
    """Whether the command is too long for argv and must be written to a file first."""
    if isinstance(request.command, str):
        return len(request.command.encode()) > _MAX_INLINE_COMMAND
    return False


def script_path(request: ExecRequest) -> str:
    return f"/tmp/cooperbench-cmd-{request.token}.sh"


def _pump(stream: Iterator[bytes], output: _Output, done: threading.Event) -> None:
    try:
        for chunk in stream:
            output.add(chunk)
    except Exception:  # the connection broke (container removed): keep what arrived
        pass
    finally:
        done.set()


def kill_tree(api: APIClient, container: str, token: str) -> None:
    """Kill every process of the container carrying ``token`` (best effort)."""
    try:
        exec_id = api.exec_create(container, ["sh", "-c", _KILL_TREE, "cooperbench-kill", token], user="0")["Id"]
        api.exec_start(exec_id)
    except docker.errors.APIError:
        pass  # the container is gone, and the tree with it


def _marked_host_pids(api: APIClient, container: str, token: str) -> list[int]:
    """Host pids of the container's processes whose environment holds ``token``."""
    mark = f"{TOKEN_VAR}={token}".encode()
    rows = api.top(container, ps_args="-eo pid").get("Processes") or []
    pids = []
    for row in rows:
        try:
            pid = int(row[0])
            # The token check also guards against a harness in another pid namespace than the daemon.
            if mark in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                pids.append(pid)
        except (ValueError, IndexError, OSError):
            continue
    return pids


def kill_tree_from_host(api: APIClient, container: str, token: str) -> bool:
    """Freeze the container, kill the token's processes from the host, thaw it (a fork bomb cannot outrun this).

    Needs root and the daemon on this machine (the container's processes are visible in this
    machine's ``/proc``). Returns whether it could act.
    """
    if os.geteuid() != 0:
        return False
    try:
        api.pause(container)
    except docker.errors.APIError:
        return False
    try:
        for _ in range(4):  # frozen processes cannot fork; a second pass only catches what was mid-fork
            pids = _marked_host_pids(api, container, token)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
    except docker.errors.APIError:
        return False
    finally:
        with contextlib.suppress(docker.errors.APIError):
            api.unpause(container)
    return True


def run_exec(
    api: APIClient, container: str, request: ExecRequest, *, script: bool = False, local_host: bool = False
) -> ExecResult:
    """Run ``request`` in ``container`` and wait for it or its timeout.

    Args:
        api: the low-level Docker client.
        container: the container's id or name.
        request: the command.
        script: the command was written to :func:`script_path` and runs from there.
        local_host: the daemon runs on this machine, so its processes can be killed from here as a last resort.

    Returns:
        The result; on timeout ``timed_out`` is true, ``returncode`` is ``-9`` and the output
        holds what the command printed until then.

    Raises:
        docker.errors.APIError: the Engine refused the exec (the caller maps it).
    """
    start = time.monotonic()
    environment = {**request.env, TOKEN_VAR: request.token}
    argv = _argv(request, script_path(request) if script else None)
    exec_id = api.exec_create(container, argv, environment=environment, stdout=True, stderr=True, tty=False)["Id"]
    stream = api.exec_start(exec_id, stream=True, tty=False)
    output = _Output()
    done = threading.Event()
    # A daemon thread: if a process escaped the kill and holds the pipe open, it must not
    # keep the harness alive; it ends when the container is removed.
    threading.Thread(target=_pump, args=(stream, output, done), daemon=True, name="cooperbench-exec").start()
    if not done.wait(request.timeout):
        kill_tree(api, container, request.token)
        if not done.wait(_KILL_GRACE) and local_host:
            # Still open: something escaped the kill, such as a fork bomb at the process limit,
            # where the kill script itself cannot fork. Kill from outside the container.
            kill_tree_from_host(api, container, request.token)
            done.wait(_KILL_GRACE)
        return ExecResult(output.text(), TIMEOUT_RETURNCODE, timed_out=True, duration=time.monotonic() - start)
    returncode = _exit_code(api, exec_id)
    return ExecResult(output.text(), returncode, duration=time.monotonic() - start)


def _exit_code(api: APIClient, exec_id: str) -> int:
    # The stream can end a moment before the Engine records the exit.
    deadline = time.monotonic() + 5
    while True:
        info = api.exec_inspect(exec_id)
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        if time.monotonic() > deadline:
            return -1
        time.sleep(0.01)


def describe(command: str | list[str]) -> str:
    text = command if isinstance(command, str) else shlex.join(command)
    return text if len(text) <= 80 else text[:77] + "..."
