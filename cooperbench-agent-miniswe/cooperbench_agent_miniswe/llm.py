"""Model calls: mini-swe-agent's LiteLLM models with our retries, pricing and token counts.

The model classes are mini-swe-agent's ``LitellmModel`` (the ``bash`` tool) and
``LitellmTextbasedModel`` (a fenced block) with three things changed:

- retries: rate limits and transient provider errors are retried with backoff, honouring
  ``Retry-After``, each retry written to the agent's log; when retries run out the call
  raises :class:`~cooperbench.errors.InfraError` (the runner records ``infra_error``);
- cost: LiteLLM's price map, or ``model.input_cost_per_token``/``output_cost_per_token``;
  a model without a known price costs 0 with one warning instead of failing the run;
- tokens: input, output, cache read and cache write tokens are counted.
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from cooperbench.errors import ConfigError, InfraError
from cooperbench_agent_miniswe._thirdparty import (
    BASH_TOOL,
    SKIP_MCP_GATEWAY,
    FormatError,
    LitellmModel,
    LitellmTextbasedModel,
    litellm,
)
from cooperbench_agent_miniswe.config import Settings

__all__ = [
    "ModelStats",
    "TextModel",
    "ToolcallModel",
    "UnpricedModelWarning",
    "build_model",
    "call_with_retries",
    "is_transient",
]

T = TypeVar("T")

_TRANSIENT: tuple[type[Exception], ...] = (
    litellm.RateLimitError,
    litellm.APIConnectionError,
    litellm.Timeout,  # a request that got no answer in `model.timeout`; not an APIConnectionError subclass
    litellm.InternalServerError,  # also an unparsable (garbage) response body
    litellm.ServiceUnavailableError,
    litellm.BadGatewayError,
)


class UnpricedModelWarning(UserWarning):
    """LiteLLM knows no price for the model; its calls are counted as costing 0."""


_warned_unpriced: set[str] = set()
_warned_lock = threading.Lock()


@dataclass
class ModelStats:
    """What one agent's model calls used.

    Attributes:
        calls: model calls that got an answer (summaries included).
        cost: their cost in USD.
        input_tokens: prompt tokens (cached ones included).
        output_tokens: completion tokens.
        cache_read_tokens: prompt tokens served from the provider's cache.
        cache_write_tokens: prompt tokens written to the provider's cache.
        retries: failed attempts that were retried.
        last_context_tokens: prompt + completion tokens of the latest call: the conversation's size.
    """

    calls: int = 0
    cost: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    retries: int = 0
    last_context_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# LiteLLM reports missing credentials of some providers (Vertex AI's application default
# credentials, a client without an API key) as connection errors; retrying cannot fix those.
_CREDENTIALS_PROBLEM = re.compile(r"credentials|api[_ ]?key|authenticat|unauthori[sz]ed", re.IGNORECASE)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed model call is worth retrying (rate limit, 5xx, connection, timeout, garbage body)."""
    if isinstance(exc, litellm.ContextWindowExceededError):
        return False
    if (
        isinstance(exc, litellm.APIConnectionError)
        and not isinstance(exc, litellm.Timeout)
        and _CREDENTIALS_PROBLEM.search(str(exc))
    ):
        return False
    if isinstance(exc, _TRANSIENT):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(exc, litellm.APIError) and isinstance(status, int) and (status >= 500 or status in (408, 429))


def _retry_after(exc: BaseException | None) -> float | None:
    headers = getattr(exc, "litellm_response_headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def call_with_retries(
    call: Callable[[], T],
    settings: Settings,
    log: logging.Logger,
    stats: ModelStats | None = None,
    what: str = "model call",
) -> T:
    """Run ``call``, retrying transient provider failures with backoff.

    Raises:
        InfraError: the provider still failed after ``model.num_retries`` retries.
        Exception: a failure that is not transient (authentication, bad request, ...), as LiteLLM raised it.
    """
    cfg = settings.model
    attempts = cfg.num_retries + 1

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = _retry_after(exc)
        backoff = cfg.retry_min_wait * 2 ** (state.attempt_number - 1)
        return min(cfg.retry_max_wait, hinted if hinted is not None else backoff)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if stats is not None:
            stats.retries += 1
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s failed (attempt %d/%d): %s: %s; retrying in %.2fs",
            what, state.attempt_number, attempts, type(exc).__name__, _short(exc), delay,
        )  # fmt: skip

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(call)
    except Exception as exc:
        if is_transient(exc):
            log.error("%s failed after %d attempts: %s: %s", what, attempts, type(exc).__name__, _short(exc))
            raise InfraError(
                f"LLM provider failure after {attempts} attempts ({type(exc).__name__}): {_short(exc)}"
            ) from exc
        raise


def _short(exc: BaseException | None, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dump(response: Any) -> Any:
    try:
        return response.model_dump(mode="json")
    except Exception:
        return repr(response)


class _CooperbenchModel:
    """Retries, pricing and token counts on top of a mini-swe-agent LiteLLM model (a mixin)."""

    config: Any
    _tools: ClassVar[list[dict[str, Any]] | None] = None

    def __init__(self, *, settings: Settings, log: logging.Logger, **kwargs: Any) -> None:
        self.settings = settings
        self.log = log
        self.stats = ModelStats()
        self._warned_here = False
        super().__init__(**kwargs)  # type: ignore[call-arg]

    # -- calls -------------------------------------------------------------------------------

    def _query(self, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        tools = {"tools": self._tools} if self._tools else {}
        return litellm.completion(
            model=self.config.model_name, messages=messages, **tools, **(self.config.model_kwargs | kwargs)
        )

    def query(self, messages: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        """Ask the model for its next action (retried, priced, counted); mini-swe-agent's message format."""
        prepared = self._prepare_messages_for_api(messages)  # type: ignore[attr-defined]
        started = time.monotonic()
        response = call_with_retries(lambda: self._query(prepared, **kwargs), self.settings, self.log, self.stats)
        usage = self.account(response)
        self.log.info(
            "model call %d: %d input tokens (%d cached), %d output tokens, $%.6f, %.2fs",
            self.stats.calls, usage["input_tokens"], usage["cache_read_tokens"], usage["output_tokens"],
            usage["cost"], time.monotonic() - started,
        )  # fmt: skip
        try:
            actions = self._parse_actions(response)  # type: ignore[attr-defined]
        except FormatError as exc:
            # DefaultAgent adds this cost to its own total; the call was billed even though it is unusable.
            exc.messages[0].setdefault("extra", {}).update(
                {"cost": usage["cost"], "usage": usage, "response": _dump(response)}
            )
            self.log.warning("malformed model answer: %s", _short(exc.messages[0].get("content", ""), 500))
            raise
        message: dict[str, Any] = response.choices[0].message.model_dump()
        if message.get("content"):
            self.log.info("model says: %s", _short(message["content"], 2000))
        message["extra"] = {
            "actions": actions,
            "response": _dump(response),
            "cost": usage["cost"],
            "usage": usage,
            "timestamp": time.time(),
        }
        return message

    def complete_text(self, messages: list[dict[str, Any]], what: str = "summary call") -> tuple[str, float]:
        """A plain completion without tools (for summaries), retried, priced and counted.

        Returns:
            The answer's text and its cost.
        """
        response = call_with_retries(
            lambda: litellm.completion(model=self.config.model_name, messages=messages, **self.config.model_kwargs),
            self.settings,
            self.log,
            self.stats,
            what,
        )
        usage = self.account(response)
        self.log.info(
            "%s: %d input tokens, %d output tokens, $%.6f",
            what,
            usage["input_tokens"],
            usage["output_tokens"],
            usage["cost"],
        )
        return str(response.choices[0].message.content or ""), float(usage["cost"])

    # -- accounting --------------------------------------------------------------------------

    def account(self, response: Any) -> dict[str, Any]:
        """Add a response's tokens and cost to :attr:`stats`; returns this call's share."""
        usage = getattr(response, "usage", None)
        input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cache_read = max(
            int(getattr(details, "cached_tokens", 0) or 0), int(getattr(usage, "cache_read_input_tokens", 0) or 0)
        )
        cache_write = int(getattr(usage, "cache_creation_input_tokens", 0) or 0)
        cost = self._cost(response)
        stats = self.stats
        stats.calls += 1
        stats.cost += cost
        stats.input_tokens += input_tokens
        stats.output_tokens += output_tokens
        stats.cache_read_tokens += cache_read
        stats.cache_write_tokens += cache_write
        stats.last_context_tokens = input_tokens + output_tokens
        return {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_read_tokens": cache_read,
            "cache_write_tokens": cache_write,
            "cost": cost,
        }

    def _cost(self, response: Any) -> float:
        cfg = self.settings.model
        name = self.config.model_name
        if cfg.input_cost_per_token is not None or cfg.output_cost_per_token is not None:
            prices = {
                "input_cost_per_token": cfg.input_cost_per_token or 0.0,
                "output_cost_per_token": cfg.output_cost_per_token or 0.0,
            }
            return float(litellm.completion_cost(response, model=name, custom_cost_per_token=prices))  # type: ignore[arg-type]
        try:
            return float(litellm.completion_cost(response, model=name))
        except Exception as exc:
            self._warn_unpriced(name, exc)
            return 0.0

    def _warn_unpriced(self, name: str, exc: Exception) -> None:
        message = (
            f"LiteLLM has no price for model {name!r} ({_short(exc, 120)}); its calls count as costing $0. "
            "Set model.input_cost_per_token and model.output_cost_per_token in the agent config to price it."
        )
        if not self._warned_here:
            self._warned_here = True
            self.log.warning(message)
        with _warned_lock:
            if name in _warned_unpriced:
                return
            _warned_unpriced.add(name)
        warnings.warn(message, UnpricedModelWarning, stacklevel=2)

    def serialize(self) -> dict[str, Any]:
        data: dict[str, Any] = super().serialize()  # type: ignore[misc]
        data["info"]["config"]["model"] = _redact(data["info"]["config"]["model"])  # no API keys in trajectories
        data["info"]["model_stats"] = self.stats.to_dict()
        return data


_SECRET = re.compile(r"(^|_)(api_?key|secret|password|credentials?|token)$", re.IGNORECASE)


def _redact(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: "***" if isinstance(k, str) and _SECRET.search(k) and v else _redact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redact(v) for v in obj]
    return obj


class ToolcallModel(_CooperbenchModel, LitellmModel):
    """The model issues commands through mini-swe-agent's ``bash`` tool."""

    _tools: ClassVar[list[dict[str, Any]] | None] = [BASH_TOOL]


class TextModel(_CooperbenchModel, LitellmTextbasedModel):
    """The model issues commands as one fenced ``mswea_bash_command`` block per answer."""


def build_model(
    model_name: str, settings: Settings, log: logging.Logger, *, observation_template: str, format_error_template: str
) -> ToolcallModel | TextModel:
    """The model object for an agent run.

    Raises:
        ConfigError: a ``model`` key is not a LiteLLM argument.
    """
    check_completion_kwargs(settings)
    kwargs = settings.completion_kwargs()
    kwargs["max_retries"] = 0  # the OpenAI SDK's own hidden retries would multiply ours and bypass our log
    kwargs.update(SKIP_MCP_GATEWAY)
    cls = ToolcallModel if settings.agent.action_format == "toolcall" else TextModel
    return cls(
        settings=settings,
        log=log,
        model_name=model_name,
        model_kwargs=kwargs,
        cost_tracking="ignore_errors",  # we price calls ourselves (see _cost)
        observation_template=observation_template,
        format_error_template=format_error_template,
    )


def _known_litellm_arguments() -> set[str]:
    import inspect

    from litellm.types.utils import all_litellm_params

    return set(inspect.signature(litellm.completion).parameters) | set(all_litellm_params)


def check_completion_kwargs(settings: Settings) -> None:
    """Reject ``model`` keys that are neither ours nor arguments LiteLLM's ``completion`` knows.

    Raises:
        ConfigError: naming the unknown key and where it was set.
    """
    unknown = sorted(set(settings.model.extra_kwargs()) - _known_litellm_arguments() - {"model", "messages"})
    if unknown:
        key = unknown[0]
        raise ConfigError(
            f"{settings.origin(f'model.{key}')}: unknown key `model.{key}`"
            + (f" (also unknown: {', '.join(unknown[1:])})" if len(unknown) > 1 else "")
            + "; it is neither a mini_swe_agent model setting (max_tokens, top_p, temperature, input_cost_per_token, "
            "output_cost_per_token, num_retries, timeout, ...) nor an argument of litellm.completion. "
            "Pass provider-specific arguments under `model.litellm_kwargs`."
        )
