"""The evaluation part of ``summary.json``, recomputed from every ``eval.json`` of a run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from cooperbench.evaluation.base import now_iso
from cooperbench.evaluation.pair_dir import EVAL_FILE, read_agent_statuses, run_policy
from cooperbench.io import read_json
from cooperbench.outcomes import Outcome, decide_outcome, merge_rescued_by_union, pass_rate

__all__ = ["evaluation_summary", "pair_outcome_from_eval", "write_evaluation_summary"]


def pair_outcome_from_eval(record: dict[str, Any], pair_dir: Path) -> Outcome:
    """The outcome stored in an eval.json record, or decided from it (upstream records have none)."""
    stored = record.get("outcome")
    if stored in {o.value for o in Outcome}:
        return Outcome(stored)
    return decide_outcome(record, read_agent_statuses(pair_dir))


def _merge_kind(record: dict[str, Any]) -> str | None:
    merge = record.get("merge")
    if not isinstance(merge, dict):
        return None
    if merge_rescued_by_union(merge):
        return "union_rescued"
    if str(merge.get("strategy") or "").startswith("solo-"):
        return "lead_rescued"
    return str(merge.get("status")) if merge.get("status") else None


def evaluation_summary(run_dir: str | Path) -> dict[str, Any]:
    """Counts and pass rates over every ``eval.json`` under ``run_dir`` (``<setting>/<repo>/<task>/<pair>/``).

    ``eval.json`` holds the run's own scoring policy (``policy``); a run re-graded under another
    policy also has ``eval.<policy>.json`` files, summarized apart under ``by_policy``.

    Returns:
        ``{"policy", "pairs", "outcomes", "pass_rate", "pass_rate_excluding_infra", "by_setting",
        "merge", "attribution", "by_policy", "updated_at"}``; both pass rates come from
        :func:`cooperbench.outcomes.pass_rate` and say how infra errors were counted.
        ``by_policy`` maps every policy with results to the same counts for that policy.
    """
    run_dir = Path(run_dir)
    own = run_policy(run_dir)
    part = _summary_of(run_dir, EVAL_FILE)
    by_policy: dict[str, Any] = {}
    if own is not None and part["pairs"]:
        by_policy[own] = {k: v for k, v in part.items() if k != "updated_at"}
    names = {
        p.name for pattern in ("*/*/*/*/eval.*.json", "*/*/*/*/repeat-*/eval.*.json") for p in run_dir.glob(pattern)
    }
    for name in sorted(names):
        policy = name[len("eval.") : -len(".json")]
        if policy and policy != own:
            by_policy[policy] = {k: v for k, v in _summary_of(run_dir, name).items() if k != "updated_at"}
    return {"policy": own, **part, "by_policy": by_policy}


def _summary_of(run_dir: Path, file_name: str) -> dict[str, Any]:
    outcomes: list[Outcome] = []
    by_setting: dict[str, list[Outcome]] = {}
    merges: Counter[str] = Counter()
    attribution: Counter[str] = Counter()
    paths = [*run_dir.glob(f"*/*/*/*/{file_name}"), *run_dir.glob(f"*/*/*/*/repeat-*/{file_name}")]  # --repeats
    for path in sorted(paths):
        record = read_json(path)
        if not isinstance(record, dict):
            continue
        outcome = pair_outcome_from_eval(record, path.parent)
        outcomes.append(outcome)
        by_setting.setdefault(path.relative_to(run_dir).parts[0], []).append(outcome)
        kind = _merge_kind(record)
        if kind:
            merges[kind] += 1
        category = (record.get("attribution") or {}).get("category")
        if category:
            attribution[category] += 1
    return {
        "pairs": len(outcomes),
        "outcomes": {o.value: outcomes.count(o) for o in Outcome},
        "pass_rate": pass_rate(outcomes),
        "pass_rate_excluding_infra": pass_rate(outcomes, exclude_infra=True),
        "by_setting": {
            setting: {
                "pairs": len(items),
                "outcomes": dict(Counter(o.value for o in items)),
                "pass_rate": pass_rate(items),
            }
            for setting, items in sorted(by_setting.items())
        },
        "merge": dict(sorted(merges.items())),
        "attribution": dict(sorted(attribution.items())),
        "updated_at": now_iso(),
    }


def write_evaluation_summary(run_dir: str | Path) -> dict[str, Any]:
    """Rewrite ``<run_dir>/summary.json`` and return its ``evaluation`` part.

    See :func:`cooperbench.summary.summarize`, the one writer of summary.json.
    """
    from cooperbench.summary import summarize

    part: dict[str, Any] = summarize(run_dir)["evaluation"]
    return part
