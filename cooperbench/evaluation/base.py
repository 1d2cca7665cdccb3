"""The evaluator contract and the records an evaluation writes to ``eval.json``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from cooperbench.backends.base import Backend, RunLabels
    from cooperbench.dataset import Pair

__all__ = ["MAX_TEXT_CHARS", "Evaluator", "clip", "feature_record", "now_iso"]

#: Longest text (test output, merged diff) stored in eval.json. Test output keeps its tail,
#: where every runner prints its summary; a diff keeps its head.
MAX_TEXT_CHARS = 200_000


@runtime_checkable
class Evaluator(Protocol):
    """Turns one pair's patches into its ``eval.json`` record, registered through
    ``cooperbench_register_evaluators``.

    The harness instantiates the registered class with no arguments (or with the keyword
    options of the ``evaluator`` configuration section) and may call :meth:`evaluate_pair`
    from several threads at once, one pair per call.
    """

    name: str

    def evaluate_pair(
        self,
        pair: Pair,
        setting: str,
        patches: Mapping[str, str | bytes | None],
        backend: Backend,
        run: RunLabels,
        *,
        timeout: float | None = None,
        agent_statuses: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """Evaluate one pair in fresh sandbox(es) of ``backend`` and return its eval.json record.

        Args:
            pair: the pair; ``pair.task`` locates ``runner.sh`` and each feature's ``tests.patch``.
            setting: ``"coop"`` (``patches`` has ``agent1`` for ``pair.features[0]`` and ``agent2``
                for ``pair.features[1]``) or ``"solo"`` (``patches`` has ``solo``).
            patches: each agent's patch as found in the pair folder; ``None`` or ``""`` for none.
            backend: the backend to create sandboxes with (``purpose="eval"``).
            run: the labels every sandbox created must carry; each sandbox is cleaned up before returning.
            timeout: seconds allowed to each test command; ``None`` for the evaluator's default.
            agent_statuses: ``{agent_id: status}`` from ``result.json``, used to decide the outcome.

        Returns:
            The eval.json record: ``repo, task_id, features, setting, apply_status, merge{status,
            strategy, diff, ...}, feature1{feature_id, passed, exit_code, tests_passed, tests_failed,
            test_output, timed_out, ...}, feature2{...}, both_passed, error, evaluated_at, outcome,
            attribution``. Never raises for a bad patch, a conflict, a failing or hanging test, or a
            broken sandbox: those are results (``error`` says what went wrong, ``outcome`` classifies it).
        """
        ...


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def clip(text: str, *, keep: str = "tail", limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, keeping its tail (or head), with a note saying so."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    if keep == "tail":
        return f"[... {cut} characters cut ...]\n" + text[-limit:]
    return text[:limit] + f"\n[... {cut} characters cut ...]\n"


def feature_record(feature_id: int) -> dict[str, Any]:
    """The eval.json record of a feature whose tests did not run (yet)."""
    return {
        "feature_id": feature_id,
        "passed": False,
        "ran": False,
        "exit_code": None,
        "tests_passed": 0,
        "tests_failed": 0,
        "tests_skipped": 0,
        "test_output": "",
        "timed_out": False,
        "duration": 0.0,
    }
