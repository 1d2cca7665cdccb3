"""Driving one OpenHands conversation to its end, and reading how it ended and what it cost."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openhands.sdk import LLM, AgentContext, LocalConversation
from openhands.sdk.conversation import ConversationExecutionStatus
from openhands.sdk.conversation.exceptions import ConversationRunError
from openhands.sdk.event import ActionEvent, LLMConvertibleEvent
from openhands.sdk.event.conversation_error import ConversationErrorEvent
from openhands.sdk.io import InMemoryFileStore
from openhands.sdk.llm.exceptions import (
    LLMNoResponseError,
    LLMRateLimitError,
    LLMServiceUnavailableError,
    LLMTimeoutError,
)

from cooperbench.errors import InfraError
from cooperbench_agent_openhands._sdk.agent import CooperBenchAgent
from cooperbench_agent_openhands._sdk.tools import tool_specs
from cooperbench_agent_openhands._sdk.workspace import SandboxWorkspace
from cooperbench_agent_openhands.config import AgentSettings
from cooperbench_agent_openhands.prompt import CONTINUE_MESSAGE
from cooperbench_agent_openhands.session import SandboxSession

__all__ = ["MAX_CONTINUE_NUDGES", "Outcome", "chat_messages", "converse"]

MAX_CONTINUE_NUDGES = 3
"""How often a model that answers with text instead of calling ``finish`` is told to go on."""

_PROVIDER_OUTAGES = (LLMRateLimitError, LLMServiceUnavailableError, LLMTimeoutError, LLMNoResponseError)
_LIMIT_CODES = {"MaxIterationsReached", "MaxBudgetReached"}


@dataclass
class Outcome:
    """How a conversation ended.

    Attributes:
        status: ``Submitted``, ``LimitsExceeded``, ``Stuck`` or ``Error``.
        error: why, when it did not end with ``Submitted``.
        cost: USD, from the SDK's LLM metrics.
        input_tokens, output_tokens, cache_read_tokens, cache_write_tokens: from the same metrics.
        events: every SDK event of the conversation.
        infra_error: an infrastructure failure that ended the run (raised by the caller once
            the records are written).
    """

    status: str
    error: str | None = None
    cost: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    events: list[Any] = field(default_factory=list)
    infra_error: InfraError | None = None


def chat_messages(events: list[Any]) -> list[dict[str, Any]]:
    """The conversation as OpenAI-style chat messages (``role``, ``content``, ``tool_calls``, ...)."""
    convertible = [e for e in events if isinstance(e, LLMConvertibleEvent)]
    return [
        m.to_chat_dict(
            cache_enabled=False,
            vision_enabled=False,
            function_calling_enabled=True,
            force_string_serializer=True,
            send_reasoning_content=True,
        )
        for m in LLMConvertibleEvent.events_to_messages(convertible)
    ]


def _finished_by_tool(events: list[Any]) -> bool:
    return any(isinstance(e, ActionEvent) and e.tool_name == "finish" for e in events)


def _ending(conversation: LocalConversation) -> tuple[str, str | None]:
    state = conversation.state
    status = state.execution_status
    errors = [e for e in state.events if isinstance(e, ConversationErrorEvent)]
    last = errors[-1] if errors else None
    if status == ConversationExecutionStatus.FINISHED:
        return "Submitted", None
    if status == ConversationExecutionStatus.STUCK:
        return "Stuck", "OpenHands' stuck detector stopped the agent (it repeated itself)"
    if last is not None and last.code in _LIMIT_CODES:
        return "LimitsExceeded", last.detail
    detail = f"{last.code}: {last.detail}" if last is not None else f"the conversation ended as {status.value}"
    return "Error", detail


def _as_infra_error(exc: BaseException) -> InfraError | None:
    original = exc.original_exception if isinstance(exc, ConversationRunError) else exc
    if isinstance(original, InfraError):
        return original
    if isinstance(original, _PROVIDER_OUTAGES):
        error = InfraError(f"LLM provider failed after retries ({type(original).__name__}): {original}")
        error.__cause__ = original
        return error
    return None


def converse(
    session: SandboxSession,
    settings: AgentSettings,
    *,
    model_name: str,
    agent_id: str,
    first_message: str,
    system_suffix: str,
    on_event: Callable[[Any], None],
) -> Outcome:
    """Run the OpenHands agent on ``first_message`` until it finishes, stops, or hits a limit.

    Never raises for the agent's own failures (they are an ``Error`` outcome); an
    infrastructure failure is returned in :attr:`Outcome.infra_error`.
    """
    llm = LLM(model=model_name, usage_id=f"cooperbench-{agent_id}", **settings.llm)
    options: dict[str, Any] = {"system_prompt": settings.system_prompt} if settings.system_prompt else {}
    agent = CooperBenchAgent(
        llm=llm,
        tools=tool_specs(messaging=session.comm is not None),
        include_default_tools=["FinishTool", "ThinkTool"],
        agent_context=AgentContext(system_message_suffix=system_suffix),
        **options,
    )
    with tempfile.TemporaryDirectory(prefix=f"cooperbench-openhands-{agent_id}-") as scratch:
        # Any: the SDK's tracing decorator hides the signatures of run() and send_message().
        conversation: Any = LocalConversation(
            agent=agent,
            workspace=SandboxWorkspace(working_dir=scratch, session=session),
            file_store=InMemoryFileStore(),  # nothing persisted on the host; the trajectory is written by the runner
            callbacks=[on_event],
            max_iteration_per_run=settings.max_iterations,
            max_budget_per_run=settings.cost_limit,
            visualizer=None,
        )
        outcome = Outcome(status="Error")
        try:
            conversation.send_message(first_message)
            nudges = 0
            while True:
                conversation.max_iteration_per_run = max(1, settings.max_iterations - session.steps)
                conversation.run()
                events = list(conversation.state.events)
                finished = conversation.state.execution_status == ConversationExecutionStatus.FINISHED
                if (
                    finished
                    and not _finished_by_tool(events)
                    and nudges < MAX_CONTINUE_NUDGES
                    and session.steps < settings.max_iterations
                ):
                    nudges += 1
                    conversation.send_message(CONTINUE_MESSAGE)
                    continue
                break
            outcome.status, outcome.error = _ending(conversation)
        except Exception as exc:  # the SDK's failures are the agent's result; outages are reported apart
            outcome.infra_error = _as_infra_error(exc)
            outcome.status = "Error"
            original = exc.original_exception if isinstance(exc, ConversationRunError) else exc
            outcome.error = f"{type(original).__name__}: {original}"
        try:
            if outcome.infra_error is None and session.failure is not None:
                outcome.infra_error = session.failure
            outcome.events = list(conversation.state.events)
            metrics = conversation.conversation_stats.get_combined_metrics()
            outcome.cost = float(metrics.accumulated_cost or 0.0)
            usage = metrics.accumulated_token_usage
            if usage is not None:
                outcome.input_tokens = usage.prompt_tokens
                outcome.output_tokens = usage.completion_tokens
                outcome.cache_read_tokens = usage.cache_read_tokens
                outcome.cache_write_tokens = usage.cache_write_tokens
        finally:
            conversation.close()
    return outcome
