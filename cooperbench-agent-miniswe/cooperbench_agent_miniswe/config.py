"""The agent's configuration: the ``agent``, ``model`` and ``environment`` sections, validated with pydantic.

The sections come from ``--agent-config`` (a YAML file) and from the ``config`` dict the
harness hands the agent; the dict wins. Unknown keys are errors that name the key, and the
file when the key came from one. The harness's own sections (``backend``, ``run``, ``task``)
are not the agent's business and are ignored.

Example ``--agent-config`` file::

    agent:
      step_limit: 50          # or max_iterations
      temperature: 0.2
    model:
      max_tokens: 4096
      api_base: http://localhost:8000/v1
    environment:
      PIP_NO_INPUT: "1"

Importing this module is cheap: it does not import LiteLLM or mini-swe-agent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from cooperbench.errors import ConfigError
from cooperbench.settings import load_yaml_mapping

__all__ = ["IGNORED_SECTIONS", "AgentSettings", "ModelSettings", "Settings", "load_settings"]

IGNORED_SECTIONS = ("backend", "backend_options", "run", "task")
"""Top-level sections the harness adds for itself; the agent ignores them."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_AGENT_ALIASES = (("max_iterations", "step_limit"), ("system_template", "system_prompt"))


class AgentSettings(BaseModel):
    """The ``agent`` section: limits, prompts, messaging and context handling."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    step_limit: int = Field(default=100, ge=0)
    """Most model calls the agent may make (0: no limit). ``max_iterations`` is an alias."""
    cost_limit: float = Field(default=3.0, ge=0)
    """Stop once the LLM cost in USD exceeds this (0: no limit)."""
    wall_time_limit_seconds: int = Field(default=0, ge=0)
    """Stop after this many seconds (0: no limit)."""
    temperature: float | None = None
    """Sampling temperature (same as ``model.temperature``)."""
    system_prompt: str | None = None
    """A Jinja template replacing the system prompt (``system_template`` is an alias)."""
    instance_template: str | None = None
    """A Jinja template replacing the first user message (the task)."""
    max_consecutive_format_errors: int = Field(default=3, ge=0)
    """End with status ``Error`` after this many malformed model answers in a row (0: never)."""
    command_timeout: float = Field(default=300.0, gt=0)
    """Seconds one shell command may run in the sandbox."""
    message_wait_timeout: float = Field(default=300.0, gt=0)
    """Longest wait of ``send_message --wait`` for a teammate's reply, in seconds."""
    action_format: Literal["toolcall", "text"] = "toolcall"
    """How the model issues commands: the ``bash`` tool (``toolcall``) or a fenced block (``text``)."""
    compaction: Literal["summarize", "truncate", "off"] = "summarize"
    """How to shrink the conversation past ``compaction_threshold`` tokens: one model call summarising
    older turns, or eliding older command outputs."""
    compaction_threshold: int | None = Field(default=None, ge=1)
    """Context size in tokens that triggers compaction; by default 80% of the model's input limit
    when LiteLLM knows it, else 100000."""
    compaction_keep_recent: int = Field(default=6, ge=1)
    """Most recent messages compaction leaves untouched."""
    trajectory_save_interval: float = Field(default=10.0, ge=0)
    """Seconds between two saves of the trajectory during a run (it is always saved at the end)."""
    check_model: bool = True
    """Make one tiny model call in ``preflight`` so a bad key or model name fails before sandboxes start."""

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for alias, name in _AGENT_ALIASES:
            if alias in data:
                if name in data and data[name] != data[alias]:
                    raise ValueError(f"`{alias}` is an alias of `{name}`; give one of them, not both")
                data[name] = data.pop(alias)
        return data


class ModelSettings(BaseModel):
    """The ``model`` section: sampling, pricing, retries, and any other LiteLLM ``completion`` argument.

    Keys not named here are passed to ``litellm.completion`` (``api_base``, ``api_key``,
    ``reasoning_effort``, ...); they must be arguments LiteLLM knows (checked when the agent
    starts). Put provider-specific ones LiteLLM takes through ``**kwargs`` under ``litellm_kwargs``.
    """

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    temperature: float | None = None
    """Sampling temperature."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Most tokens per answer."""
    top_p: float | None = None
    """Nucleus sampling."""
    input_cost_per_token: float | None = Field(default=None, ge=0)
    """Price in USD of one input token, for models LiteLLM has no price for (or to override it)."""
    output_cost_per_token: float | None = Field(default=None, ge=0)
    """Price in USD of one output token."""
    num_retries: int = Field(default=6, ge=0)
    """Retries of a model call that failed with a rate limit or a transient provider error."""
    retry_min_wait: float = Field(default=2.0, ge=0)
    """First backoff wait in seconds (doubling up to ``retry_max_wait``) when the provider sends no Retry-After."""
    retry_max_wait: float = Field(default=60.0, ge=0)
    """Longest wait between two attempts, in seconds (Retry-After included)."""
    timeout: float = Field(default=600.0, gt=0)
    """Seconds one model call may take."""
    drop_params: bool = True
    """Let LiteLLM drop sampling parameters a model does not support instead of failing."""
    litellm_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra ``litellm.completion`` arguments passed as they are, without checking their names."""

    def extra_kwargs(self) -> dict[str, Any]:
        """The keys of the section that are not fields: LiteLLM arguments."""
        return dict(self.model_extra or {})


class Settings(BaseModel):
    """The whole agent configuration."""

    model_config = ConfigDict(extra="forbid")

    agent: AgentSettings = Field(default_factory=AgentSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    environment: dict[str, str] = Field(default_factory=dict)
    """Environment variables set for every command in the sandbox."""

    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    def origin(self, key: str) -> str:
        """Where a dotted key (``model.max_tokens``) was set: a file path or "the agent configuration"."""
        return self._origins.get(key, "the agent configuration")

    @field_validator("environment", mode="before")
    @classmethod
    def _environment(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError(f"must be a mapping of variable names to values, got {type(value).__name__}")
        out: dict[str, str] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not _ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not an environment variable name")
            if isinstance(item, (Mapping, list)):
                raise ValueError(f"{key}: a variable's value must be a string or number, got {type(item).__name__}")
            out[key] = "" if item is None else str(item).lower() if isinstance(item, bool) else str(item)
        return out

    def completion_kwargs(self) -> dict[str, Any]:
        """Sampling and LiteLLM arguments of every model call (``agent.temperature`` included)."""
        kwargs: dict[str, Any] = {"drop_params": self.model.drop_params, "timeout": self.model.timeout}
        temperature = self.model.temperature if self.model.temperature is not None else self.agent.temperature
        for key, value in (
            ("temperature", temperature),
            ("max_tokens", self.model.max_tokens),
            ("top_p", self.model.top_p),
        ):
            if value is not None:
                kwargs[key] = value
        kwargs.update(self.model.extra_kwargs())
        kwargs.update(self.model.litellm_kwargs)
        return kwargs


def _describe(exc: ValidationError, where: str) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown key `{key}`")
        else:
            problems.append(f"`{key}`: {err['msg']}")
    return f"{where}: invalid mini_swe_agent configuration: " + "; ".join(problems)


def _sections(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in IGNORED_SECTIONS:
            continue
        if key in ("agent", "model", "environment") and value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"{where}: `{key}` must be a mapping, got {type(value).__name__}")
        out[key] = dict(value or {}) if key in ("agent", "model", "environment") else value
    agent = out.get("agent")
    if agent:
        for alias, name in _AGENT_ALIASES:
            if alias in agent:
                if name in agent and agent[name] != agent[alias]:
                    raise ConfigError(f"{where}: `agent.{alias}` is an alias of `agent.{name}`; give one of them")
                agent[name] = agent.pop(alias)
    return out


def _validate(data: dict[str, Any], where: str) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, where) + _HINT) from None


_HINT = (
    ". Known sections: agent (step_limit, cost_limit, temperature, system_prompt, ...), "
    "model (max_tokens, top_p, LiteLLM arguments), environment (variables); see the cooperbench-agent-miniswe README"
)


def load_settings(config: Mapping[str, Any] | None = None, agent_config: str | None = None) -> Settings:
    """Validate and merge the agent configuration.

    Args:
        config: the configuration dict (the harness's, or a user's); its sections win over the file's.
        agent_config: path of an ``--agent-config`` YAML file.

    Returns:
        The validated :class:`Settings`.

    Raises:
        ConfigError: a key is unknown or a value invalid; the message names the key, and the
            file when it came from ``agent_config``.
    """
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    sources: list[tuple[str, Mapping[str, Any]]] = []
    if agent_config:
        sources.append((str(agent_config), load_yaml_mapping(agent_config, "agent config")))
    if config:
        sources.append(("the agent configuration", config))
    for where, data in sources:
        sections = _sections(data, where)
        _validate(sections, where)  # each source on its own first, so an error names where it came from
        for key, value in sections.items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
                origins.update({f"{key}.{name}": where for name in value})
            else:
                merged[key] = value
    settings = _validate(merged, "the agent configuration")
    settings._origins = origins
    return settings
