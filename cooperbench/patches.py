"""Taking an agent's patch from its sandbox: the working tree's diff against the base commit."""

from __future__ import annotations

import shlex
from typing import Any, Protocol

from cooperbench.errors import SandboxError

__all__ = ["base_commit", "working_tree_patch"]


class _Executes(Protocol):
    def execute(self, command: str, timeout: float | None = None) -> dict[str, Any]: ...


def base_commit(env: _Executes, *, cwd: str = "/workspace/repo") -> str:
    """The commit the sandbox's repository starts at (``HEAD`` before the agent acts).

    Raises:
        SandboxError: the repository has no commit (the image is not a task image).
    """
    out = env.execute(f"git -C {shlex.quote(cwd)} rev-parse HEAD", timeout=30)
    sha = str(out.get("output", "")).strip()
    if out.get("returncode") != 0 or len(sha) != 40:
        raise SandboxError(f"cannot read the base commit of {cwd} in the sandbox: {sha[-500:]}")
    return sha


def working_tree_patch(env: _Executes, base: str, *, cwd: str = "/workspace/repo", timeout: float = 120) -> str:
    """The diff from ``base`` to everything in the working tree.

    Covers committed, staged, unstaged and new untracked files (ignored files excluded),
    so work is never lost because an agent did not commit or "submit". A throwaway index
    is used, so the agent's own index is left untouched.

    Raises:
        SandboxError: git failed in the sandbox.
    """
    q = shlex.quote
    script = (
        f"cd {q(cwd)} && idx=$(mktemp) && trap 'rm -f \"$idx\"' EXIT && "
        f'{{ cp .git/index "$idx" 2>/dev/null || true; }} && '
        f'GIT_INDEX_FILE="$idx" git add -A >/dev/null 2>&1 && '
        f'GIT_INDEX_FILE="$idx" git -c core.quotepath=off diff --cached --binary --no-color --no-ext-diff {q(base)}'
    )
    out = env.execute(script, timeout=timeout)
    if out.get("returncode") != 0:
        raise SandboxError(f"cannot take the patch from the sandbox: {str(out.get('output', ''))[-1000:]}")
    text = str(out.get("output", ""))
    return text if not text or text.endswith("\n") else text + "\n"
