"""Context compaction: shrinking a long conversation before it outgrows the model's context.

Two ways, chosen by ``agent.compaction``:

- ``summarize``: the older middle of the conversation (everything between the task and the
  ``compaction_keep_recent`` latest messages) is replaced by one message holding a summary
  the model writes in one extra call (counted in cost and steps);
- ``truncate``: the outputs of older commands are replaced by a short note; no model call.

Nothing is lost from the trajectory: the replaced messages are kept in the ``extra`` of the
summary message (``compacted_messages``) or of the elided message (``elided_content``),
which are never sent to the model.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "DEFAULT_THRESHOLD",
    "ELIDED_NOTE",
    "compaction_window",
    "default_threshold",
    "elide_outputs",
    "render_transcript",
    "summary_message",
]

DEFAULT_THRESHOLD = 100_000
"""Tokens that trigger compaction when LiteLLM does not know the model's context size."""

ELIDED_NOTE = "[output of an earlier command elided to save context]"
_HEAD = 2  # the system prompt and the task stay


def default_threshold(model_name: str) -> int:
    """80% of the model's input limit when LiteLLM knows it, else :data:`DEFAULT_THRESHOLD`."""
    from cooperbench_agent_miniswe._thirdparty import litellm

    try:
        limit = litellm.get_model_info(model_name).get("max_input_tokens")
    except Exception:  # a model LiteLLM does not map
        limit = None
    return int(limit * 0.8) if isinstance(limit, int) and limit > 0 else DEFAULT_THRESHOLD


def compaction_window(messages: list[dict[str, Any]], keep_recent: int) -> tuple[int, int]:
    """The slice ``[start, end)`` of ``messages`` to compact.

    The kept tail never starts with a tool result, whose assistant message (the tool call)
    must stay with it.
    """
    end = max(_HEAD, len(messages) - keep_recent)
    while end > _HEAD and messages[end].get("role") == "tool":
        end -= 1
    return _HEAD, end


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def render_transcript(messages: list[dict[str, Any]], per_message_limit: int = 4000) -> str:
    """The messages as plain text for the summary call (tool calls shown as their commands)."""
    parts: list[str] = []
    for msg in messages:
        role = msg.get("role", "?")
        text = _text(msg.get("content"))
        for call in msg.get("tool_calls") or []:
            function = (call or {}).get("function") or {}
            try:
                command = json.loads(function.get("arguments") or "{}").get("command", "")
            except (ValueError, AttributeError):
                command = function.get("arguments", "")
            text += f"\n$ {command}"
        if len(text) > per_message_limit:
            half = per_message_limit // 2
            text = f"{text[:half]}\n[... {len(text) - per_message_limit} characters cut ...]\n{text[-half:]}"
        parts.append(f"## {role}\n{text.strip()}")
    return "\n\n".join(parts)


def summary_message(summary: str, dropped: list[dict[str, Any]], cost: float) -> dict[str, Any]:
    """The user message replacing ``dropped``; the dropped messages stay in its ``extra``."""
    return {
        "role": "user",
        "content": f"[Summary of your earlier work; older messages were compacted to save context]\n{summary.strip()}",
        "extra": {"interrupt_type": "compaction", "compacted_messages": dropped, "cost": cost},
    }


def elide_outputs(messages: list[dict[str, Any]]) -> int:
    """Replace the content of command outputs in ``messages`` (in place) by :data:`ELIDED_NOTE`.

    Returns:
        How many outputs were elided (0 when there was nothing left to elide).
    """
    count = 0
    for msg in messages:
        extra = msg.get("extra")
        is_output = msg.get("role") == "tool" or (isinstance(extra, dict) and "raw_output" in extra)
        if not is_output or msg.get("content") == ELIDED_NOTE:
            continue
        msg.setdefault("extra", {})["elided_content"] = msg.get("content")
        msg["content"] = ELIDED_NOTE
        count += 1
    return count
