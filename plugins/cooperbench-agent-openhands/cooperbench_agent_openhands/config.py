"""The ``openhands`` agent's configuration: the ``agent``, ``model`` and ``environment`` sections, validated.

Pure Python on purpose (no SDK import), so a bad configuration is reported before anything
heavy loads or any sandbox starts.

Example (``--agent-config``)::

    agent:
      max_iterations: 50        # step_limit is accepted as an alias
      cost_limit: 2.0
      temperature: 0.0
    model:                      # LiteLLM keyword arguments
      api_base: http://127.0.0.1:8000/v1
      api_key: sk-...
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
    environment:                # set for every command in the sandbox
      PIP_NO_INPUT: "1"
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cooperbench.errors import ConfigError

__all__ = ["AGENT_KEYS", "HARNESS_SECTIONS", "MODEL_KEYS", "AgentSettings", "check_api_key", "parse_config"]

HARNESS_SECTIONS = frozenset({"backend", "backend_options", "task", "run"})
"""Sections the harness fills in; this agent does not read them."""

AGENT_KEYS = frozenset(
    {"max_iterations", "step_limit", "cost_limit", "temperature", "system_prompt", "command_timeout", "wait_timeout"}
)

MODEL_KEYS: Mapping[str, str] = {
    # LiteLLM keyword -> field of openhands.sdk.LLM
    "api_base": "base_url",
    "base_url": "base_url",
    "api_key": "api_key",
    "api_version": "api_version",
    "max_tokens": "max_output_tokens",
    "max_output_tokens": "max_output_tokens",
    "max_input_tokens": "max_input_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "timeout": "timeout",
    "num_retries": "num_retries",
    "retry_min_wait": "retry_min_wait",
    "retry_max_wait": "retry_max_wait",
    "retry_multiplier": "retry_multiplier",
    "input_cost_per_token": "input_cost_per_token",
    "output_cost_per_token": "output_cost_per_token",
    "reasoning_effort": "reasoning_effort",
    "extra_headers": "extra_headers",
    "extra_body": "litellm_extra_body",
    "drop_params": "drop_params",
    "caching_prompt": "caching_prompt",
    "native_tool_calling": "native_tool_calling",
    "stream": "stream",
    "aws_access_key_id": "aws_access_key_id",
    "aws_secret_access_key": "aws_secret_access_key",
    "aws_session_token": "aws_session_token",
    "aws_region_name": "aws_region_name",
    "aws_profile_name": "aws_profile_name",
}

# Providers whose SDKs find credentials on their own (application default credentials,
# instance profiles): a missing variable is not proof of a missing key.
_AMBIENT_CREDENTIAL_PROVIDERS = frozenset({"vertex_ai", "vertex_ai_beta", "bedrock", "bedrock_converse", "sagemaker"})


@dataclass(frozen=True)
class AgentSettings:
    """The validated configuration of one ``openhands`` agent.

    Attributes:
        max_iterations: the most agent steps (model calls) before the run stops as ``LimitsExceeded``.
        cost_limit: USD; the run stops as ``LimitsExceeded`` past it (``None``: no limit).
        system_prompt: replaces the OpenHands system prompt when set.
        command_timeout: seconds a terminal command may run unless the model asks for more.
        wait_timeout: the longest a ``send_message`` call with ``wait`` blocks for a reply, in seconds.
        llm: keyword arguments of ``openhands.sdk.LLM`` (without ``model``).
        env: environment variables for every sandbox command.
    """

    max_iterations: int = 100
    cost_limit: float | None = None
    system_prompt: str | None = None
    command_timeout: float = 180.0
    wait_timeout: float = 120.0
    llm: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def _section(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"openhands agent config: `{name}` must be a mapping, got {type(value).__name__}")
    return dict(value)


def _number(section: str, key: str, value: Any, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"openhands agent config: `{section}.{key}` must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def _unknown(section: str, keys: set[str], known: set[str] | frozenset[str]) -> None:
    if keys:
        raise ConfigError(
            f"openhands agent config: unknown key(s) in `{section}`: {', '.join(sorted(keys))}; "
            f"supported: {', '.join(sorted(known))}"
        )


def parse_config(config: Mapping[str, Any] | None) -> AgentSettings:
    """Validate the configuration dictionary handed to the agent.

    Args:
        config: the ``config`` argument of ``run`` (``agent``, ``model``, ``environment``
            sections; the harness's ``backend``, ``task`` and ``run`` sections are ignored).

    Returns:
        The settings, defaults filled in.

    Raises:
        ConfigError: an unknown section or key (named in the message), or a value of the wrong type.
    """
    config = dict(config or {})
    sections = {"agent", "model", "environment"}
    _unknown("the top level", set(config) - sections - HARNESS_SECTIONS, sections)
    agent, model, environment = _section(config, "agent"), _section(config, "model"), _section(config, "environment")
    _unknown("agent", set(agent) - AGENT_KEYS, AGENT_KEYS)
    _unknown("model", set(model) - set(MODEL_KEYS), set(MODEL_KEYS))
    if "max_iterations" in agent and "step_limit" in agent and agent["max_iterations"] != agent["step_limit"]:
        raise ConfigError("openhands agent config: `agent.max_iterations` and `agent.step_limit` disagree; set one")

    steps = agent.get("max_iterations", agent.get("step_limit", AgentSettings.max_iterations))
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"openhands agent config: `agent.max_iterations` must be an integer >= 1, got {steps!r}")
    cost_limit = agent.get("cost_limit")
    system_prompt = agent.get("system_prompt")
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise ConfigError("openhands agent config: `agent.system_prompt` must be a string")

    llm: dict[str, Any] = {}
    for key, value in model.items():
        target = MODEL_KEYS[key]
        if target in llm and llm[target] != value:
            raise ConfigError(f"openhands agent config: `model.{key}` repeats another key setting `{target}`; set one")
        llm[target] = value
    if "num_retries" in llm:
        # LiteLLM's num_retries counts retries; the SDK's counts attempts (the first one included).
        llm["num_retries"] = int(_number("model", "num_retries", llm["num_retries"])) + 1
    if "temperature" in agent:
        llm.setdefault("temperature", _number("agent", "temperature", agent["temperature"]))

    env: dict[str, str] = {}
    for key, value in environment.items():
        if not isinstance(key, str) or not key or isinstance(value, Mapping | list):
            raise ConfigError(f"openhands agent config: `environment.{key}` must map a variable name to a scalar")
        env[key] = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    return AgentSettings(
        max_iterations=steps,
        cost_limit=None if cost_limit is None else _number("agent", "cost_limit", cost_limit),
        system_prompt=system_prompt,
        command_timeout=_number("agent", "command_timeout", agent.get("command_timeout", 180.0), minimum=1),
        wait_timeout=_number("agent", "wait_timeout", agent.get("wait_timeout", 120.0)),
        llm=llm,
        env=env,
    )


def check_api_key(model_name: str, settings: AgentSettings) -> None:
    """Fail early when LiteLLM cannot route the model, or its provider has no API key to use.

    A key in ``model.api_key`` always counts; providers that find credentials on their own
    (Vertex AI, Bedrock, SageMaker) are not checked; otherwise LiteLLM's own table of the
    variables each provider needs decides.

    Raises:
        ConfigError: the model names no provider LiteLLM knows, or no key is set; the message
            names the model or the variables to set.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network while importing litellm
    import litellm

    try:
        litellm.get_llm_provider(model=model_name, api_base=settings.llm.get("base_url"))
    except Exception as exc:
        raise ConfigError(
            f"unknown model {model_name!r}: LiteLLM cannot tell which provider serves it ({str(exc)[:160]}). "
            "Name the provider in the model, e.g. openai/gpt-4o or anthropic/claude-sonnet-4-5, or use "
            "openai/<name> with model.api_base for an OpenAI-compatible server."
        ) from None
    if settings.llm.get("api_key"):
        return
    provider = model_name.split("/", 1)[0] if "/" in model_name else ""
    if provider in _AMBIENT_CREDENTIAL_PROVIDERS:
        return

    found = litellm.validate_environment(model=model_name, api_base=settings.llm.get("base_url"))
    missing = [k for k in found.get("missing_keys", []) if not k.endswith(("_API_BASE", "_BASE_URL"))]
    if found.get("keys_in_environment") or not missing:
        return
    raise ConfigError(
        f"model {model_name!r} needs an API key: set {' or '.join(missing)} in the environment, "
        f"or `model.api_key` in the --agent-config file"
    )
