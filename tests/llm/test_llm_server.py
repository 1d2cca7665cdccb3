"""The LLM test server, driven through the real LiteLLM client (as agents drive it)."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from typing import Any

import pytest

from cooperbench.testing.llm_server import (
    DEFAULT_ROUTE,
    LLMTestServer,
    RecordedRequest,
    Reply,
    Usage,
    bash,
    error,
    forever,
    garbage,
    rate_limited,
    server_error,
    text,
    tool_call,
)

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import, as the agent does
litellm = pytest.importorskip("litellm")
litellm.suppress_debug_info = True

MESSAGES = [{"role": "user", "content": "hello"}]


def complete(server: LLMTestServer, messages: list[dict[str, Any]] = MESSAGES, **kwargs: Any) -> Any:
    kwargs.setdefault("max_retries", 0)  # the OpenAI SDK's own retries, off unless a test wants them
    return litellm.completion(
        model="openai/test-model", api_base=server.base_url, api_key="x", messages=messages, **kwargs
    )


def test_text_reply_carries_content_and_configured_usage() -> None:
    with LLMTestServer(
        [text("hi there", usage=Usage(prompt_tokens=321, completion_tokens=12, cached_tokens=300))]
    ) as server:
        response = complete(server)
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
    assert response.choices[0].message.content == "hi there"
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (321, 12)
    assert response.usage.prompt_tokens_details.cached_tokens == 300


def test_server_default_usage_applies_to_replies_without_their_own() -> None:
    with LLMTestServer([text("a")], usage=Usage(prompt_tokens=5, completion_tokens=2)) as server:
        response = complete(server)
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (5, 2, 7)


def test_tool_call_reply_is_parsed_by_litellm_as_a_function_call() -> None:
    with LLMTestServer([bash("ls -la", content="looking around"), tool_call("edit", '{"broken json')]) as server:
        first = complete(server)
        second = complete(server)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].message.content == "looking around"
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "bash" and json.loads(call.function.arguments) == {"command": "ls -la"}
    assert call.id
    assert second.choices[0].message.tool_calls[0].function.arguments == '{"broken json'


def test_every_request_is_recorded_with_its_body() -> None:
    tools = [{"type": "function", "function": {"name": "bash", "parameters": {"type": "object", "properties": {}}}}]
    with LLMTestServer([text("one"), text("two")]) as server:
        # litellm 1.106 routes tool requests through its MCP gateway, which needs the optional `mcp` package
        complete(server, temperature=0.25, tools=tools, _skip_mcp_handler=True)
        complete(server, [{"role": "system", "content": "sys"}, {"role": "user", "content": "again"}])
    assert [r.path for r in server.requests] == ["/v1/chat/completions"] * 2
    first, second = server.chat_requests
    assert first.body["temperature"] == 0.25
    assert first.body["tools"][0]["function"]["name"] == "bash"
    assert first.headers["authorization"] == "Bearer x"
    assert first.model == "test-model"
    assert second.text_of("system") == ["sys"] and second.text_of("user") == ["again"]
    assert (first.route, first.reply_index, second.reply_index) == (DEFAULT_ROUTE, 0, 1)


def test_two_conversations_are_routed_to_their_own_scripts_concurrently() -> None:
    script = {"agent1": [text("a1-first"), text("a1-second")], "agent2": [text("a2-first"), text("a2-second")]}
    answers: dict[str, list[str]] = {"agent1": [], "agent2": []}

    def converse(me: str, mate: str, server: LLMTestServer) -> None:
        system = {"role": "system", "content": f"You are {me}. Your teammate is {mate}."}
        for _ in range(2):
            answers[me].append(complete(server, [system, *MESSAGES]).choices[0].message.content)

    with LLMTestServer(script) as server:
        threads = [
            threading.Thread(target=converse, args=(*p, server)) for p in [("agent1", "agent2"), ("agent2", "agent1")]
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert answers == {"agent1": ["a1-first", "a1-second"], "agent2": ["a2-first", "a2-second"]}
    assert len(server.requests_for("agent1")) == 2 and len(server.requests_for("agent2")) == 2


def test_route_marker_matches_whole_words_only() -> None:
    with LLMTestServer({"agent1": [text("one")], "agent10": [text("ten")]}) as server:
        reply = complete(server, [{"role": "system", "content": "You are agent10."}, *MESSAGES])
    assert reply.choices[0].message.content == "ten"


def test_custom_router_and_callable_replies() -> None:
    def by_header(request: RecordedRequest, routes: Any) -> str:
        return request.headers.get("x-agent", "")

    def echo(request: RecordedRequest) -> Reply:
        return text(f"you said {request.text_of('user')[-1]}")

    with LLMTestServer({"a": [forever(Reply(content="unused"))], "b": [echo]}, router=by_header) as server:
        response = complete(server, extra_headers={"X-Agent": "b"})
    assert response.choices[0].message.content == "you said hello"


def test_unrouted_requests_get_the_fallback_or_a_400_naming_the_routes() -> None:
    with (
        LLMTestServer({"agent1": [text("x")]}) as server,
        pytest.raises(litellm.BadRequestError, match=r"no script route matches.*agent1"),
    ):
        complete(server)
    with LLMTestServer({"agent1": [text("x")]}, fallback=text("fallback answer")) as server:
        assert complete(server).choices[0].message.content == "fallback answer"
        assert server.chat_requests[0].route is None


def test_used_up_script_answers_400_naming_the_route() -> None:
    with LLMTestServer([text("only")]) as server:
        complete(server)
        with pytest.raises(litellm.BadRequestError, match="script of route 'default' is used up after 1 replies"):
            complete(server)
        assert server.remaining() == 0
        server.add(text("more"))
        assert complete(server).choices[0].message.content == "more"


def test_rate_limit_is_retried_by_litellm_after_retry_after() -> None:
    with LLMTestServer([rate_limited(retry_after=0.3), rate_limited(retry_after=0.3), text("finally")]) as server:
        started = time.monotonic()
        response = complete(server, max_retries=None, num_retries=3)
        elapsed = time.monotonic() - started
    assert response.choices[0].message.content == "finally"
    assert len(server.chat_requests) == 3
    assert elapsed >= 0.5  # both Retry-After waits were honoured


def test_rate_limit_without_retries_raises_with_retry_after_header() -> None:
    with (
        LLMTestServer([rate_limited(retry_after=7), text("never reached")]) as server,
        pytest.raises(litellm.RateLimitError) as caught,
    ):
        complete(server)
    assert caught.value.litellm_response_headers["retry-after"] == "7"
    assert len(server.requests) == 1


def test_server_error_forever_exhausts_retries() -> None:
    with LLMTestServer([forever(server_error(503, "overloaded"))]) as server:
        with pytest.raises((litellm.InternalServerError, litellm.ServiceUnavailableError), match="overloaded"):
            complete(server, max_retries=None, num_retries=2)
        assert server.remaining() == 1  # a forever reply is never used up
    assert len(server.chat_requests) >= 3


def test_garbage_body_surfaces_as_a_retryable_server_error() -> None:
    with LLMTestServer([garbage(), text("ok")]) as server:
        with pytest.raises(litellm.InternalServerError, match="Expecting value"):
            complete(server)
        assert complete(server).choices[0].message.content == "ok"


def test_api_key_is_enforced_when_configured() -> None:
    with LLMTestServer([text("ok")], api_key="sekret") as server:
        with pytest.raises(litellm.AuthenticationError, match="Incorrect API key"):
            complete(server)
        response = litellm.completion(
            model="openai/test-model", api_base=server.base_url, api_key="sekret", messages=MESSAGES, max_retries=0
        )
    assert response.choices[0].message.content == "ok"


def test_unknown_model_is_404_when_models_are_listed() -> None:
    with LLMTestServer([text("ok")], models=["test-model"]) as server:
        with pytest.raises(litellm.NotFoundError, match="does not exist"):
            litellm.completion(
                model="openai/other", api_base=server.base_url, api_key="x", messages=MESSAGES, max_retries=0
            )
        assert complete(server).choices[0].message.content == "ok"


def test_models_endpoint_lists_models() -> None:
    with LLMTestServer(models=["m1", "m2"]) as server, urllib.request.urlopen(f"{server.base_url}/models") as response:
        listing = json.loads(response.read())
    assert [m["id"] for m in listing["data"]] == ["m1", "m2"]
    assert server.requests[0].method == "GET"


def test_custom_error_status_maps_to_litellm_exception() -> None:
    with (
        LLMTestServer([error(400, "context too long", type="invalid_request_error")]) as server,
        pytest.raises(litellm.BadRequestError, match="context too long"),
    ):
        complete(server)


def test_delay_lets_client_timeouts_fire() -> None:
    with LLMTestServer([Reply(content="slow", delay=1.0)]) as server, pytest.raises(litellm.Timeout):
        complete(server, timeout=0.2)


def test_streaming_returns_content_and_usage() -> None:
    with LLMTestServer([text("streamed answer", usage=Usage(7, 3))]) as server:
        chunks = list(complete(server, stream=True, stream_options={"include_usage": True}))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usages = [c.usage for c in chunks if getattr(c, "usage", None)]
    assert content == "streamed answer"
    assert (usages[-1].prompt_tokens, usages[-1].completion_tokens) == (7, 3)


def test_stop_releases_the_port() -> None:
    server = LLMTestServer([text("x")]).start()
    url = server.base_url
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/models", timeout=2)
