"""The agent's tools: ``terminal``, ``file_editor`` and ``send_message``, all acting in the sandbox.

``terminal`` and ``file_editor`` take the same arguments as OpenHands' own tools of those
names (their action and observation types come from ``openhands-tools``), but run through
the agent's :class:`~cooperbench_agent_openhands.session.SandboxSession` instead of the
host. ``finish`` and ``think`` are the SDK's built-ins.

The tools are registered with the SDK once, under the names in :data:`TOOL_SPECS`; each
conversation builds its own instances from its :class:`SandboxWorkspace`.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

from openhands.sdk.tool import (
    Action,
    DeclaredResources,
    Observation,
    ToolAnnotations,
    ToolDefinition,
    ToolExecutor,
    register_tool,
)
from openhands.tools.file_editor.definition import TOOL_DESCRIPTION as FILE_EDITOR_DESCRIPTION
from openhands.tools.file_editor.definition import FileEditorAction, FileEditorObservation
from openhands.tools.terminal.definition import TerminalAction, TerminalObservation
from openhands.tools.terminal.metadata import CmdOutputMetadata
from pydantic import Field

from cooperbench.errors import InfraError
from cooperbench.messaging import MessagingUsageError
from cooperbench_agent_openhands._sdk.workspace import session_of
from cooperbench_agent_openhands.editor import SandboxFileEditor
from cooperbench_agent_openhands.session import SandboxSession

if TYPE_CHECKING:
    from openhands.sdk.conversation import LocalConversation
    from openhands.sdk.conversation.state import ConversationState

__all__ = [
    "SandboxFileEditorTool",
    "SandboxTerminalTool",
    "SendMessageAction",
    "SendMessageObservation",
    "SendMessageTool",
    "format_incoming",
    "register_tools",
    "tool_specs",
]

_TERMINAL_DESCRIPTION = """Execute a bash command in the sandbox that holds the repository (/workspace/repo).

* One command at a time; chain several with `&&` or `;`.
* The working directory and exported environment variables carry over to the next command.
* Each command runs to completion, or until its timeout ({timeout:g} seconds unless you set `timeout`),
  when it is killed and you see what it printed until then. Interactive programs cannot be driven
  (`is_input` is not supported): pass input with a pipe or a heredoc instead.
* Background processes (`cmd &`) may not outlive the command that started them.
* Long output is truncated: redirect it to a file and read it with `head`, `tail` or `grep`.
* Do NOT use `set -e`, `set -eu` or `set -euo pipefail`.
* `reset=true` forgets the saved working directory and variables."""


def format_incoming(messages: Sequence[dict[str, Any]]) -> list[str]:
    """Teammates' messages as the model sees them: ``[Message from agent2]: ...`` (notices: ``[Notice from ...]``)."""
    return [
        f"[{'Message' if m.get('kind', 'message') == 'message' else 'Notice'} from {m.get('from')}]: {m.get('text')}"
        for m in messages
    ]


# -- terminal ----------------------------------------------------------------------------------


class SandboxTerminalExecutor(ToolExecutor[TerminalAction, TerminalObservation]):
    """Runs terminal actions in the sandbox."""

    def __init__(self, session: SandboxSession) -> None:
        self.session = session

    def __call__(self, action: TerminalAction, conversation: LocalConversation | None = None) -> TerminalObservation:
        if action.is_input:
            return TerminalObservation.from_text(
                "This terminal runs each command to completion; `is_input` is not supported. "
                "Run the program non-interactively (pipe its input, or use a heredoc).",
                is_error=True,
                command=action.command,
            )
        if action.reset:
            self.session.reset_shell()
            return TerminalObservation.from_text(
                "The terminal was reset: working directory and variables are back to the start.",
                command=action.command,
                exit_code=0,
                metadata=CmdOutputMetadata(exit_code=0, working_dir=self.session.cwd),
            )
        if not action.command.strip():
            return TerminalObservation.from_text(
                "No command given: the previous command has already finished (there is nothing more to read).",
                is_error=True,
                command=action.command,
            )
        result = self.session.shell(action.command, timeout=action.timeout or None)
        text = result.output
        if result.timed_out:
            limit = action.timeout or self.session.command_timeout
            text += f"\n[The command timed out after {limit:g} seconds and was killed.]"
        return TerminalObservation.from_text(
            text,
            command=action.command,
            exit_code=result.exit_code,
            timeout=result.timed_out,
            metadata=CmdOutputMetadata(exit_code=result.exit_code, working_dir=result.cwd),
        )


class SandboxTerminalTool(ToolDefinition[TerminalAction, TerminalObservation]):
    """OpenHands' ``terminal`` tool, running in the CooperBench sandbox."""

    name: ClassVar[str] = "terminal"

    def declared_resources(self, action: Action) -> DeclaredResources:
        return DeclaredResources(keys=("terminal:session",), declared=True)

    @classmethod
    def create(cls, conv_state: ConversationState, **params: Any) -> Sequence[Self]:
        session = session_of(conv_state)
        return [
            cls(
                action_type=TerminalAction,
                observation_type=TerminalObservation,
                description=_TERMINAL_DESCRIPTION.format(timeout=session.command_timeout),
                annotations=ToolAnnotations(
                    title="terminal", readOnlyHint=False, destructiveHint=True, idempotentHint=False
                ),
                executor=SandboxTerminalExecutor(session),
            )
        ]


# -- file editor -------------------------------------------------------------------------------


class SandboxFileEditorExecutor(ToolExecutor[FileEditorAction, FileEditorObservation]):
    """Runs file editor actions on sandbox files."""

    def __init__(self, session: SandboxSession) -> None:
        self.editor = SandboxFileEditor(session)

    def __call__(
        self, action: FileEditorAction, conversation: LocalConversation | None = None
    ) -> FileEditorObservation:
        result = self.editor(
            action.command,
            action.path,
            file_text=action.file_text,
            old_str=action.old_str,
            new_str=action.new_str,
            insert_line=action.insert_line,
            view_range=action.view_range,
        )
        return FileEditorObservation.from_text(
            result.text,
            is_error=result.is_error,
            command=action.command,
            path=result.path,
            prev_exist=result.prev_exist,
            old_content=result.old_content,
            new_content=result.new_content,
        )


class SandboxFileEditorTool(ToolDefinition[FileEditorAction, FileEditorObservation]):
    """OpenHands' ``file_editor`` tool, on files in the CooperBench sandbox."""

    name: ClassVar[str] = "file_editor"

    def declared_resources(self, action: Action) -> DeclaredResources:
        path = getattr(action, "path", "")
        return DeclaredResources(keys=(f"file:{posixpath.normpath(path)}",), declared=True)

    @classmethod
    def create(cls, conv_state: ConversationState, **params: Any) -> Sequence[Self]:
        session = session_of(conv_state)
        description = (
            f"{FILE_EDITOR_DESCRIPTION}\n\nFiles are in the sandbox; the repository is at {session.repo_dir}. "
            f"Start exploring there, not at the root of the file system."
        )
        return [
            cls(
                action_type=FileEditorAction,
                observation_type=FileEditorObservation,
                description=description,
                annotations=ToolAnnotations(
                    title="file_editor",
                    readOnlyHint=False,
                    destructiveHint=True,
                    idempotentHint=False,
                    openWorldHint=False,
                ),
                executor=SandboxFileEditorExecutor(session),
            )
        ]


# -- messaging ---------------------------------------------------------------------------------


class SendMessageAction(Action):
    """Send a message to a teammate."""

    to: str = Field(description="The teammate's agent id, or `all` for every teammate.")
    message: str = Field(description="The message text.")
    wait: bool = Field(
        default=False,
        description="If true, wait for a reply (up to a time limit) and return it. Use it when you need an answer.",
    )


class SendMessageObservation(Observation):
    """The outcome of sending a message, with any replies received while waiting."""


class SendMessageExecutor(ToolExecutor[SendMessageAction, SendMessageObservation]):
    """Posts messages on the run's message bus."""

    def __init__(self, session: SandboxSession) -> None:
        self.session = session

    def __call__(
        self, action: SendMessageAction, conversation: LocalConversation | None = None
    ) -> SendMessageObservation:
        comm = self.session.comm
        if comm is None:
            return SendMessageObservation.from_text("Messaging is off in this run.", is_error=True)
        try:
            if action.to == "all":
                sent = len(comm.broadcast(action.message))
            else:
                comm.send(action.to, action.message)
                sent = 1
            self.session.sent_messages += sent
            text = f"Message sent to {action.to}."
            if action.wait:
                awaited = None if action.to == "all" else action.to
                # The wait ends early when the awaited teammates have finished or left.
                replies = comm.wait_for_reply(timeout=self.session.wait_timeout, from_agent=awaited)
                if replies:
                    text += "\n" + "\n".join(format_incoming(replies))
                elif comm.gone() and (awaited is None or awaited in comm.gone()):
                    text += f"\nNo reply: {', '.join(comm.gone())} already finished and will not answer."
                else:
                    text += f"\nNo reply within {self.session.wait_timeout:g} seconds."
        except MessagingUsageError as exc:
            return SendMessageObservation.from_text(str(exc), is_error=True)
        except InfraError as exc:
            self.session.failure = self.session.failure or exc
            raise
        return SendMessageObservation.from_text(text)


class SendMessageTool(ToolDefinition[SendMessageAction, SendMessageObservation]):
    """Messages to teammates through the run's message bus (CooperBench)."""

    name: ClassVar[str] = "send_message"

    def declared_resources(self, action: Action) -> DeclaredResources:
        return DeclaredResources(keys=("messaging",), declared=True)

    @classmethod
    def create(cls, conv_state: ConversationState, **params: Any) -> Sequence[Self]:
        session = session_of(conv_state)
        mates = ", ".join(session.comm.teammates) if session.comm is not None else "(none)"
        description = (
            f"Send a message to a teammate working on the same repository in their own sandbox ({mates}). "
            "Their messages to you appear as `[Message from <id>]: ...` before your next step. "
            "Use it to agree on who changes what, share interfaces, and avoid conflicting edits."
        )
        return [
            cls(
                action_type=SendMessageAction,
                observation_type=SendMessageObservation,
                description=description,
                annotations=ToolAnnotations(title="send_message", readOnlyHint=False, destructiveHint=False),
                executor=SendMessageExecutor(session),
            )
        ]


_REGISTERED: dict[str, type[ToolDefinition[Any, Any]]] = {
    "cooperbench_terminal": SandboxTerminalTool,
    "cooperbench_file_editor": SandboxFileEditorTool,
    "cooperbench_send_message": SendMessageTool,
}


_register_lock = threading.Lock()


def register_tools() -> None:
    """Register the tools with the SDK's (process-wide) tool registry; idempotent and thread-safe."""
    from openhands.sdk.tool import list_registered_tools

    with _register_lock:
        known = set(list_registered_tools())
        for name, cls in _REGISTERED.items():
            if name not in known:
                register_tool(name, cls)


def tool_specs(*, messaging: bool) -> list[Any]:
    """The SDK tool specs of an agent: terminal and file editor, and send_message when messaging is on."""
    from openhands.sdk import Tool

    register_tools()
    names = ["cooperbench_terminal", "cooperbench_file_editor"] + (["cooperbench_send_message"] if messaging else [])
    return [Tool(name=n) for n in names]
