"""The in-sandbox wrapper every command runs under: timeouts that kill the whole process tree.

For backends whose exec API cannot kill what a command started (Modal's ``Sandbox.exec``,
``docker exec`` over SSH). :func:`wrap` turns a command into the argv to hand to that API;
:func:`exec_result` turns what the API returned into an :class:`~cooperbench.backends.base.ExecResult`.

The wrapper runs the command in a session of its own, with its output going to a file in the
sandbox rather than to the exec's pipes: a background process the command leaves behind
(a server an agent started) then cannot hold the exec open. On timeout a watchdog kills the
command's whole process group and leaves a marker, so the wrapper reports ``timed_out``
on stderr (the control channel; the command's own stderr is merged into its stdout) with
the output printed so far. The platform's own exec timeout is only a backstop behind this.
The sandbox needs ``bash``, ``setsid`` and a writable ``/tmp``.
"""

from __future__ import annotations

import secrets
import time

from cooperbench.backends.base import ExecResult

__all__ = ["TIMED_OUT_MARKER", "exec_result", "wrap"]

TIMED_OUT_MARKER = "__cooperbench_exec_timed_out__"

# The watchdog is killed by process id as well as by group: a command that ends at once can
# finish before the watchdog's setsid, and a group kill alone would leave it sleeping out the
# timeout. Reaping it with stderr to /dev/null keeps bash's "Killed" job notice out of the output.
_WRAPPER = r"""
t=$1; n=/tmp/.cooperbench-exec-$2; shift 2
setsid "$@" >"$n.out" 2>&1 </dev/null &
p=$!
setsid bash -c 'sleep "$1"; : >"$3"; kill -KILL -- -"$2"' _ "$t" "$p" "$n.timeout" >/dev/null 2>&1 </dev/null &
w=$!
wait "$p"; rc=$?
{ kill -KILL -- -"$w" "$w"; wait "$w"; } 2>/dev/null
cat "$n.out" 2>/dev/null; rm -f "$n.out"
if [ -e "$n.timeout" ]; then rm -f "$n.timeout"; echo "__cooperbench_exec_timed_out__" >&2; fi
exit "$rc"
"""


def wrap(command: str | list[str], timeout: float) -> list[str]:
    """The argv that runs ``command`` under the timeout wrapper.

    Args:
        command: a shell line (run with ``bash -c``) or an argv.
        timeout: seconds after which the command's process group is killed (rounded up to whole seconds).

    Returns:
        The argv to execute in the sandbox; its stdout is the command's output (stderr merged in),
        its stderr the wrapper's control channel (see :func:`exec_result`).
    """
    argv = ["bash", "-c", command] if isinstance(command, str) else list(command)
    seconds = max(1, int(timeout + 0.999))
    return ["bash", "-c", _WRAPPER, "cooperbench-exec", str(seconds), secrets.token_hex(8), *argv]


def exec_result(
    output: bytes | str | None,
    control: bytes | str | None,
    returncode: int,
    *,
    started: float,
    timed_out: bool = False,
) -> ExecResult:
    """The result of a command run under :func:`wrap`.

    Args:
        output: the wrapped argv's stdout.
        control: the wrapped argv's stderr: the timeout marker, or why the wrapper itself failed.
        returncode: the exit status the exec reported.
        started: ``time.monotonic()`` when the exec was started.
        timed_out: the platform's own backstop timeout fired (a timeout even without the marker).

    Returns:
        The output (with the control text appended when the wrapper itself failed, so the
        caller sees why), the exit status, whether the command timed out, and the duration.
    """
    duration = time.monotonic() - started
    control_text = _text(control)
    timed_out = timed_out or TIMED_OUT_MARKER in control_text
    text = _text(output)
    if returncode != 0 and not timed_out and control_text.strip():
        text += control_text  # the wrapper itself failed (no bash, /tmp unwritable, container gone): show why
    return ExecResult(output=text, returncode=returncode, timed_out=timed_out, duration=duration)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")
