"""The test server's OpenAI Responses API (Codex's wire format) and the model relay CLI agents reach their
model through (Codex's Responses API, Claude Code's Messages API), spoken over real HTTP (TCP to the server,
a unix socket to the relay)."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cooperbench.agents.model_relay import (
    FORWARDER_NAME,
    PERL_FORWARDER_NAME,
    SANDBOX_SOCKET,
    STEP_LIMIT_CODE,
    ModelRelay,
)
from cooperbench.testing.llm_server import LLMTestServer, Usage, rate_limited, server_error, text, tool_call
from cooperbench.testing.responses_api import broken_stream, chat_view, responses_requests, shell

TOOLS = [{"type": "function", "name": "exec_command", "parameters": {"type": "object"}}]


def _body(agent: str, *, stream: bool = True) -> dict[str, Any]:
    return {
        "model": "gpt-5",
        "instructions": "You are a coding agent.",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": f"You are {agent}."}]},
            {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "hi"},
        ],
        "tools": TOOLS,
        "stream": stream,
    }


def _post(url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"{url}/responses", data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _events(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]


def test_streamed_answer_has_items_and_usage_and_routes_by_agent():
    usage = Usage(prompt_tokens=50, completion_tokens=5, cached_tokens=7)
    script = {"agent1": [tool_call("exec_command", {"cmd": "ls"}, content="looking")], "agent2": [text("done")]}
    with LLMTestServer(script, usage=usage) as server:
        status, raw = _post(server.base_url, _body("agent1"))
        assert status == 200
        events = _events(raw)
        assert events[0]["type"] == "response.created"
        assert events[-1]["type"] == "response.completed"
        assert events[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 7
        items = [e["item"] for e in events if e["type"] == "response.output_item.done"]
        assert [i["type"] for i in items] == ["message", "function_call"]
        assert json.loads(items[1]["arguments"]) == {"cmd": "ls"}
        status, raw = _post(server.base_url, _body("agent2", stream=False))
        assert status == 200 and json.loads(raw)["output"][0]["content"][0]["text"] == "done"
        assert [r.route for r in responses_requests(server)] == ["agent1", "agent2"]


def test_chat_view_and_shell_pick_the_offered_tool():
    view = chat_view(_body("agent1"))
    assert [m["role"] for m in view] == ["system", "user", "assistant", "tool"]
    with LLMTestServer([shell("echo hi")]) as server:
        body = _body("x") | {"tools": [{"type": "function", "name": "shell"}]}
        items = [
            e["item"] for e in _events(_post(server.base_url, body)[1]) if e["type"] == "response.output_item.done"
        ]
        assert json.loads(items[0]["arguments"]) == {"command": ["bash", "-lc", "echo hi"]}


def test_errors_and_a_broken_stream():
    with LLMTestServer([server_error(), broken_stream()]) as server:
        assert _post(server.base_url, _body("x"))[0] == 500
        status, raw = _post(server.base_url, _body("x"))
        assert status == 200 and [e["type"] for e in _events(raw)] == ["response.created"]


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("relay")
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def _relay_post(relay: ModelRelay, body: dict[str, Any]) -> tuple[int, bytes]:
    connection = _UnixConnection(str(relay.socket_path))
    connection.request("POST", "/responses", body=json.dumps(body), headers={"Authorization": "Bearer sandbox"})
    answer = connection.getresponse()
    return answer.status, answer.read()


def test_relay_adds_the_key_retries_429_streams_and_enforces_the_step_limit():
    steps: list[int] = []
    with (
        LLMTestServer([rate_limited(retry_after=0), text("one"), text("two")], api_key="sk-host") as server,
        ModelRelay(
            server.base_url, headers={"Authorization": "Bearer sk-host"}, max_requests=2, on_request=steps.append
        ) as relay,
    ):
        status, raw = _relay_post(relay, _body("x"))
        assert status == 200 and _events(raw)[-1]["type"] == "response.completed"
        assert relay.rate_limited == 1  # the 429 never reached the client
        assert _relay_post(relay, _body("x"))[0] == 200
        status, raw = _relay_post(relay, _body("x"))
        assert status == 400 and json.loads(raw)["error"]["code"] == STEP_LIMIT_CODE and relay.limit_reached
        assert steps == [1, 2]
        assert {r.headers["authorization"] for r in server.requests} == {"Bearer sk-host"}
        assert len(server.requests) == 3  # the 429, then two answers; the third request was never forwarded
        assert relay.mounts()[0].target == "/run/cooperbench/model"
    assert not relay.socket_path.exists()


def test_relay_for_the_messages_api_sends_only_the_host_credentials_streams_and_answers_in_anthropic_shape():
    """Claude Code's relay: it sends a placeholder x-api-key, the host authenticates with a bearer token."""
    body = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "go"}],
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],  # an agent turn, not a side request
        "stream": True,
    }

    def post(relay: ModelRelay) -> http.client.HTTPResponse:
        connection = _UnixConnection(str(relay.socket_path))
        connection.request(
            "POST",
            "/v1/messages?beta=true",
            body=json.dumps(body),
            headers={"x-api-key": "placeholder", "content-type": "application/json"},
        )
        return connection.getresponse()

    anthropic = {"drop_headers": ("X-Api-Key", "authorization"), "error_format": "anthropic"}
    with (
        LLMTestServer([rate_limited(retry_after=0), text("one")], api_key="sk-host") as server,
        ModelRelay(server.url, headers={"authorization": "Bearer sk-host"}, rate_limit_retries=0, **anthropic) as relay,
    ):
        assert post(relay).status == 429  # not retried: the CLI retries itself
        answer = post(relay)
        assert answer.status == 200 and answer.getheader("Content-Type") == "text/event-stream"
        assert answer.getheader("Connection") == "close"
        events = [line for line in answer.read().decode().splitlines() if line.startswith("event: ")]
        assert events[0] == "event: message_start" and events[-1] == "event: message_stop"
        assert [r.path for r in server.requests] == ["/v1/messages?beta=true"] * 2
        assert all("x-api-key" not in r.headers for r in server.requests)  # the placeholder was dropped
        assert {r.headers["authorization"] for r in server.requests} == {"Bearer sk-host"}
        assert f"{relay.mounts()[0].target}/{relay.socket_path.name}" == SANDBOX_SOCKET  # where the CLI is pointed

    # An endpoint that refuses connections (a port bound, never listening): a 502 in Anthropic's shape,
    # naming the endpoint without the credentials its URL holds.
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        with ModelRelay(f"http://user:secret@127.0.0.1:{port}/base?token=secret", **anthropic) as relay:
            answer = post(relay)
            error = json.loads(answer.read())
    assert answer.status == 502 and error["type"] == "error" and error["error"]["type"] == "api_error"
    message = error["error"]["message"]
    assert f"http://127.0.0.1:{port}/base: ConnectionRefusedError" in message and "secret" not in message
    with pytest.raises(ValueError, match="error_format"):
        ModelRelay(server.url, error_format="gemini")  # type: ignore[arg-type]


@pytest.mark.parametrize(("interpreter", "forwarder"), [("python3", FORWARDER_NAME), ("perl", PERL_FORWARDER_NAME)])
def test_the_in_sandbox_forwarders_pipe_tcp_to_the_relay(tmp_path: Path, interpreter: str, forwarder: str):
    with (
        LLMTestServer([text("one"), text("two")]) as server,
        ModelRelay(server.base_url, headers={"Authorization": "Bearer sk-host"}) as relay,
    ):
        port_file = tmp_path / "port"
        proc = subprocess.Popen([interpreter, str(relay.directory / forwarder), str(port_file), str(relay.socket_path)])
        try:
            deadline = time.monotonic() + 60
            while not (port_file.exists() and port_file.read_text()) and time.monotonic() < deadline:
                time.sleep(0.05)  # polling for the port file, with a generous limit
            url = f"http://127.0.0.1:{port_file.read_text()}"
            for expected in ("one", "two"):  # one connection per request, each piped whole
                status, raw = _post(url, _body("x"))
                assert status == 200
                items = [e["item"] for e in _events(raw) if e["type"] == "response.output_item.done"]
                assert items[0]["content"][0]["text"] == expected
        finally:
            proc.kill()
            proc.wait()
        assert {r.headers["authorization"] for r in server.requests} == {"Bearer sk-host"}
