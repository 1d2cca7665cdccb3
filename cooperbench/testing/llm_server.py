"""An OpenAI-compatible chat completions server that answers from a script, for tests.

It also speaks Anthropic's Messages API (``POST /v1/messages``, streaming included) from the
same scripts: see :mod:`cooperbench.testing.anthropic_api`.

LLM providers are the one boundary tests cannot reach, so agents are tested against this
server through their real client (LiteLLM, the OpenAI SDK, ...): the server speaks the
OpenAI wire format, replies from a script, and records every request it received.

Example::

    from cooperbench.testing.llm_server import LLMTestServer, bash, rate_limited, text

    with LLMTestServer([rate_limited(retry_after=0), bash("echo hi"), text("done")]) as server:
        litellm.completion(model="openai/test-model", api_base=server.base_url, api_key="x", messages=[...])
        assert len(server.requests) == 2

A script is a list of replies, or a mapping ``route -> list of replies`` so that several
agents of one run get their own scripts. A request's route is found by its *router*; the
default, :func:`route_by_marker`, looks for a route name (e.g. the agent id ``agent1``) as a
whole word in the system message, then in the user messages. Requests no route claims get
``fallback`` (by default a 400 error naming the routes).

A reply is a :class:`Reply` (plain text, tool calls, an HTTP error, raw bytes) or a callable
taking the :class:`RecordedRequest` and returning one. :func:`forever` marks a reply that is
never used up, for "always fails" or "always answers" scripts.

The same scripts answer the OpenAI Responses API (``POST /v1/responses``, what Codex calls):
see :mod:`cooperbench.testing.responses_api`.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from cooperbench.testing import anthropic_api

__all__ = [
    "DEFAULT_ROUTE",
    "LLMTestServer",
    "RecordedRequest",
    "Reply",
    "ToolCall",
    "Usage",
    "bash",
    "connection_reset",
    "error",
    "forever",
    "garbage",
    "rate_limited",
    "route_by_marker",
    "server_error",
    "slow",
    "text",
    "tool_call",
]

DEFAULT_ROUTE = "default"
"""The route of a plain list script: every request goes to it."""


@dataclass(frozen=True)
class Usage:
    """Token counts reported in a reply's ``usage`` block.

    Attributes:
        prompt_tokens: input tokens (cached ones included, as OpenAI counts them).
        completion_tokens: output tokens.
        cached_tokens: input tokens served from the provider's cache
            (``usage.prompt_tokens_details.cached_tokens``).
    """

    prompt_tokens: int = 100
    completion_tokens: int = 20
    cached_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }


@dataclass(frozen=True)
class ToolCall:
    """One function call the scripted assistant makes.

    Attributes:
        name: the function (tool) name.
        arguments: the arguments; a dict is sent JSON-encoded, a string is sent verbatim
            (so a test can send arguments that are not valid JSON).
        id: the call id; generated when ``None``.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """One scripted answer to a chat completion request.

    Attributes:
        content: the assistant's text.
        tool_calls: the assistant's tool calls.
        usage: token counts; ``None`` uses the server's default.
        status: the HTTP status; anything but 200 sends ``body`` or an OpenAI-style error.
        body: raw bytes sent instead of a completion (for invalid JSON and the like).
        headers: extra response headers (``Retry-After``, ...).
        delay: seconds to wait before answering (for client timeouts).
        reset: after ``delay``, drop the connection with a TCP reset instead of answering.
        finish_reason: defaults to ``tool_calls`` when there are tool calls, else ``stop``.
        repeat: the reply is never used up (see :func:`forever`).
    """

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    status: int = 200
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    finish_reason: str | None = None
    repeat: bool = False


def text(content: str, *, usage: Usage | None = None) -> Reply:
    """A plain text answer."""
    return Reply(content=content, usage=usage)


def tool_call(
    name: str, arguments: Mapping[str, Any] | str, *, content: str | None = None, usage: Usage | None = None
) -> Reply:
    """An answer calling one tool, with optional text next to the call."""
    return Reply(content=content, tool_calls=(ToolCall(name, arguments),), usage=usage)


def bash(command: str, *, content: str | None = None, usage: Usage | None = None) -> Reply:
    """An answer calling the ``bash`` tool with ``{"command": command}`` (mini-swe-agent's tool)."""
    return tool_call("bash", {"command": command}, content=content, usage=usage)


def error(
    status: int,
    message: str,
    *,
    type: str = "server_error",
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """An HTTP error with an OpenAI-style ``{"error": {...}}`` body."""
    body = json.dumps({"error": {"message": message, "type": type, "param": None, "code": code}}).encode()
    return Reply(status=status, body=body, headers=dict(headers or {}))


def rate_limited(retry_after: float | None = 1, *, message: str = "Rate limit reached (scripted)") -> Reply:
    """A 429 answer, with a ``Retry-After`` header (seconds) unless ``retry_after`` is ``None``."""
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    return error(429, message, type="rate_limit_error", code="rate_limit_exceeded", headers=headers)


def server_error(status: int = 500, message: str = "Internal server error (scripted)") -> Reply:
    """A 5xx answer."""
    return error(status, message)


def garbage(body: bytes = b'{"id": "chatcmpl-garbage", "choices": [ this is not json') -> Reply:
    """A 200 answer whose body is not valid JSON."""
    return Reply(status=200, body=body, headers={"Content-Type": "application/json"})


def slow(seconds: float, reply: Reply | None = None) -> Reply:
    """``reply`` (by default a short text) sent only after ``seconds``: a client with a shorter timeout gives up."""
    return replace(reply or text("(a late answer)"), delay=seconds)


def connection_reset() -> Reply:
    """No answer: the server reads the request and resets the connection (``ECONNRESET`` at the client)."""
    return Reply(reset=True)


def forever(reply: Reply) -> Reply:
    """``reply``, never used up: every later request of its route gets it too."""
    return replace(reply, repeat=True)


@dataclass
class RecordedRequest:
    """A request the server received.

    Attributes:
        method: ``GET`` or ``POST``.
        path: the request path, e.g. ``/v1/chat/completions``.
        headers: request headers, names lower-cased.
        raw: the request body as received.
        body: the body parsed as JSON (``None`` when it is not JSON).
        route: the script route that answered (``None`` for ``/models`` and unrouted requests).
        reply_index: which reply of the route's script answered (``None`` for the fallback).
        received_at: ``time.time()`` on arrival.
    """

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any = None
    route: str | None = None
    reply_index: int | None = None
    received_at: float = field(default_factory=time.time)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of the request (empty for other requests)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("messages"), list):
            return self.body["messages"]
        return []

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    def text_of(self, role: str) -> list[str]:
        """The text of every message of ``role``, in order (list contents flattened).

        For ``"system"`` the top-level ``system`` field of an Anthropic request comes first.
        """
        if role == "system" and isinstance(self.body, dict) and self.body.get("system"):
            return [
                _content_text(self.body["system"]),
                *(_content_text(m.get("content")) for m in self.messages if m.get("role") == role),
            ]
        return [_content_text(m.get("content")) for m in self.messages if m.get("role") == role]


ScriptItem = Reply | Callable[[RecordedRequest], Reply]
Router = Callable[[RecordedRequest, Sequence[str]], "str | None"]


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def route_by_marker(request: RecordedRequest, routes: Sequence[str]) -> str | None:
    """Pick the route whose name appears as a whole word earliest in the system message, then the user messages.

    Agent prompts name their own agent before their teammates ("You are agent1 ...
    your teammate agent2"), so the earliest mention identifies the conversation.
    """
    for text_ in [*request.text_of("system"), *request.text_of("user")]:
        found = [(m.start(), r) for r in routes if (m := re.search(rf"(?<![\w-]){re.escape(r)}(?![\w-])", text_))]
        if found:
            return min(found)[1]
    return None


class LLMTestServer:
    """An OpenAI-compatible server (``/v1/chat/completions``, ``/v1/models``) answering from a script.

    Args:
        script: a list of replies, or a mapping from route to list of replies.
        router: picks a request's route; defaults to :func:`route_by_marker` (a list script
            has the single route :data:`DEFAULT_ROUTE` and needs no router).
        fallback: the reply for a request no route claims; defaults to a 400 error.
        usage: default token counts of replies that do not set their own.
        api_key: when set, requests must carry ``Authorization: Bearer <api_key>`` (else 401).
        models: when set, the only model names accepted (others get a 404 ``model_not_found``);
            also what ``GET /v1/models`` lists.

    Attributes:
        requests: every request received, in order of arrival.
    """

    def __init__(
        self,
        script: Sequence[ScriptItem] | Mapping[str, Sequence[ScriptItem]] = (),
        *,
        router: Router | None = None,
        fallback: Reply | None = None,
        usage: Usage | None = None,
        api_key: str | None = None,
        models: Sequence[str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self._scripts: dict[str, list[ScriptItem]] = (
            {k: list(v) for k, v in script.items()} if isinstance(script, Mapping) else {DEFAULT_ROUTE: list(script)}
        )
        self._positions: dict[str, int] = dict.fromkeys(self._scripts, 0)
        self._routed = isinstance(script, Mapping)
        self.router: Router = router or route_by_marker
        self.fallback = fallback
        self.usage = usage or Usage()
        self.api_key = api_key
        self.models = list(models) if models is not None else None
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._counter = 0
        self._host = host
        self._httpd = ThreadingHTTPServer((host, 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://host:port`` of the server."""
        return f"http://{self._host}:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``http://127.0.0.1:<port>/v1``): LiteLLM's ``api_base``."""
        return f"{self.url}/v1"

    def start(self) -> LLMTestServer:
        """Start serving in a daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="llm-test-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> LLMTestServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- script ------------------------------------------------------------------------------

    def add(self, *replies: ScriptItem, route: str = DEFAULT_ROUTE) -> None:
        """Append replies to a route's script (creating the route), also while serving."""
        with self._lock:
            self._scripts.setdefault(route, []).extend(replies)
            self._positions.setdefault(route, 0)

    def remaining(self, route: str = DEFAULT_ROUTE) -> int:
        """How many replies of ``route`` are not used yet (a :func:`forever` reply counts as one)."""
        with self._lock:
            return len(self._scripts.get(route, ())) - self._positions.get(route, 0)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The chat completion requests received, in order."""
        with self._lock:
            return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    def requests_for(self, route: str) -> list[RecordedRequest]:
        """The chat completion requests answered from ``route``'s script."""
        return [r for r in self.chat_requests if r.route == route]

    def _next_reply(self, request: RecordedRequest) -> Reply:
        routes = list(self._scripts)
        route = DEFAULT_ROUTE if not self._routed else self.router(request, routes)
        with self._lock:
            request.route = route
            if route is None or route not in self._scripts:
                item: ScriptItem | None = self.fallback
                if item is None:
                    return error(
                        400,
                        f"LLM test server: no script route matches this request (routes: {routes})",
                        type="invalid_request_error",
                    )
            else:
                position = self._positions[route]
                script = self._scripts[route]
                if position >= len(script):
                    return error(
                        400,
                        f"LLM test server: the script of route {route!r} is used up after {len(script)} replies",
                        type="invalid_request_error",
                    )
                item = script[position]
                request.reply_index = position
                if not (isinstance(item, Reply) and item.repeat):
                    self._positions[route] = position + 1
        return item(request) if callable(item) else item

    # -- wire format -------------------------------------------------------------------------

    def _completion(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        with self._lock:
            self._counter += 1
            n = self._counter
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id or f"call_{n}_{i}",
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": call.arguments
                        if isinstance(call.arguments, str)
                        else json.dumps(dict(call.arguments)),
                    },
                }
                for i, call in enumerate(reply.tool_calls)
            ]
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        return {
            "id": f"chatcmpl-test-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model or "test-model",
            "system_fingerprint": "llm-test-server",
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": (reply.usage or self.usage).to_dict(),
        }


def _stream_chunks(completion: dict[str, Any]) -> list[dict[str, Any]]:
    """The completion as server-sent-event chunks: the whole delta, the finish reason, then usage."""
    choice = completion["choices"][0]
    delta = dict(choice["message"])
    if "tool_calls" in delta:
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(delta["tool_calls"])]
    base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")} | {
        "object": "chat.completion.chunk"
    }
    return [
        base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        base | {"choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]},
        base | {"choices": [], "usage": completion["usage"]},
    ]


def _make_handler(server: LLMTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # requests are recorded in server.requests; stderr noise helps nobody

        def _record(self) -> RecordedRequest:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            request = RecordedRequest(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, raw, body
            )
            with server._lock:
                server.requests.append(request)
            return request

        def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
            self.send_response(status)
            sent = {k.lower() for k in (headers or {})}
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if "content-type" not in sent:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a slow reply)
                self.close_connection = True

        def _reset(self) -> None:
            # SO_LINGER 0: close() sends RST instead of FIN, as a crashed proxy or a dropped route does.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.wfile.flush = lambda: None  # type: ignore[method-assign]  # nothing left to send
            self.connection.close()

        def _send_reply(self, reply: Reply) -> None:
            body = reply.body
            if body is None:
                body = json.dumps(
                    {"error": {"message": HTTPStatus(reply.status).phrase, "type": "server_error"}}
                ).encode()
            self._send(reply.status, body, reply.headers)

        def _authorized(self) -> bool:
            if server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}":
                return True
            self._send_reply(
                error(
                    401,
                    "Incorrect API key provided (LLM test server)",
                    type="invalid_request_error",
                    code="invalid_api_key",
                )
            )
            return False

        def do_GET(self) -> None:
            request = self._record()
            if not self._authorized():
                return
            if request.path.rstrip("/").endswith("/models"):
                data = [
                    {"id": m, "object": "model", "created": 0, "owned_by": "llm-test-server"}
                    for m in server.models or ["test-model"]
                ]
                self._send(200, json.dumps({"object": "list", "data": data}).encode())
            else:
                self._send_reply(error(404, f"no such endpoint: GET {request.path}", type="invalid_request_error"))

        def do_POST(self) -> None:
            request = self._record()
            if anthropic_api.handles(request.path):  # Anthropic Messages API (Claude Code)
                anthropic_api.respond(server, self, request)
                return
            if not self._authorized():
                return
            from cooperbench.testing import responses_api  # the OpenAI Responses API, in its own module

            if responses_api.handles(request.path):
                responses_api.answer(server, self, request)
                return
            if not request.path.rstrip("/").endswith("/chat/completions"):
                self._send_reply(error(404, f"no such endpoint: POST {request.path}", type="invalid_request_error"))
                return
            if not isinstance(request.body, dict) or not isinstance(request.body.get("messages"), list):
                self._send_reply(
                    error(400, "the request body must be a JSON object with 'messages'", type="invalid_request_error")
                )
                return
            model = request.model
            if server.models is not None and model not in server.models:
                self._send_reply(
                    error(
                        404,
                        f"The model `{model}` does not exist or you do not have access to it.",
                        type="invalid_request_error",
                        code="model_not_found",
                    )
                )
                return
            reply = server._next_reply(request)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.reset:
                self._reset()
                return
            if reply.status != 200 or reply.body is not None:
                self._send_reply(reply)
                return
            completion = server._completion(request, reply)
            if request.body.get("stream"):
                events = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in _stream_chunks(completion))
                self._send(200, events + b"data: [DONE]\n\n", {"Content-Type": "text/event-stream", **reply.headers})
            else:
                self._send(200, json.dumps(completion).encode(), reply.headers)

    return Handler
