"""The ``claude_code`` agent's configuration (``--agent-config``), validated before anything starts.

Every key is declared once, in :data:`KEYS`; the validation, the defaults and the table in
``docs/agents/claude-code.md`` (:func:`keys_table`, checked by a test) come from it.

Example::

    agent:
      max_turns: 60
      timeout: 1800
      max_budget_usd: 2.0
    model:
      base_url: http://127.0.0.1:4000      # an Anthropic-compatible proxy (LiteLLM, vLLM, ...)
      max_retries: 4
    environment:
      PIP_NO_INPUT: "1"
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cooperbench.errors import ConfigError

__all__ = ["HARNESS_SECTIONS", "KEYS", "Key", "Settings", "credentials", "keys_table", "parse_config"]

HARNESS_SECTIONS = frozenset({"backend", "backend_options", "task", "run"})
"""Sections the harness fills in; this agent does not read them."""

DEFAULT_BASE_URL = "https://api.anthropic.com"
KEY_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


@dataclass(frozen=True)
class Key:
    """One configuration key: ``section.name``, its type, default and meaning."""

    section: str
    name: str
    kind: str  # int, number, string, strings, bool
    default: Any
    meaning: str


KEYS: tuple[Key, ...] = (
    Key(
        "agent",
        "max_turns",
        "int",
        100,
        "agent turns (model calls) before the CLI stops (`--max-turns`); status `LimitsExceeded`",
    ),
    Key(
        "agent",
        "max_budget_usd",
        "number",
        None,
        "USD the CLI may spend (`--max-budget-usd`); status `LimitsExceeded` past it",
    ),
    Key(
        "agent",
        "timeout",
        "number",
        3600,
        "seconds the whole CLI run may take in the sandbox; status `TimeExceeded` past it, patch kept",
    ),
    Key(
        "agent",
        "system_prompt",
        "string",
        None,
        "more text for the system prompt, after what CooperBench appends to Claude Code's own",
    ),
    Key(
        "agent",
        "allowed_tools",
        "strings",
        None,
        "only these tools (`--allowed-tools`, e.g. `[Bash, Read, Edit, Write]`)",
    ),
    Key("agent", "disallowed_tools", "strings", None, "tools the CLI may not use (`--disallowed-tools`)"),
    Key("agent", "extra_args", "strings", None, "further CLI arguments, passed as they are"),
    Key(
        "agent",
        "cli_path",
        "string",
        None,
        "a Claude Code binary (host path) to run instead of the one bundled in claude-agent-sdk",
    ),
    Key(
        "model",
        "base_url",
        "string",
        None,
        "the Anthropic-compatible endpoint; default `$ANTHROPIC_BASE_URL`, else https://api.anthropic.com",
    ),
    Key(
        "model",
        "max_retries",
        "int",
        6,
        "retries of a failed model request (`CLAUDE_CODE_MAX_RETRIES`); then the pair is `infra_error`",
    ),
    Key("model", "request_timeout", "number", 600, "seconds one model request may take (`API_TIMEOUT_MS`)"),
    Key("model", "max_output_tokens", "int", None, "output tokens per model call (`CLAUDE_CODE_MAX_OUTPUT_TOKENS`)"),
    Key("model", "max_thinking_tokens", "int", None, "extended-thinking budget per call (`MAX_THINKING_TOKENS`)"),
    Key(
        "model",
        "small_model",
        "string",
        None,
        "the model of the CLI's side requests (`ANTHROPIC_SMALL_FAST_MODEL`); default: the main model",
    ),
    Key(
        "model",
        "input_cost_per_token",
        "number",
        None,
        "USD; prices a model when the CLI reports tokens but no cost and LiteLLM has no price",
    ),
    Key("model", "output_cost_per_token", "number", None, "USD per output token, as above"),
)


@dataclass(frozen=True)
class Settings:
    """The validated configuration: ``agent`` and ``model`` keys by name, ``environment`` variables."""

    agent: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def get(self, section: str, name: str) -> Any:
        return (self.agent if section == "agent" else self.model)[name]

    def endpoint(self) -> str:
        """The model endpoint: ``model.base_url``, else ``ANTHROPIC_BASE_URL``, else Anthropic's API.

        Raises:
            ConfigError: the URL is not http(s) with a host (the message names where it came from).
        """
        if self.model["base_url"]:
            url, source = str(self.model["base_url"]), "`model.base_url`"
        elif os.environ.get("ANTHROPIC_BASE_URL"):
            url, source = os.environ["ANTHROPIC_BASE_URL"], "ANTHROPIC_BASE_URL"
        else:
            return DEFAULT_BASE_URL
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _fail(f"{source} must be an http(s) URL with a host, got {url!r}")
        return url


def keys_table() -> str:
    """The Markdown table of every key (the docs page embeds it; a test keeps them equal)."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key in KEYS:
        default = "—" if key.default is None else f"`{key.default}`"
        rows.append(f"| `{key.section}.{key.name}` | {key.kind} | {default} | {key.meaning} |")
    rows.append("| `environment.<NAME>` | string | — | a variable for the CLI process and its commands |")
    return "\n".join(rows)


def _fail(message: str) -> ConfigError:
    return ConfigError(f"claude_code agent config: {message}")


def _check(key: Key, value: Any) -> Any:
    where = f"`{key.section}.{key.name}`"
    if value is None:
        return None
    if key.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _fail(f"{where} must be an integer >= 0, got {value!r}")
    elif key.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise _fail(f"{where} must be a number >= 0, got {value!r}")
        value = float(value)
    elif key.kind == "string":
        if not isinstance(value, str):
            raise _fail(f"{where} must be a string, got {type(value).__name__}")
    elif key.kind == "strings":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _fail(f"{where} must be a list of strings, got {value!r}")
    return value


def parse_config(config: Mapping[str, Any] | None) -> Settings:
    """Validate the configuration dictionary handed to the agent.

    Raises:
        ConfigError: an unknown section or key (named, with the supported ones), or a bad value.
    """
    config = dict(config or {})
    sections = {"agent", "model", "environment"}
    unknown = set(config) - sections - HARNESS_SECTIONS
    if unknown:
        raise _fail(f"unknown section(s) {', '.join(sorted(unknown))}; supported: agent, model, environment")
    values: dict[str, dict[str, Any]] = {"agent": {}, "model": {}}
    for section in ("agent", "model"):
        given = config.get(section) or {}
        if not isinstance(given, Mapping):
            raise _fail(f"`{section}` must be a mapping, got {type(given).__name__}")
        known = {k.name: k for k in KEYS if k.section == section}
        extra = set(given) - set(known)
        if extra:
            raise _fail(
                f"unknown key(s) in `{section}`: {', '.join(sorted(map(str, extra)))}; supported: {', '.join(known)}"
            )
        for name, key in known.items():
            values[section][name] = _check(key, given.get(name, key.default))
    base_url = values["model"]["base_url"]
    if base_url is not None and urlsplit(base_url).scheme not in ("http", "https"):
        raise _fail(f"`model.base_url` must be an http(s) URL, got {base_url!r}")
    environment = config.get("environment") or {}
    if not isinstance(environment, Mapping):
        raise _fail("`environment` must map variable names to values")
    env: dict[str, str] = {}
    for name, value in environment.items():
        if not isinstance(name, str) or not name or isinstance(value, Mapping | list):
            raise _fail(f"`environment.{name}` must map a variable name to a scalar")
        if name in KEY_VARIABLES or name.startswith("ANTHROPIC_"):
            raise _fail(f"`environment.{name}`: model endpoint and key variables are set by the agent, not here")
        env[name] = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return Settings(agent=values["agent"], model=values["model"], env=env)


def credentials() -> dict[str, str]:
    """The headers that authenticate model requests, from the harness's environment.

    ``ANTHROPIC_API_KEY`` is sent as ``x-api-key``; ``ANTHROPIC_AUTH_TOKEN`` (a proxy's
    bearer token) as ``Authorization: Bearer``.

    Raises:
        ConfigError: neither variable is set (the message names them).
    """
    headers = {}
    if os.environ.get("ANTHROPIC_API_KEY"):
        headers["x-api-key"] = os.environ["ANTHROPIC_API_KEY"]
    if os.environ.get("ANTHROPIC_AUTH_TOKEN"):
        headers["authorization"] = f"Bearer {os.environ['ANTHROPIC_AUTH_TOKEN']}"
    if not headers:
        raise ConfigError(
            "the claude_code agent needs a model key: export ANTHROPIC_API_KEY=... "
            "(or ANTHROPIC_AUTH_TOKEN=... for a proxy that takes a bearer token)"
        )
    return headers
