"""The ``codex`` agent's configuration (``--agent-config``): ``agent``, ``model`` and ``environment``, validated.

Pure Python (no import of LiteLLM or the CLI), so a bad configuration is reported before any
sandbox starts. Every key is in :data:`AGENT_KEYS` / :data:`MODEL_KEYS` with its default and
meaning; :func:`keys_table` renders them for docs/agents/codex.md (a test keeps the page in sync).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cooperbench.errors import ConfigError

__all__ = [
    "AGENT_KEYS",
    "HARNESS_SECTIONS",
    "MODEL_KEYS",
    "Key",
    "Settings",
    "api_key",
    "codex_model",
    "keys_table",
    "parse_config",
]

HARNESS_SECTIONS = frozenset({"backend", "backend_options", "task", "run"})
"""Sections the harness fills in; this agent does not read them."""


@dataclass(frozen=True)
class Key:
    """One configuration key: its default (``None``: unset) and what it does."""

    default: Any
    help: str


AGENT_KEYS: Mapping[str, Key] = {
    "timeout": Key(1800, "seconds `codex exec` may run; past it the run stops as `LimitsExceeded` (the patch is kept)"),
    "max_steps": Key(
        None, "model requests at most (the relay answers the next one with an error); needs `model.relay` on"
    ),
    "reasoning_effort": Key(None, "Codex's `model_reasoning_effort`: `minimal`, `low`, `medium`, `high`, `xhigh`"),
    "reasoning_summary": Key(None, "Codex's `model_reasoning_summary`: `auto`, `concise`, `detailed`, `none`"),
    "verbosity": Key(None, "Codex's `model_verbosity`: `low`, `medium`, `high`"),
    "extra_instructions": Key(None, "text appended to the task prompt"),
    "codex_config": Key(
        {}, "further `config.toml` keys, passed to Codex unchecked (e.g. `{tools: {web_search: false}}`)"
    ),
}

MODEL_KEYS: Mapping[str, Key] = {
    "base_url": Key("https://api.openai.com/v1", "the provider's base URL; Codex calls `<base_url>/responses`"),
    "api_key_env": Key("OPENAI_API_KEY", "the environment variable (of the harness) holding the key"),
    "api_key": Key(None, "the key itself (prefer `api_key_env`; masked in config.json)"),
    "auth_header": Key("bearer", "`bearer` (`Authorization: Bearer <key>`) or `api-key` (`api-key: <key>`, Azure)"),
    "query_params": Key({}, "query parameters of every request (Azure: `{api-version: 2025-04-01-preview}`)"),
    "http_headers": Key({}, "extra request headers"),
    "relay": Key(
        "auto",
        "`true`: requests go through the harness's relay (the key stays on the host; needs python3 or perl in "
        "the image); `false`: Codex calls `base_url` itself with the key in its environment; `auto`: relay for "
        "an endpoint on this machine (which sandboxes cannot reach), direct otherwise",
    ),
    "rate_limit_retries": Key(
        6, "how often the relay retries a 429 (after the provider's `Retry-After`); Codex itself does not"
    ),
    "request_max_retries": Key(4, "Codex's retries of a failed request (5xx, network; 429s are the relay's)"),
    "stream_max_retries": Key(5, "Codex's reconnections of a dropped stream"),
    "stream_idle_timeout": Key(300, "seconds without an event before Codex drops a stream"),
    "input_cost_per_token": Key(None, "USD; prices a model LiteLLM's price map does not know"),
    "output_cost_per_token": Key(None, "USD per output token"),
    "cache_read_input_token_cost": Key(None, "USD per cached input token (default: the input price)"),
}

_EFFORTS = frozenset({"minimal", "low", "medium", "high", "xhigh", "none"})
_SUMMARIES = frozenset({"auto", "concise", "detailed", "none"})
_VERBOSITY = frozenset({"low", "medium", "high"})


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one ``codex`` agent (see :data:`AGENT_KEYS`, :data:`MODEL_KEYS`)."""

    timeout: float = 1800.0
    max_steps: int | None = None
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    verbosity: str | None = None
    extra_instructions: str | None = None
    codex_config: dict[str, Any] = field(default_factory=dict)
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"
    api_key: str | None = field(default=None, repr=False)
    auth_header: str = "bearer"
    query_params: dict[str, str] = field(default_factory=dict)
    http_headers: dict[str, str] = field(default_factory=dict)
    relay: bool = False
    rate_limit_retries: int = 6
    request_max_retries: int = 4
    stream_max_retries: int = 5
    stream_idle_timeout: float = 300.0
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    cache_read_input_token_cost: float | None = None
    env: dict[str, str] = field(default_factory=dict)


def _fail(message: str) -> ConfigError:
    return ConfigError(f"codex agent config: {message}")


def _section(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(f"`{name}` must be a mapping, got {type(value).__name__}")
    return dict(value)


def _unknown(section: str, given: Mapping[str, Any], known: Mapping[str, Any] | frozenset[str]) -> None:
    extra = sorted(set(given) - set(known))
    if extra:
        raise _fail(
            f"unknown key(s) in `{section}`: {', '.join(map(str, extra))}; supported: {', '.join(sorted(known))}"
        )


def _number(name: str, value: Any, *, minimum: float = 0.0, integer: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or value < minimum:
        kind = "an integer" if integer else "a number"
        raise _fail(f"`{name}` must be {kind} >= {minimum:g}, got {value!r}")
    return value


def _choice(name: str, value: Any, choices: frozenset[str]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        raise _fail(f"`{name}` must be one of {', '.join(sorted(choices))}, got {value!r}")
    return str(value)


def _strings(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or any(isinstance(v, Mapping | list) for v in value.values()):
        raise _fail(f"`{name}` must map names to scalars")
    return {str(k): str(v) for k, v in value.items()}


def is_local_endpoint(url: str) -> bool:
    """Whether ``url``'s host is this machine (loopback, or the name ``localhost``)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def parse_config(config: Mapping[str, Any] | None) -> Settings:
    """Validate the configuration handed to the agent.

    Raises:
        ConfigError: an unknown section or key (named in the message), or a bad value.
    """
    config = dict(config or {})
    sections = {"agent", "model", "environment"}
    _unknown("the top level", {k: 1 for k in set(config) - HARNESS_SECTIONS}, dict.fromkeys(sections))
    agent, model, environment = _section(config, "agent"), _section(config, "model"), _section(config, "environment")
    _unknown("agent", agent, AGENT_KEYS)
    _unknown("model", model, MODEL_KEYS)

    def get(section: dict[str, Any], keys: Mapping[str, Key], name: str) -> Any:
        value = section.get(name)
        return keys[name].default if value is None else value

    base_url = get(model, MODEL_KEYS, "base_url")
    if not isinstance(base_url, str) or urlsplit(base_url).scheme not in ("http", "https"):
        raise _fail(f"`model.base_url` must be an http(s) URL, got {base_url!r}")
    relay = get(model, MODEL_KEYS, "relay")
    if relay not in (True, False, "auto"):
        raise _fail(f"`model.relay` must be true, false or auto, got {relay!r}")
    use_relay = is_local_endpoint(base_url) if relay == "auto" else bool(relay)
    max_steps = agent.get("max_steps")
    if max_steps is not None:
        _number("agent.max_steps", max_steps, minimum=1, integer=True)
        if not use_relay:
            raise _fail("`agent.max_steps` needs the model relay (`model.relay: true`)")
    auth = get(model, MODEL_KEYS, "auth_header")
    if auth not in ("bearer", "api-key"):
        raise _fail(f"`model.auth_header` must be bearer or api-key, got {auth!r}")
    key_env = get(model, MODEL_KEYS, "api_key_env")
    if not isinstance(key_env, str) or not key_env.replace("_", "").isalnum():
        raise _fail(f"`model.api_key_env` must name an environment variable, got {key_env!r}")
    codex_config = get(agent, AGENT_KEYS, "codex_config")
    if not isinstance(codex_config, Mapping):
        raise _fail("`agent.codex_config` must be a mapping of config.toml keys")
    extra = agent.get("extra_instructions")
    if extra is not None and not isinstance(extra, str):
        raise _fail("`agent.extra_instructions` must be a string")
    costs = {
        k: None if model.get(k) is None else float(_number(f"model.{k}", model[k]))
        for k in ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost")
    }
    api_key_value = model.get("api_key")
    if api_key_value is not None and not isinstance(api_key_value, str):
        raise _fail("`model.api_key` must be a string")

    return Settings(
        timeout=float(_number("agent.timeout", get(agent, AGENT_KEYS, "timeout"), minimum=1)),
        max_steps=max_steps,
        reasoning_effort=_choice("agent.reasoning_effort", agent.get("reasoning_effort"), _EFFORTS),
        reasoning_summary=_choice("agent.reasoning_summary", agent.get("reasoning_summary"), _SUMMARIES),
        verbosity=_choice("agent.verbosity", agent.get("verbosity"), _VERBOSITY),
        extra_instructions=extra,
        codex_config=dict(codex_config),
        base_url=base_url.rstrip("/"),
        api_key_env=key_env,
        api_key=api_key_value,
        auth_header=auth,
        query_params=_strings("model.query_params", get(model, MODEL_KEYS, "query_params")),
        http_headers=_strings("model.http_headers", get(model, MODEL_KEYS, "http_headers")),
        relay=use_relay,
        rate_limit_retries=_number(
            "model.rate_limit_retries", get(model, MODEL_KEYS, "rate_limit_retries"), integer=True
        ),
        request_max_retries=_number(
            "model.request_max_retries", get(model, MODEL_KEYS, "request_max_retries"), integer=True
        ),
        stream_max_retries=_number(
            "model.stream_max_retries", get(model, MODEL_KEYS, "stream_max_retries"), integer=True
        ),
        stream_idle_timeout=float(
            _number("model.stream_idle_timeout", get(model, MODEL_KEYS, "stream_idle_timeout"), minimum=0.1)
        ),
        env=_strings("environment", environment),
        **costs,
    )


def api_key(settings: Settings) -> str:
    """The provider key: ``model.api_key``, else the variable ``model.api_key_env``.

    Raises:
        ConfigError: neither is set; the message names the variable.
    """
    key = settings.api_key or os.environ.get(settings.api_key_env, "")
    if not key:
        raise ConfigError(
            f"the codex agent needs an API key: set {settings.api_key_env} in the environment "
            f"(or name another variable in `model.api_key_env`, or set `model.api_key` in the --agent-config file)"
        )
    return key


def codex_model(model_name: str) -> str:
    """The model name Codex sends: a LiteLLM provider prefix (``openai/``, ``azure/``) removed."""
    provider, sep, rest = model_name.partition("/")
    return rest if sep and provider in ("openai", "azure", "openrouter", "hosted_vllm", "litellm_proxy") else model_name


def keys_table() -> str:
    """Every configuration key with its default, as a Markdown table (docs/agents/codex.md)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for section, keys in (("agent", AGENT_KEYS), ("model", MODEL_KEYS)):
        for name, key in keys.items():
            default = "unset" if key.default is None else f"`{key.default}`"
            if isinstance(key.default, dict):
                default = "`{}`"
            rows.append(f"| `{section}.{name}` | {default} | {key.help} |")
    rows.append("| `environment.<NAME>` | | variables set for the Codex process in the sandbox |")
    return "\n".join(rows) + "\n"
