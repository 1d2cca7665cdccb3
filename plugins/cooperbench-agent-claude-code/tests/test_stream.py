"""Reading Claude Code's stream-json output: the result event's figures, and who is to blame when it failed."""

from __future__ import annotations

import json

import pytest
from cooperbench_agent_claude_code.stream import parse_stream, price


def _stream(**result: object) -> str:
    events = [
        {"type": "system", "subtype": "init", "claude_code_version": "2.1.332"},
        {"type": "assistant", "message": {"content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]}},
        {"type": "result", "subtype": "success", "is_error": False, "num_turns": 3, **result},
    ]
    return "not json: the CLI's stray output\n" + "\n".join(json.dumps(e) for e in events) + "\n"


def test_result_event_gives_cost_tokens_and_turns():
    usage = {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 7, "cache_creation_input_tokens": 2}
    outcome = parse_stream(_stream(total_cost_usd=0.25, usage=usage))
    assert outcome.status == "Submitted" and outcome.error is None and outcome.provider_error is None
    assert (outcome.cost, outcome.turns, outcome.tool_calls) == (0.25, 3, 1)
    assert (outcome.input_tokens, outcome.output_tokens, outcome.cache_read_tokens, outcome.cache_write_tokens) == (
        10,
        5,
        7,
        2,
    )
    assert len(outcome.events) == 3


@pytest.mark.parametrize(
    ("result", "status", "blame"),
    [
        ({"is_error": True, "api_error": "rate_limit", "api_error_status": 429}, "Error", "provider"),
        ({"is_error": True, "api_error": "server_error", "api_error_status": 529}, "Error", "provider"),
        ({"is_error": True, "api_error": "connection_failed", "api_error_status": None}, "Error", "provider"),
        ({"is_error": True, "api_error": "authentication_failed", "api_error_status": 401}, "Error", "agent"),
        ({"is_error": True, "subtype": "error_max_turns"}, "LimitsExceeded", "agent"),
        ({"is_error": True, "subtype": "error_during_execution"}, "Error", "agent"),
    ],
)
def test_provider_failures_are_told_apart_from_the_agents_own(result: dict, status: str, blame: str):
    outcome = parse_stream(_stream(**result))
    assert outcome.status == status
    assert (outcome.provider_error is not None) == (blame == "provider")
    assert (outcome.error is not None) == (blame == "agent")


def test_no_result_event_is_an_error_and_tokens_without_cost_are_priced(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM's own price map, never fetched
    assert parse_stream('{"type": "system"}\n').error == "Claude Code stopped without a result event"
    outcome = parse_stream(_stream(total_cost_usd=0, usage={"input_tokens": 1000, "output_tokens": 100}))
    assert price("m", outcome, 0.001, 0.002) == pytest.approx(1000 * 0.001 + 100 * 0.002)
    import litellm

    expected = sum(
        litellm.cost_per_token(model="anthropic/claude-sonnet-4-5", prompt_tokens=1000, completion_tokens=100)
    )
    assert price("claude-sonnet-4-5", outcome, None, None) == pytest.approx(expected) and expected > 0
    assert price("no-such-model-anywhere", outcome, None, None) == 0.0
