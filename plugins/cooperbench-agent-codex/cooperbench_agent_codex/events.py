"""Reading the JSON Lines stream of ``codex exec --json``: usage, turns, tool calls, failures."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CodexStream", "parse_stream"]

_TOOL_ITEMS = frozenset({"command_execution", "file_change", "mcp_tool_call", "web_search"})


@dataclass
class CodexStream:
    """What one ``codex exec`` run reported.

    Attributes:
        events: every JSON event, in order (lines that are not JSON are kept as ``{"type": "text", "text": ...}``).
        input_tokens: input tokens of all turns (cached ones included, as Codex and OpenAI count them).
        cache_read_tokens: input tokens served from the provider's cache.
        cache_write_tokens: input tokens written to the provider's cache.
        output_tokens: output tokens (reasoning included).
        turns: completed turns (``turn.completed`` events).
        tool_calls: tool items the CLI completed (commands, file changes, MCP calls, searches).
        commands: the shell commands it ran.
        last_message: the agent's final text.
        failure: the message of a ``turn.failed`` or top-level ``error`` event, when one came.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    turns: int = 0
    tool_calls: int = 0
    commands: list[str] = field(default_factory=list)
    last_message: str = ""
    failure: str | None = None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_stream(text: str) -> CodexStream:
    """Parse the stdout of ``codex exec --json``."""
    stream = CodexStream()
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            stream.events.append({"type": "text", "text": line})
            continue
        stream.events.append(event)
        kind = event.get("type")
        if kind == "turn.completed":
            usage = event.get("usage") or {}
            stream.turns += 1
            stream.input_tokens += _int(usage.get("input_tokens"))
            stream.cache_read_tokens += _int(usage.get("cached_input_tokens"))
            stream.cache_write_tokens += _int(usage.get("cache_write_input_tokens"))
            stream.output_tokens += _int(usage.get("output_tokens"))
        elif kind == "turn.failed":
            error = event.get("error") or {}
            stream.failure = str(error.get("message") if isinstance(error, dict) else error)
        elif kind == "error":
            stream.failure = str(event.get("message"))
        elif kind == "item.completed":
            item = event.get("item") or {}
            item_type = item.get("type")
            if item_type in _TOOL_ITEMS:
                stream.tool_calls += 1
            if item_type == "command_execution" and isinstance(item.get("command"), str):
                stream.commands.append(item["command"])
            elif item_type == "agent_message" and isinstance(item.get("text"), str):
                stream.last_message = item["text"]
    return stream
