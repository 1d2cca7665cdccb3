"""Taking an agent's patch from its sandbox, and carrying it losslessly as ``str``.

A patch is bytes: a repository may hold Latin-1 source files, images, archives. The public
contract (``AgentResult.patch``) is a ``str``, so a patch travels as text decoded with
``errors="surrogateescape"``: every byte that is not UTF-8 becomes a lone surrogate and
:func:`patch_bytes` turns the text back into the very same bytes. Binary files are in the
diff as git's ``--binary`` literals (ASCII), so ``git apply`` recreates them exactly.
"""

from __future__ import annotations

import base64
import re
import shlex
from typing import Any, Protocol

from cooperbench.errors import SandboxError

__all__ = ["base_commit", "patch_bytes", "patch_text", "working_tree_patch"]


class _Executes(Protocol):
    def execute(self, command: str, timeout: float | None = None) -> dict[str, Any]: ...


def patch_bytes(patch: str | bytes | None) -> bytes:
    """The bytes of a patch held as text by :func:`patch_text` (or given as bytes already).

    The inverse of :func:`patch_text`: ``patch_bytes(patch_text(b)) == b`` for any bytes ``b``.
    Use it wherever a patch is written or measured; ``patch.encode()`` raises on the surrogate
    escapes of a patch that is not UTF-8.
    """
    if patch is None:
        return b""
    if isinstance(patch, bytes):
        return patch
    return patch.encode("utf-8", "surrogateescape")


def patch_text(data: bytes | str) -> str:
    """A patch's bytes as the ``str`` of ``AgentResult.patch``, lossless (see the module docstring)."""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", "surrogateescape")


def base_commit(env: _Executes, *, cwd: str = "/workspace/repo") -> str:
    """The commit the sandbox's repository starts at (``HEAD`` before the agent acts).

    Raises:
        SandboxError: the repository has no commit (the image is not a task image), or git
            failed; the message has git's exit status and its output (stdout and stderr).
    """
    command = f"git -C {shlex.quote(cwd)} rev-parse HEAD"
    out = env.execute(command, timeout=_REV_PARSE_TIMEOUT)
    output = str(out.get("output", ""))
    status = out.get("returncode")
    lines = output.strip().splitlines()
    # stderr comes interleaved with stdout: a warning of git's may precede the id, which is the last line.
    if status == 0 and lines and _COMMIT_ID.fullmatch(lines[-1].strip()):
        return lines[-1].strip()
    if out.get("timed_out"):
        how = f"did not finish within {_REV_PARSE_TIMEOUT} s"
    elif status == 0:
        how = "exited with status 0 but printed no commit id"
    else:
        how = f"exited with status {status}"
    said = f"its output: {output.strip()[-500:]}" if output.strip() else "it printed nothing"
    raise SandboxError(f"cannot read the base commit of {cwd} in the sandbox: `{command}` {how}; {said}")


_REV_PARSE_TIMEOUT = 30
_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1, or SHA-256 for a repository that uses it


# Git switches that make the diff the same whatever the sandbox's git configuration says
# (an agent can run `git config` too): a/ and b/ prefixes, no external diff or textconv, no
# colour, no line-ending conversion on the way into the throwaway index.
_DIFF = (
    "git -c core.quotepath=off -c core.autocrlf=false -c core.safecrlf=false -c diff.relative=false "
    "diff --cached --binary --no-color --no-ext-diff --no-textconv --src-prefix=a/ --dst-prefix=b/"
)
_BEGIN, _END = "COOPERBENCH_PATCH_BEGIN", "COOPERBENCH_PATCH_END"
_FRAME = re.compile(rf"^{_BEGIN} (base64|hex)\n(.*?)^{_END}$", re.MULTILINE | re.DOTALL)


def working_tree_patch(env: _Executes, base: str, *, cwd: str = "/workspace/repo", timeout: float = 120) -> str:
    """The diff from ``base`` to everything in the working tree, byte for byte.

    Covers committed, staged, unstaged and new untracked files (ignored files excluded),
    so work is never lost because an agent did not commit or "submit". A throwaway index
    is used, so the agent's own index is left untouched. The diff crosses the sandbox
    boundary base64-encoded (an environment's output is text, decoded lossily), so files
    that are not UTF-8 and binary files survive exactly.

    Returns:
        The patch as text, non-UTF-8 bytes as surrogate escapes (see :func:`patch_bytes`);
        ``""`` when nothing changed.

    Raises:
        SandboxError: git failed in the sandbox, or its output did not come back whole.
    """
    q = shlex.quote
    script = (
        f'cd {q(cwd)} && idx=$(mktemp) && out=$(mktemp) && trap \'rm -f "$idx" "$out"\' EXIT && '
        f'{{ cp .git/index "$idx" 2>/dev/null || true; }} && '
        f'GIT_INDEX_FILE="$idx" git -c core.autocrlf=false -c core.safecrlf=false add -A >/dev/null && '
        f'GIT_INDEX_FILE="$idx" {_DIFF} {q(base)} > "$out" && '
        f"if command -v base64 >/dev/null 2>&1; then echo '{_BEGIN} base64'; base64 < \"$out\"; "
        f"else echo '{_BEGIN} hex'; od -An -v -tx1 < \"$out\"; fi && echo '{_END}'"
    )
    out = env.execute(script, timeout=timeout)
    output = str(out.get("output", ""))
    if out.get("returncode") != 0:
        raise SandboxError(f"cannot take the patch from the sandbox: {output[-1000:]}")
    frame = _FRAME.search(output)
    if frame is None:
        raise SandboxError(f"the patch did not come back whole from the sandbox (output of {len(output)} characters)")
    body = "".join(frame.group(2).split())
    try:
        data = base64.b64decode(body, validate=True) if frame.group(1) == "base64" else bytes.fromhex(body)
    except ValueError as exc:
        raise SandboxError(f"the patch came back garbled from the sandbox: {exc}") from exc
    if data and not data.endswith(b"\n"):
        data += b"\n"
    return patch_text(data)
