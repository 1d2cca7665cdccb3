"""THE outcome of a pair and THE pass rate: one definition used by the console, summary.json and reports.

Every pair ends in exactly one :class:`Outcome`. :func:`decide_outcome` derives it from an
evaluation result (``eval.json``) and the agents' statuses (``result.json``);
:func:`pass_rate` is the only place a pass rate is computed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

__all__ = [
    "FAILURE_PRECEDENCE",
    "Outcome",
    "agent_status_outcome",
    "decide_outcome",
    "exception_outcome",
    "merge_rescued_by_union",
    "pass_rate",
]


class Outcome(str, Enum):
    """How a pair ended.

    Attributes:
        PASS: both features' tests passed.
        FAIL_TESTS: the code was tested and at least one feature's tests failed.
        MERGE_CONFLICT: the naive merge of the two agents' patches failed and the union merge
            did not rescue it, so nothing could be tested.
        APPLY_FAILED: an agent's patch does not apply to the base commit (corrupt or stale).
        NO_PATCH: an agent produced no change (or only changes to test files, which are dropped).
        AGENT_ERROR: an agent crashed or reported an error; an agent failure, kept as a result.
        INFRA_ERROR: the sandbox, network, Redis, LLM provider or the evaluation itself failed;
            not the agent's fault, retried by a resumed run.
        TIMEOUT: an agent, or a feature's test run, hit its time limit.
        DATASET_ERROR: the task or one of its features is broken in the dataset (a missing
            ``tests.patch``, an unusable ``runner.sh``, a feature folder whose name does not
            parse); found before any sandbox starts, never charged to the agents and never
            counted in a pass rate.
    """

    PASS = "pass"
    FAIL_TESTS = "fail_tests"
    MERGE_CONFLICT = "merge_conflict"
    APPLY_FAILED = "apply_failed"
    NO_PATCH = "no_patch"
    AGENT_ERROR = "agent_error"
    INFRA_ERROR = "infra_error"
    TIMEOUT = "timeout"
    DATASET_ERROR = "dataset_error"

    def __str__(self) -> str:
        return self.value


#: When a pair did not pass, the first of these that applies is its outcome: a task broken in
#: the dataset wins over anything (nothing about the pair can be trusted), then a pair a
#: resumed run must retry (infra), the agents' own endings win over what
#: the evaluation saw (an agent that crashed usually also left no patch), and the evaluation's
#: findings go from "could not even be tested" to "tested and failed".
FAILURE_PRECEDENCE: tuple[Outcome, ...] = (
    Outcome.DATASET_ERROR,
    Outcome.INFRA_ERROR,
    Outcome.TIMEOUT,
    Outcome.AGENT_ERROR,
    Outcome.APPLY_FAILED,
    Outcome.MERGE_CONFLICT,
    Outcome.NO_PATCH,
    Outcome.FAIL_TESTS,
)

# Agent statuses are free-form strings (``AgentResult.status``); these are the endings that
# decide an outcome by themselves. Anything else ("Submitted", "LimitsExceeded", ...) leaves
# the decision to the tests: a step-limited agent's working tree is still its patch.
_INFRA_STATUSES = {"infraerror", "infra", "sandboxerror", "providererror", "ratelimited"}
_TIMEOUT_STATUSES = {"timeout", "timedout", "timeoutexpired", "agenttimeout"}
_ERROR_STATUSES = {"error", "agenterror", "exception", "crashed", "failed"}
_DATASET_STATUSES = {"dataseterror"}


def _normalize(status: str) -> str:
    return "".join(ch for ch in status.lower() if ch.isalnum())


def agent_status_outcome(status: str | Outcome | None) -> Outcome | None:
    """The outcome an agent's ending forces on its pair, or ``None`` when the tests decide.

    Args:
        status: an ``AgentResult.status`` (``"Submitted"``, ``"Error"``, ...), an
            :class:`Outcome` or its value (a runner that already classified the ending), or ``None``.

    Returns:
        ``DATASET_ERROR``, ``INFRA_ERROR``, ``TIMEOUT`` or ``AGENT_ERROR`` for those endings;
        ``None`` otherwise.
    """
    if status is None:
        return None
    if isinstance(status, Outcome):
        forcing = (Outcome.DATASET_ERROR, Outcome.INFRA_ERROR, Outcome.TIMEOUT, Outcome.AGENT_ERROR)
        return status if status in forcing else None
    key = _normalize(str(status))
    if key in _DATASET_STATUSES:
        return Outcome.DATASET_ERROR
    if key in _INFRA_STATUSES:
        return Outcome.INFRA_ERROR
    if key in _TIMEOUT_STATUSES:
        return Outcome.TIMEOUT
    if key in _ERROR_STATUSES:
        return Outcome.AGENT_ERROR
    return None


# Exceptions that mean the network or an LLM provider failed, not the agent: by class name and
# the top-level module it comes from, so classifying never imports an SDK. An agent that calls
# a provider without retrying (or lets the last retry's error escape) still gets `infra_error`.
_PROVIDER_MODULES = ("litellm", "openai", "anthropic", "httpx", "httpcore", "requests", "urllib3", "redis", "aiohttp")
_PROVIDER_FAILURES = frozenset(
    {
        "RateLimitError",
        "APITimeoutError",
        "APIConnectionError",
        "InternalServerError",
        "ServiceUnavailableError",
        "BadGatewayError",
        "OverloadedError",
        "Timeout",
        "TimeoutError",
        "TimeoutException",
        "ConnectTimeout",
        "ReadTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "ConnectError",
        "ReadError",
        "WriteError",
        "RemoteProtocolError",
        "ConnectionError",
        "ProtocolError",
        "ServerDisconnectedError",
        "ClientConnectionError",
    }
)


def _is_infra_exception(exc: BaseException) -> bool:
    from cooperbench.errors import InfraError

    if isinstance(exc, (InfraError, ConnectionError, TimeoutError)):  # resets, refusals, socket timeouts
        return True
    for cls in type(exc).__mro__:
        if cls.__module__.split(".")[0] in _PROVIDER_MODULES and cls.__name__ in _PROVIDER_FAILURES:
            return True
    return False


def exception_outcome(exc: BaseException) -> Outcome:
    """The outcome of an agent whose ``run`` raised ``exc``: whose fault it was.

    ``INFRA_ERROR`` (retried by a resumed run) for :class:`~cooperbench.errors.InfraError`,
    connection resets and refusals, network and request timeouts, and the rate-limit,
    timeout, connection and 5xx errors of the LLM SDKs (LiteLLM, OpenAI, Anthropic, httpx,
    requests), also when one of them is the ``__cause__`` or ``__context__`` of what escaped.
    ``AGENT_ERROR`` (a result, kept) for anything else.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        if _is_infra_exception(current):
            return Outcome.INFRA_ERROR
        current = current.__cause__ or current.__context__
    return Outcome.AGENT_ERROR


def merge_rescued_by_union(merge: Mapping[str, Any] | None) -> bool:
    """Whether a ``merge`` record of eval.json is a naive conflict that the union merge resolved.

    Upstream results have no ``union_status``: there a union strategy without an error means
    the union merge went through.
    """
    if not merge or merge.get("status") != "conflicts":
        return False
    return merge.get("strategy") == "union" and merge.get("union_status") in (None, "clean")


def decide_outcome(
    eval_result: Mapping[str, Any] | None,
    agent_statuses: Mapping[str, str | Outcome | None] | None = None,
) -> Outcome:
    """The one outcome of a pair.

    A pair whose merged code passes both features' tests is ``pass`` whatever its agents
    reported (their work is in the patch). Otherwise the first reason in
    :data:`FAILURE_PRECEDENCE` that applies wins.

    Args:
        eval_result: the pair's ``eval.json`` (ours or upstream's); ``None`` when it was not evaluated.
        agent_statuses: ``{agent_id: status}`` from ``result.json``.

    Returns:
        The pair's :class:`Outcome`.
    """
    ev = eval_result or {}
    if ev.get("both_passed"):
        return Outcome.PASS
    reasons: set[Outcome] = set()
    for status in (agent_statuses or {}).values():
        forced = agent_status_outcome(status)
        if forced is not None:
            reasons.add(forced)
    # `error_kind` says what an eval.json `error` is; records without one (upstream's, older ours)
    # only ever carried infrastructure errors there.
    kind = ev.get("error_kind")
    if eval_result is None or (ev.get("error") and kind in (None, "infra_error")):
        reasons.add(Outcome.INFRA_ERROR)
    elif ev.get("error") and kind == "dataset_error":
        reasons.add(Outcome.DATASET_ERROR)
    apply_status = ev.get("apply_status") or {}
    if any(v == "failed" for v in apply_status.values()):
        reasons.add(Outcome.APPLY_FAILED)
    merge = ev.get("merge") or {}
    if merge.get("status") == "conflicts" and not merge_rescued_by_union(merge):
        reasons.add(Outcome.MERGE_CONFLICT)
    if any(v == "skipped" for v in apply_status.values()):
        reasons.add(Outcome.NO_PATCH)
    features = [k for k in ev if k.startswith("feature") and k[7:].isdigit()] or ["feature1", "feature2"]
    if any((ev.get(k) or {}).get("timed_out") for k in features):
        reasons.add(Outcome.TIMEOUT)
    for outcome in FAILURE_PRECEDENCE:
        if outcome in reasons:
            return outcome
    return Outcome.FAIL_TESTS


def pass_rate(outcomes: Iterable[Outcome | str], *, exclude_infra: bool = False) -> dict[str, Any]:
    """THE pass rate: passed pairs over counted pairs.

    Infrastructure errors are in the denominator unless ``exclude_infra``; dataset errors
    never are (the pair could not be run through no fault of the agents). The returned dict
    always says which, so no number is shown without its definition.

    Args:
        outcomes: one outcome per pair (:class:`Outcome` or its value).
        exclude_infra: leave ``infra_error`` pairs out of the denominator.

    Returns:
        ``{"pass_rate", "passed", "counted", "total", "infra_errors", "infra_errors_excluded",
        "dataset_errors", "definition"}``; ``pass_rate`` is ``0.0`` when no pair is counted.

    Raises:
        ValueError: a value is not an outcome.
    """
    counts = Counter(Outcome(o) for o in outcomes)
    total = sum(counts.values())
    infra = counts[Outcome.INFRA_ERROR]
    dataset = counts[Outcome.DATASET_ERROR]
    counted = total - dataset - (infra if exclude_infra else 0)
    passed = counts[Outcome.PASS]
    definition = "passed pairs / " + (
        "pairs without an infra_error (infra errors excluded)"
        if exclude_infra
        else "all pairs (infra errors counted as not passed)"
    )
    if dataset:
        definition += f"; {dataset} dataset_error pair(s) not counted (broken in the dataset, not run)"
    return {
        "pass_rate": passed / counted if counted else 0.0,
        "passed": passed,
        "counted": counted,
        "total": total,
        "infra_errors": infra,
        "infra_errors_excluded": exclude_infra,
        "dataset_errors": dataset,
        "definition": definition,
    }
