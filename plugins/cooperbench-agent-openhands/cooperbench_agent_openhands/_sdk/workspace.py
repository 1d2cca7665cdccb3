"""An OpenHands workspace whose commands and files are in the CooperBench sandbox.

OpenHands' local conversation needs a ``LocalWorkspace``: its ``working_dir`` is where the
SDK looks for its own files (project skills, hooks, plugins). Here that is an empty scratch
folder on the host, so nothing of the host leaks into the agent; everything the agent does
(commands, reads, writes) goes through :class:`SandboxWorkspace`'s session into the sandbox.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from openhands.sdk.git.models import GitChange, GitDiff
from openhands.sdk.workspace import LocalWorkspace
from openhands.sdk.workspace.models import CommandResult, FileOperationResult
from pydantic import PrivateAttr

from cooperbench_agent_openhands.session import SandboxSession

__all__ = ["SandboxWorkspace", "session_of"]


class SandboxWorkspace(LocalWorkspace):
    """The conversation's workspace: a host scratch folder for the SDK, the sandbox for the agent.

    Args:
        working_dir: the host scratch folder (empty; the SDK may write its own files there).
        session: the agent's sandbox session.
    """

    _session: SandboxSession | None = PrivateAttr(default=None)

    def __init__(self, *, working_dir: str | Path, session: SandboxSession, **kwargs: Any) -> None:
        super().__init__(working_dir=working_dir, **kwargs)
        self._session = session

    @property
    def session(self) -> SandboxSession:
        """The sandbox session tools run through.

        Raises:
            RuntimeError: the workspace was rebuilt from a serialized copy, which has no sandbox.
        """
        if self._session is None:
            raise RuntimeError("this SandboxWorkspace has no sandbox session (was it deserialized?)")
        return self._session

    def execute_command(self, command: str, cwd: str | Path | None = None, timeout: float = 30.0) -> CommandResult:
        """Run ``command`` in the sandbox (``cwd`` defaults to the repository)."""
        out = self.session.execute(command, timeout=timeout, cwd=str(cwd) if cwd else None)
        return CommandResult(
            command=command,
            exit_code=int(out.get("returncode", -1)),
            stdout=str(out.get("output", "")),
            stderr="",
            timeout_occurred=bool(out.get("timed_out", False)),
        )

    def file_upload(self, source_path: str | Path, destination_path: str | Path) -> FileOperationResult:
        """Copy a host file into the sandbox."""
        data = Path(source_path).read_bytes()
        self.session.write_file(str(destination_path), data, keep_mode_of_existing=False)
        return FileOperationResult(
            success=True, source_path=str(source_path), destination_path=str(destination_path), file_size=len(data)
        )

    def file_download(self, source_path: str | Path, destination_path: str | Path) -> FileOperationResult:
        """Copy a sandbox file to the host."""
        data = self.session.read_file(str(source_path))
        Path(destination_path).parent.mkdir(parents=True, exist_ok=True)
        Path(destination_path).write_bytes(data)
        return FileOperationResult(
            success=True, source_path=str(source_path), destination_path=str(destination_path), file_size=len(data)
        )

    def git_changes(self, path: str | Path) -> list[GitChange]:
        """Not offered: CooperBench takes the agent's patch itself (``cooperbench.patches``).

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError(
            f"git_changes({shlex.quote(str(path))}) is not available in a CooperBench sandbox; "
            "the harness takes the patch with cooperbench.patches.working_tree_patch"
        )

    def git_diff(self, path: str | Path) -> GitDiff:
        """Not offered: CooperBench takes the agent's patch itself (``cooperbench.patches``).

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError(
            f"git_diff({shlex.quote(str(path))}) is not available in a CooperBench sandbox; "
            "the harness takes the patch with cooperbench.patches.working_tree_patch"
        )


def session_of(state_or_conversation: Any) -> SandboxSession:
    """The sandbox session behind a conversation (or its state).

    Raises:
        TypeError: the conversation's workspace is not a :class:`SandboxWorkspace`.
    """
    workspace = getattr(state_or_conversation, "workspace", None)
    if not isinstance(workspace, SandboxWorkspace):
        raise TypeError(
            "the CooperBench tools run only in a conversation whose workspace is a SandboxWorkspace, "
            f"got {type(workspace).__name__}"
        )
    return workspace.session
