"""Claude Code's ``stream-json`` output: the events, the final ``result``, and what they say about the run."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Outcome", "parse_stream", "price"]

# The CLI's `api_error` values and statuses that mean the provider, not the agent, failed.
_PROVIDER_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@dataclass
class Outcome:
    """What one CLI run produced.

    Attributes:
        events: every JSON event, in order (lines that are not JSON are skipped).
        result: the final ``result`` event, ``None`` when the CLI stopped without one.
        status: ``Submitted``, ``LimitsExceeded`` or ``Error``.
        provider_error: why the model provider failed (the pair is then ``infra_error``), else ``None``.
        error: why the agent failed, else ``None``.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    status: str = "Error"
    provider_error: str | None = None
    error: str | None = None
    cost: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    turns: int = 0
    tool_calls: int = 0


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def parse_stream(text: str) -> Outcome:
    """Read the CLI's standard output (one JSON event per line) into an :class:`Outcome`."""
    outcome = Outcome()
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        outcome.events.append(event)
        if event.get("type") == "assistant":
            content = (event.get("message") or {}).get("content") or []
            outcome.tool_calls += sum(
                1 for block in content if isinstance(block, dict) and block.get("type") == "tool_use"
            )
        if event.get("type") == "result":
            outcome.result = event
    result = outcome.result
    if result is None:
        outcome.error = "Claude Code stopped without a result event"
        return outcome
    usage = result.get("usage") or {}
    outcome.cost = float(result.get("total_cost_usd") or 0.0)
    outcome.input_tokens = _int(usage.get("input_tokens"))
    outcome.output_tokens = _int(usage.get("output_tokens"))
    outcome.cache_read_tokens = _int(usage.get("cache_read_input_tokens"))
    outcome.cache_write_tokens = _int(usage.get("cache_creation_input_tokens"))
    outcome.turns = _int(result.get("num_turns"))
    subtype = str(result.get("subtype") or "")
    api_error = result.get("api_error")
    status = result.get("api_error_status")
    if api_error or result.get("terminal_reason") == "api_error":
        text_ = str(result.get("result") or api_error)
        if status is None or _int(status) in _PROVIDER_STATUSES or api_error in ("connection_failed", "timeout"):
            outcome.provider_error = f"the model provider failed ({api_error}, status {status}): {text_[:300]}"
        else:
            outcome.error = f"the model provider refused the request ({api_error}, status {status}): {text_[:300]}"
        return outcome
    if subtype.startswith("error_max") or subtype == "error_budget":
        outcome.status = "LimitsExceeded"
        outcome.error = subtype
    elif result.get("is_error"):
        outcome.error = f"Claude Code reported an error ({subtype}): {str(result.get('result'))[:300]}"
    else:
        outcome.status = "Submitted"
    return outcome


def price(model: str, outcome: Outcome, input_cost: float | None, output_cost: float | None) -> float:
    """The cost of the run's tokens when the CLI reported none: the configured prices, else LiteLLM's price map."""
    if input_cost is not None or output_cost is not None:
        return (outcome.input_tokens + outcome.cache_read_tokens + outcome.cache_write_tokens) * (
            input_cost or 0.0
        ) + outcome.output_tokens * (output_cost or 0.0)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network while importing litellm
    import litellm

    try:
        prompt, completion = litellm.cost_per_token(
            model=model if "/" in model else f"anthropic/{model}",
            prompt_tokens=outcome.input_tokens + outcome.cache_read_tokens + outcome.cache_write_tokens,
            completion_tokens=outcome.output_tokens,
            cache_read_input_tokens=outcome.cache_read_tokens,
            cache_creation_input_tokens=outcome.cache_write_tokens,
        )
    except Exception:  # a model LiteLLM has no price for: cost unknown, recorded as 0
        return 0.0
    return float(prompt + completion)
