"""OpenHands' ``Agent`` with CooperBench's two additions: teammates' messages and a sandbox that died.

Before each step the agent tells the message bus its step count (so the harness's ledger
records when messages were sent and read) and receives what its teammates sent, which is
put into the conversation as ``[Message from <id>]: ...`` user messages. In a team run it
also shows the team's task list when it changed (``[Team task list] ...``; auto-refresh). A sandbox or bus
failure seen by a tool (the SDK turns tool exceptions into observations for the model)
ends the run at the next step instead of letting the model talk to a dead sandbox.
"""

from __future__ import annotations

import inspect
import os
from typing import TYPE_CHECKING, Any

from openhands.sdk import Agent
from openhands.sdk.event import MessageEvent
from openhands.sdk.llm import Message, TextContent

from cooperbench_agent_openhands._sdk.tools import format_incoming
from cooperbench_agent_openhands._sdk.workspace import session_of

if TYPE_CHECKING:
    from openhands.sdk.conversation import ConversationCallbackType, ConversationTokenCallbackType, LocalConversation

__all__ = ["CooperBenchAgent"]

# The SDK picks its built-in system prompt only for agents whose prompts live next to its
# own Agent class; point this subclass there so it gets OpenHands' prompt unchanged.
_SDK_PROMPT_DIR = os.path.join(os.path.dirname(inspect.getfile(Agent)), "prompts")
# The SDK's tracing decorator hides Agent.step's signature from type checkers.
_sdk_step: Any = Agent.step


class CooperBenchAgent(Agent):
    """OpenHands' agent, receiving teammates' messages before each step."""

    @property
    def prompt_dir(self) -> str:
        return _SDK_PROMPT_DIR

    def step(  # type: ignore[override]  # same signature; the SDK's decorator hides its own
        self,
        conversation: LocalConversation,
        on_event: ConversationCallbackType,
        on_token: ConversationTokenCallbackType | None = None,
    ) -> None:
        """Deliver waiting messages, then take OpenHands' step.

        Raises:
            InfraError: the sandbox or the message bus failed earlier in the run, or now.
        """
        session = session_of(conversation)
        if session.failure is not None:
            raise session.failure
        session.steps += 1
        if session.team is not None:  # team runs: the step for the ledger, and the task list when it changed
            session.team.set_step(session.steps)
            summary = session.team.refresh()
            if summary:
                on_event(
                    MessageEvent(
                        source="user",
                        llm_message=Message(role="user", content=[TextContent(text=summary)]),
                        sender="cooperbench",
                    )
                )
        if session.comm is not None:
            session.comm.set_step(session.steps)
            incoming = session.comm.receive()
            for message, text in zip(incoming, format_incoming(incoming), strict=True):
                on_event(
                    MessageEvent(
                        source="user",
                        llm_message=Message(role="user", content=[TextContent(text=text)]),
                        sender=str(message.get("from")),
                    )
                )
        _sdk_step(self, conversation, on_event, on_token)
