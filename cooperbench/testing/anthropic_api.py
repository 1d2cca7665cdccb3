"""The Anthropic Messages API of :class:`~cooperbench.testing.llm_server.LLMTestServer`.

Claude Code (and any Anthropic client) talks to the test server through ``POST /v1/messages``
(``?beta=true`` included) and ``POST /v1/messages/count_tokens``. The same scripts as for
chat completions answer it: a :class:`~cooperbench.testing.llm_server.Reply`'s ``content``
becomes a ``text`` block and each :class:`~cooperbench.testing.llm_server.ToolCall` a
``tool_use`` block (``stop_reason: tool_use``); ``stream: true`` gets server-sent events
(``message_start``, ``content_block_*``, ``message_delta``, ``message_stop``). Errors keep
their status and ``Retry-After``, with the body in Anthropic's shape
(``{"type": "error", "error": {"type", "message"}}``); :func:`~cooperbench.testing.llm_server.garbage`
bodies are sent as they are.

Routing: the system prompt is the top-level ``system`` field, which
:meth:`RecordedRequest.text_of` reads for ``"system"``, so
:func:`~cooperbench.testing.llm_server.route_by_marker` finds an agent id there.

Requests that offer no tools are the client's side requests (Claude Code asks for a session
title, a summary, ...): they get :data:`SIDE_REPLY` and use up no scripted reply, so a
script holds only the agent's own turns.

Example (Claude Code's own tools)::

    from cooperbench.testing.llm_server import LLMTestServer, text, tool_call

    script = [tool_call("Bash", {"command": "echo hi > /tmp/x"}), text("done")]
    with LLMTestServer(script) as server:
        ...  # ANTHROPIC_BASE_URL=server.url claude -p "..."
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from cooperbench.testing.llm_server import LLMTestServer, RecordedRequest, Reply, Usage

__all__ = ["SIDE_REPLY", "handles", "message_body", "respond", "sse_events"]

SIDE_REPLY = "OK"
"""The text every request without tools gets (a side request of the client, not an agent turn)."""

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def handles(path: str) -> bool:
    """Whether ``path`` (query string included) is an endpoint of the Messages API."""
    route = urlsplit(path).path.rstrip("/")
    return route.endswith("/messages") or route.endswith("/messages/count_tokens")


def _usage(usage: Usage) -> dict[str, Any]:
    # OpenAI counts cached tokens inside prompt_tokens; Anthropic reports them apart.
    return {
        "input_tokens": max(usage.prompt_tokens - usage.cached_tokens, 0),
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


def message_body(reply: Reply, *, model: str, number: int, usage: Usage) -> dict[str, Any]:
    """The non-streaming ``message`` object of a scripted reply."""
    content: list[dict[str, Any]] = []
    if reply.content:
        content.append({"type": "text", "text": reply.content})
    for i, call in enumerate(reply.tool_calls):
        arguments = call.arguments if isinstance(call.arguments, Mapping) else json.loads(call.arguments or "{}")
        content.append(
            {"type": "tool_use", "id": call.id or f"toolu_{number}_{i}", "name": call.name, "input": arguments}
        )
    stop = reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn")
    return {
        "id": f"msg_test_{number}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _usage(reply.usage or usage),
    }


def sse_events(message: dict[str, Any]) -> bytes:
    """The message as the server-sent events of a streaming response."""
    start = dict(message, content=[], stop_reason=None, usage=dict(message["usage"], output_tokens=1))
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            first: dict[str, Any] = {"type": "text", "text": ""}
            delta: dict[str, Any] = {"type": "text_delta", "text": block["text"]}
        else:
            first = dict(block, input={})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": first}),
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


def _error(handler: Any, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
    body = {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}
    handler._send(status, json.dumps(body).encode(), headers)


def _authorized(server: LLMTestServer, request: RecordedRequest) -> bool:
    if server.api_key is None:
        return True
    return request.headers.get("x-api-key") == server.api_key or (
        request.headers.get("authorization") == f"Bearer {server.api_key}"
    )


def respond(server: LLMTestServer, handler: Any, request: RecordedRequest) -> None:
    """Answer one Messages API request on ``handler`` (the test server's request handler)."""
    if not _authorized(server, request):
        _error(handler, 401, "invalid x-api-key (LLM test server)")
        return
    body = request.body
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        _error(handler, 400, "the request body must be a JSON object with 'messages'")
        return
    if urlsplit(request.path).path.rstrip("/").endswith("/count_tokens"):
        handler._send(200, json.dumps({"input_tokens": max(len(request.raw) // 4, 1)}).encode())
        return
    model = str(body.get("model") or "test-model")
    if server.models is not None and model not in server.models:
        _error(handler, 404, f"model: {model}")
        return
    if not body.get("tools"):
        reply: Reply = _side_reply()
    else:
        reply = server._next_reply(request)
    if reply.delay:
        time.sleep(reply.delay)
    if reply.status != 200:
        _error(handler, reply.status, _error_message(reply), reply.headers)
        return
    if reply.body is not None:
        handler._send(200, reply.body, reply.headers)
        return
    with server._lock:
        server._counter += 1
        number = server._counter
    message = message_body(reply, model=model, number=number, usage=server.usage)
    if body.get("stream"):
        handler._send(200, sse_events(message), {"Content-Type": "text/event-stream", **reply.headers})
    else:
        handler._send(200, json.dumps(message).encode(), reply.headers)


def _side_reply() -> Reply:
    from cooperbench.testing.llm_server import Reply

    return Reply(content=SIDE_REPLY)


def _error_message(reply: Reply) -> str:
    try:
        parsed = json.loads(reply.body or b"")
        return str(parsed["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return (reply.body or b"scripted error").decode("utf-8", "replace")
