"""Checks run once per run, before any sandbox starts: the model name, the API key, the configuration.

A bad key or an unknown model would otherwise surface only after every sandbox of the run
had started, once per pair; here it is one :class:`~cooperbench.errors.ConfigError` that
says what to set.
"""

from __future__ import annotations

import logging

from cooperbench.errors import ConfigError, InfraError
from cooperbench_agent_miniswe._thirdparty import SKIP_MCP_GATEWAY, litellm
from cooperbench_agent_miniswe.config import Settings
from cooperbench_agent_miniswe.llm import _short, call_with_retries, check_completion_kwargs

__all__ = ["PROBE_MESSAGES", "check_model"]

PROBE_MESSAGES = [{"role": "user", "content": "CooperBench preflight check: reply with the single word OK."}]
"""The one request the probe sends (an LLM test server sees it without any agent id in it)."""

_CREDENTIAL_HINTS = {
    "vertex_ai": "Google Cloud application default credentials (`gcloud auth application-default login` or "
    "GOOGLE_APPLICATION_CREDENTIALS) and VERTEXAI_PROJECT / VERTEXAI_LOCATION",
    "bedrock": "AWS credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or an AWS profile) and AWS_REGION_NAME",
    "gemini": "GEMINI_API_KEY",
}

log = logging.getLogger(__name__)


def _credential_hint(provider: str) -> str:
    return _CREDENTIAL_HINTS.get(provider, f"{provider.upper()}_API_KEY")


def check_model(model_name: str, settings: Settings) -> None:
    """Fail early on a model LiteLLM cannot route, a missing API key, or credentials the provider rejects.

    Steps: the ``model`` section's keys are LiteLLM arguments; LiteLLM can tell the model's
    provider; the provider's API key variable is set (unless ``model.api_key`` is); and, with
    ``agent.check_model`` (the default), one tiny completion (a few tokens) succeeds.

    Raises:
        ConfigError: the message names the model and the variable or setting to fix.
        InfraError: the provider is down or rate limiting even after retries.
    """
    check_completion_kwargs(settings)
    kwargs = settings.completion_kwargs()
    try:
        _, provider, _, _ = litellm.get_llm_provider(
            model=model_name, custom_llm_provider=kwargs.get("custom_llm_provider"), api_base=kwargs.get("api_base")
        )
    except Exception as exc:
        raise ConfigError(
            f"unknown model {model_name!r}: LiteLLM cannot tell which provider serves it ({_short(exc, 160)}). "
            "Name the provider in the model, e.g. openai/gpt-4o, anthropic/claude-sonnet-4-5, "
            "vertex_ai/gemini-3-flash-preview, or openai/<name> with model.api_base for an OpenAI-compatible server."
        ) from None
    if not kwargs.get("api_key"):
        env = litellm.validate_environment(model=model_name, api_base=kwargs.get("api_base"))
        # Only API-key variables are mandatory; projects, regions and bases have defaults or other sources.
        missing = [k for k in env.get("missing_keys", []) if k.endswith("_API_KEY")]
        if missing:
            raise ConfigError(
                f"model {model_name!r} ({provider}) needs an API key: export {' or '.join(missing)}=... "
                "(or set model.api_key in the agent config)"
            )
    if settings.agent.check_model:
        _probe(model_name, settings, provider, kwargs)


def _probe(model_name: str, settings: Settings, provider: str, kwargs: dict[str, object]) -> None:
    call_kwargs = {**kwargs, "max_tokens": 8, "max_retries": 0}
    call_kwargs.update(SKIP_MCP_GATEWAY)
    try:
        call_with_retries(
            lambda: litellm.completion(model=model_name, messages=PROBE_MESSAGES, **call_kwargs),
            settings,
            log,
            what=f"preflight call to {model_name}",
        )
    except InfraError as exc:
        raise InfraError(f"model {model_name!r}: the provider is unavailable before the run starts: {exc}") from exc
    except (litellm.AuthenticationError, litellm.PermissionDeniedError) as exc:
        raise ConfigError(
            f"model {model_name!r}: the provider ({provider}) rejected the credentials: {_short(exc)}. "
            f"Check {_credential_hint(provider)} (or model.api_key in the agent config)."
        ) from None
    except litellm.NotFoundError as exc:
        raise ConfigError(
            f"model {model_name!r}: the provider ({provider}) does not know this model: {_short(exc)}. "
            "Check the model name (-m/--model)."
        ) from None
    except litellm.BadRequestError as exc:
        raise ConfigError(
            f"model {model_name!r}: the provider ({provider}) rejected a test request: {_short(exc)}. "
            "Check the `model` section of the agent config."
        ) from None
    except Exception as exc:
        raise ConfigError(
            f"model {model_name!r}: a test request failed ({type(exc).__name__}: {_short(exc)}). "
            f"Check {_credential_hint(provider)}; set agent.check_model: false to skip this check."
        ) from None
