"""Whose fault an exception escaping an agent is: the network's and the provider's are infra (#10.4)."""

from __future__ import annotations

import os

import httpx

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import, as the agent does
import litellm
import openai
import pytest

from cooperbench.errors import InfraError, SandboxError
from cooperbench.outcomes import Outcome, exception_outcome

REQUEST = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def _chained(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    "exc",
    [
        InfraError("provider down"),
        SandboxError("sandbox gone"),
        ConnectionResetError(104, "Connection reset by peer"),
        BrokenPipeError(),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        httpx.ReadTimeout("read timed out", request=REQUEST),
        httpx.RemoteProtocolError("Server disconnected without sending a response.", request=REQUEST),
        openai.APITimeoutError(request=REQUEST),
        openai.APIConnectionError(request=REQUEST),
        litellm.Timeout("Request timed out", model="m", llm_provider="openai"),
        litellm.RateLimitError("429", model="m", llm_provider="openai"),
        litellm.InternalServerError("Connection error.", model="m", llm_provider="openai"),
        _chained(RuntimeError("the agent wrapped it"), ConnectionResetError(104, "reset")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_network_and_provider_failures_are_infra_errors(exc: BaseException) -> None:
    assert exception_outcome(exc) is Outcome.INFRA_ERROR


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError("boom"),
        TypeError("unhashable type: 'dict'"),
        KeyError("backend"),
        litellm.BadRequestError("bad request", model="m", llm_provider="openai"),
        litellm.AuthenticationError("no key", model="m", llm_provider="openai"),
        litellm.ContextWindowExceededError("too long", model="m", llm_provider="openai"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_the_agents_own_failures_are_agent_errors(exc: BaseException) -> None:
    assert exception_outcome(exc) is Outcome.AGENT_ERROR
