"""The test server's Anthropic Messages API (Claude Code's wire format), spoken over real HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from cooperbench.testing.anthropic_api import SIDE_REPLY
from cooperbench.testing.llm_server import LLMTestServer, Usage, rate_limited, text, tool_call

TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}}]


def _post(server: LLMTestServer, body: dict[str, Any], key: str = "k") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        f"{server.url}/v1/messages?beta=true",
        data=json.dumps(body).encode(),
        headers={"x-api-key": key, "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _body(agent: str, *, stream: bool = False, tools: list[Any] = TOOLS) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": f"You are {agent}; your teammate is agent2."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "go"}]}],
        "tools": tools,
        "stream": stream,
    }


def test_messages_api_answers_scripts_by_route_as_json_and_as_server_sent_events():
    script = {
        "agent1": [rate_limited(retry_after=0), tool_call("Bash", {"command": "ls"}), text("done")],
        "agent2": [text("hi")],
    }
    with LLMTestServer(
        script, usage=Usage(prompt_tokens=300, completion_tokens=20, cached_tokens=100), api_key="k"
    ) as server:
        status, headers, raw = _post(server, _body("agent1"))
        assert status == 429 and headers["Retry-After"] == "0"
        assert json.loads(raw)["error"]["type"] == "rate_limit_error" and json.loads(raw)["type"] == "error"

        status, _, raw = _post(server, _body("agent1"))
        message = json.loads(raw)
        assert status == 200 and message["stop_reason"] == "tool_use"
        assert message["content"][0] == {
            "type": "tool_use",
            "id": message["content"][0]["id"],
            "name": "Bash",
            "input": {"command": "ls"},
        }
        assert message["usage"] == {
            "input_tokens": 200,
            "output_tokens": 20,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 0,
        }

        status, headers, raw = _post(server, _body("agent1", stream=True))
        assert status == 200 and headers["Content-Type"] == "text/event-stream"
        events = [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]
        blocks = ["content_block_start", "content_block_delta", "content_block_stop"]
        assert [e["type"] for e in events] == ["message_start", *blocks, "message_delta", "message_stop"]
        assert (
            events[2]["delta"] == {"type": "text_delta", "text": "done"}
            and events[4]["delta"]["stop_reason"] == "end_turn"
        )

        # a side request (no tools) uses up no scripted reply; a wrong key is refused
        status, _, raw = _post(server, _body("agent2", tools=[]))
        assert status == 200 and json.loads(raw)["content"][0]["text"] == SIDE_REPLY
        assert json.loads(_post(server, _body("agent2"))[2])["content"][0]["text"] == "hi"
        assert _post(server, _body("agent2"), key="wrong")[0] == 401
        assert [r.route for r in server.requests][:3] == ["agent1", "agent1", "agent1"]


@pytest.mark.parametrize("body", [{"model": "m"}, []])
def test_messages_api_refuses_a_body_without_messages(body: Any):
    with LLMTestServer([text("x")]) as server:
        status, _, raw = _post(server, body)  # type: ignore[arg-type]
    assert status == 400 and json.loads(raw)["error"]["type"] == "invalid_request_error"
