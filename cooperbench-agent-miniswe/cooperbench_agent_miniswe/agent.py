"""mini-swe-agent's ``DefaultAgent`` with a teammate's inbox, context compaction and atomic trajectories."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from cooperbench.io import write_json_atomic
from cooperbench_agent_miniswe._thirdparty import DefaultAgent, litellm
from cooperbench_agent_miniswe.compaction import (
    compaction_window,
    elide_outputs,
    render_transcript,
    summary_message,
)
from cooperbench_agent_miniswe.config import Settings
from cooperbench_agent_miniswe.environment import Messenger, SandboxAdapter, format_incoming
from cooperbench_agent_miniswe.llm import TextModel, ToolcallModel

__all__ = ["CooperbenchAgent"]


class CooperbenchAgent(DefaultAgent):
    """The agent loop of mini-swe-agent, plus what working in a team needs.

    Before each step it tells the messaging connector the step number (for the ledger),
    shows the model the messages its teammates sent (``[Message from agent2]: ...``), and
    compacts the conversation once it passes ``threshold`` tokens.

    Args:
        model: the model (:mod:`cooperbench_agent_miniswe.llm`).
        env: the sandbox adapter.
        settings: the validated configuration.
        log: the agent's logger.
        comm: the messaging connector, or ``None``.
        team: the agent's ``cooperbench.team.TeamClient`` in a team run, else ``None``.
        threshold: context size in tokens that triggers compaction.
        summary_prompt: the system prompt of the summary call.
        **kwargs: mini-swe-agent ``AgentConfig`` fields (templates, limits, ``output_path``).
    """

    model: ToolcallModel | TextModel
    env: SandboxAdapter

    def __init__(
        self,
        model: ToolcallModel | TextModel,
        env: SandboxAdapter,
        *,
        settings: Settings,
        log: logging.Logger,
        comm: Messenger | None,
        threshold: int,
        summary_prompt: str,
        team: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, env, **kwargs)
        self.settings = settings
        self.log = log
        self.comm = comm
        self.team = team
        self.threshold = threshold
        self.summary_prompt = summary_prompt
        self.compactions = 0
        self.received_messages = 0
        self._last_save = float("-inf")

    # -- the step ------------------------------------------------------------------------------

    def query(self) -> dict[str, Any]:
        step = self.n_calls + 1
        self.log.info("--- step %d ---", step)
        if self.team is not None:
            self.team.set_step(step)
            self._show_tasks()
        if self.comm is not None:
            self.comm.set_step(step)  # type: ignore[attr-defined]
            self._show_incoming()
        if self.model.stats.last_context_tokens >= self.threshold:
            self.compact(f"context reached {self.model.stats.last_context_tokens} tokens (threshold {self.threshold})")
        try:
            return super().query()
        except litellm.ContextWindowExceededError as exc:
            self.log.warning("the model's context window was exceeded: %s", exc)
            if not self.compact("the provider reported the context window exceeded"):
                raise
            self.n_calls -= 1  # the rejected call gave nothing; the retry is the step
            return super().query()

    def _show_tasks(self) -> None:
        """The team's task list, when it changed since the model last saw it (team runs with auto-refresh)."""
        text = self.team.refresh()
        if text:
            self.log.info("task list shown:\n%s", text)
            self.add_messages(self.model.format_message(role="user", content=text, extra={"interrupt_type": "tasks"}))

    def _show_incoming(self) -> None:
        assert self.comm is not None
        incoming = self.comm.receive()
        if not incoming:
            return
        self.received_messages += len(incoming)
        text = format_incoming(incoming)
        self.log.info("messages received:\n%s", text)
        self.add_messages(
            self.model.format_message(
                role="user", content=text, extra={"interrupt_type": "messages", "messages": incoming}
            )
        )

    # -- compaction ----------------------------------------------------------------------------

    def compact(self, reason: str) -> bool:
        """Shrink the conversation (see :mod:`cooperbench_agent_miniswe.compaction`).

        Returns:
            Whether anything was compacted.
        """
        mode = self.settings.agent.compaction
        if mode == "off":
            return False
        start, end = compaction_window(self.messages, self.settings.agent.compaction_keep_recent)
        middle = self.messages[start:end]
        if not middle:
            return False
        if mode == "truncate":
            elided = elide_outputs(middle)
            if not elided:
                return False
            self.log.info("compaction (%s): elided %d older command outputs", reason, elided)
        else:
            transcript = render_transcript(middle)
            summary, cost = self.model.complete_text(
                [{"role": "system", "content": self.summary_prompt}, {"role": "user", "content": transcript}],
                what="compaction summary call",
            )
            self.n_calls += 1  # the summary is a model call like any other: it counts as a step and costs
            self.cost += cost
            self.messages[start:end] = [summary_message(summary, middle, cost)]
            self.log.info("compaction (%s): %d messages summarised into one", reason, len(middle))
        self.compactions += 1
        self.model.stats.last_context_tokens = 0  # measured again by the next call
        return True

    # -- trajectory ----------------------------------------------------------------------------

    def serialize(self, *extra_dicts: dict[str, Any]) -> dict[str, Any]:
        stats = self.model.stats
        ours = {
            "info": {
                "cooperbench": {
                    "steps": self.n_calls,
                    "cost": self.cost,
                    "input_tokens": stats.input_tokens,
                    "output_tokens": stats.output_tokens,
                    "cache_read_tokens": stats.cache_read_tokens,
                    "cache_write_tokens": stats.cache_write_tokens,
                    "retries": stats.retries,
                    "compactions": self.compactions,
                    "sent_messages": self.env.sent_messages,
                    "received_messages": self.received_messages,
                }
            }
        }
        data: dict[str, Any] = super().serialize(ours, *extra_dicts)
        return data

    def save(self, path: Path | None, *extra_dicts: dict[str, Any]) -> dict[str, Any]:
        """Write the trajectory to ``path`` atomically (a reader never sees half a file).

        mini-swe-agent saves after every step; serialising a long trajectory each time would
        cost more than the rest of the step, so those saves happen at most every
        ``agent.trajectory_save_interval`` seconds. A save with ``extra_dicts`` (the final one)
        always writes.

        Returns:
            The serialised trajectory, or ``{}`` when this save was skipped.
        """
        now = time.monotonic()
        if not extra_dicts and now - self._last_save < self.settings.agent.trajectory_save_interval:
            return {}
        data = self.serialize(*extra_dicts)
        if path:
            write_json_atomic(path, data)
            self._last_save = now
        return data
