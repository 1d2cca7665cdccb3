"""The OpenAI Responses API (``POST /v1/responses``, SSE streaming) of the LLM test server, for CLI agents.

Codex (and other clients of the Responses API) call ``POST {base_url}/responses`` with
``"stream": true`` and read server-sent events: ``response.created``, one
``response.output_item.done`` per output item (a ``message`` or a ``function_call``), then
``response.completed`` carrying ``usage``. :class:`~cooperbench.testing.llm_server.LLMTestServer`
answers those requests from the same scripts as chat completions: a reply's text becomes a
``message`` item and each of its tool calls a ``function_call`` item. Routing sees the request
as chat messages (see :func:`chat_view`), so :func:`~cooperbench.testing.llm_server.route_by_marker`
and scripted callables work unchanged.

Failure modes: :func:`~cooperbench.testing.llm_server.rate_limited`,
:func:`~cooperbench.testing.llm_server.server_error` and
:func:`~cooperbench.testing.llm_server.garbage` as for chat completions; a reply's ``delay``
stalls the stream after ``response.created`` (a client's idle timeout fires);
:func:`broken_stream` ends the stream before ``response.completed``.

Example (a scripted Codex teammate)::

    script = {
        "agent1": teammate_script(partner="agent2", patch=gold_patch_1, message="agent1: I do feature 1"),
        "agent2": teammate_script(partner="agent1", patch=gold_patch_2, message="agent2: I do feature 2"),
    }
    with LLMTestServer(script) as server:
        ...  # Codex's provider base_url = server.base_url
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cooperbench.testing.llm_server import RecordedRequest, Reply, ToolCall, Usage, error

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

    from cooperbench.testing.llm_server import LLMTestServer, ScriptItem

__all__ = [
    "MESSAGING_COMMAND",
    "answer",
    "broken_stream",
    "chat_view",
    "handles",
    "is_responses_request",
    "responses_requests",
    "shell",
    "teammate_script",
]

MESSAGING_COMMAND = "/run/cooperbench/messaging/coop-msg"
"""The in-sandbox messaging command (see docs/messaging.md)."""

_BROKEN = b"__cooperbench_broken_stream__"


def handles(path: str) -> bool:
    """Whether a POST to ``path`` is a Responses API call (``.../responses``)."""
    return path.split("?", 1)[0].rstrip("/").endswith("/responses")


def is_responses_request(request: RecordedRequest) -> bool:
    return request.method == "POST" and handles(request.path)


def responses_requests(server: LLMTestServer, route: str | None = None) -> list[RecordedRequest]:
    """The Responses API requests ``server`` received (of ``route`` only, when given), in order."""
    with server._lock:
        found = [r for r in server.requests if is_responses_request(r)]
    return [r for r in found if route is None or r.route == route]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def chat_view(body: Any) -> list[dict[str, Any]]:
    """A Responses request body as chat messages: ``instructions`` and developer messages as
    ``system``, user and assistant messages as themselves, function calls as assistant
    ``tool_calls`` and their outputs as ``tool`` messages."""
    if not isinstance(body, dict):
        return []
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role", "user")
            messages.append({"role": "system" if role == "developer" else role, "content": _text(item.get("content"))})
        elif kind in ("function_call", "custom_tool_call"):
            arguments = item.get("arguments", item.get("input", ""))
            call = {
                "id": item.get("call_id"),
                "type": "function",
                "function": {"name": item.get("name"), "arguments": arguments},
            }
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item.get("output")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id"),
                    "content": _text(output) if not isinstance(output, str) else output,
                }
            )
    return messages


def broken_stream(usage: Usage | None = None) -> Reply:
    """A 200 event stream that ends after ``response.created``, before ``response.completed``."""
    return Reply(status=200, body=_BROKEN, usage=usage)


def shell(command: str) -> ScriptItem:
    """A reply that runs ``command`` through the client's own shell tool.

    Codex 0.147 offers ``exec_command`` (``{"cmd": ...}``); older versions offer ``shell``
    (``{"command": ["bash", "-lc", ...]}``). The tool is picked from the request's ``tools``.
    """

    def answer(request: RecordedRequest) -> Reply:
        tools = request.body.get("tools") if isinstance(request.body, dict) else None
        names = {t.get("name") for t in tools or [] if isinstance(t, dict)}
        if "exec_command" in names or not names:
            return Reply(tool_calls=(ToolCall("exec_command", {"cmd": command}),))
        if "shell" in names:
            return Reply(tool_calls=(ToolCall("shell", {"command": ["bash", "-lc", command]}),))
        return error(400, f"LLM test server: the request offers no shell tool (tools: {sorted(map(str, names))})")

    return answer


def teammate_script(
    *,
    partner: str | None,
    patch: str,
    message: str = "",
    before: Sequence[str] = (),
    receive_wait: float = 120,
    final: str = "Done: the feature is implemented.",
    messaging_command: str = MESSAGING_COMMAND,
) -> list[ScriptItem]:
    """The script of a cooperating CLI agent: message the partner, apply ``patch`` through the
    shell tool, wait for the partner's message, finish.

    Args:
        partner: the teammate to message (``None``: solo, no messaging).
        patch: a unified diff applied with ``git apply`` in the working directory.
        message: what to tell the partner.
        before: shell commands run first (probes, files written outside the repository).
        receive_wait: the longest ``coop-msg receive --wait`` blocks.
        final: the closing text.
    """
    delimiter = "COOPERBENCH_PATCH_EOF"
    if delimiter in patch:
        raise ValueError("the patch contains the heredoc delimiter")
    script: list[ScriptItem] = [shell(c) for c in before]
    if partner is not None:
        script.append(shell(f"{messaging_command} send {shlex.quote(partner)} {shlex.quote(message)}"))
    body = patch if patch.endswith("\n") else patch + "\n"
    script.append(shell(f"git apply --whitespace=nowarn - <<'{delimiter}'\n{body}{delimiter}\ngit status --short"))
    if partner is not None:
        script.append(shell(f"{messaging_command} receive --wait {receive_wait:g}"))
    script.append(Reply(content=final))
    return script


# -- the wire format -------------------------------------------------------------------------------


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def _output_items(reply: Reply, n: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.content:
        items.append(
            {
                "type": "message",
                "id": f"msg_{n}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": reply.content, "annotations": []}],
            }
        )
    for i, call in enumerate(reply.tool_calls):
        arguments = call.arguments if isinstance(call.arguments, str) else json.dumps(dict(call.arguments))
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{n}_{i}",
                "call_id": call.id or f"call_{n}_{i}",
                "name": call.name,
                "arguments": arguments,
                "status": "completed",
            }
        )
    return items


def answer(server: LLMTestServer, handler: BaseHTTPRequestHandler, request: RecordedRequest) -> None:
    """Answer one ``POST .../responses`` request from ``server``'s script (called by the server's handler)."""
    send_reply = handler._send_reply  # type: ignore[attr-defined]
    body = request.body
    if not isinstance(body, dict) or not isinstance(body.get("input"), list | str):
        send_reply(error(400, "the request body must be a JSON object with 'input'", type="invalid_request_error"))
        return
    if server.models is not None and request.model not in server.models:
        send_reply(
            error(
                404,
                f"The model `{request.model}` does not exist or you do not have access to it.",
                type="invalid_request_error",
                code="model_not_found",
            )
        )
        return
    # Routing and scripted callables see the request as chat messages.
    view = replace(request, body={**body, "messages": chat_view(body)})
    reply = server._next_reply(view)
    request.route, request.reply_index = view.route, view.reply_index
    if reply.status != 200 or (reply.body is not None and reply.body != _BROKEN):
        if reply.delay:
            time.sleep(reply.delay)
        send_reply(reply)
        return
    with server._lock:
        server._counter += 1
        n = server._counter
    usage = reply.usage or server.usage
    response: dict[str, Any] = {
        "id": f"resp_test_{n}",
        "object": "response",
        "created_at": int(time.time()),
        "model": request.model or "test-model",
        "status": "completed",
        "output": _output_items(reply, n),
        "usage": _usage(usage),
    }
    if not body.get("stream"):
        if reply.delay:
            time.sleep(reply.delay)
        handler._send(200, json.dumps(response).encode(), reply.headers)  # type: ignore[attr-defined]
        return
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Connection", "close")
    for key, value in reply.headers.items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.close_connection = True

    def event(kind: str, **data: Any) -> None:
        handler.wfile.write(f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode())
        handler.wfile.flush()

    try:
        started = {k: v for k, v in response.items() if k not in ("output", "usage")} | {"status": "in_progress"}
        event("response.created", response=started)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.body == _BROKEN:
            return
        for index, item in enumerate(response["output"]):
            event("response.output_item.added", output_index=index, item={**item, "status": "in_progress"})
            if item["type"] == "message":
                text = item["content"][0]["text"]
                event("response.output_text.delta", item_id=item["id"], output_index=index, content_index=0, delta=text)
            event("response.output_item.done", output_index=index, item=item)
        event("response.completed", response=response)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (its timeout); nothing to answer
