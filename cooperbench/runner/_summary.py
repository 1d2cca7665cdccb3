"""A pair's final outcome and the run's summary, computed from the files on disk."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cooperbench.io import read_json, write_json_atomic

# Outcomes decided before evaluation; every other pair's outcome comes from eval.json.
PRE_EVAL_OUTCOMES = ("agent_error", "infra_error", "timeout")
RESULT_FILE = "result.json"
EVAL_FILE = "eval.json"


def pair_outcome(pair_dir: Path) -> str | None:
    """The outcome of the pair in ``pair_dir``: ``None`` when it has not run, ``"pending_eval"`` when not evaluated."""
    result = read_json(pair_dir / RESULT_FILE)
    if not isinstance(result, dict):
        return None
    outcome = result.get("outcome")
    if outcome in PRE_EVAL_OUTCOMES:
        return str(outcome)
    evaluation = read_json(pair_dir / EVAL_FILE)
    if isinstance(evaluation, dict) and evaluation.get("outcome"):
        return str(evaluation["outcome"])
    return str(outcome) if outcome and outcome != "pending_eval" else "pending_eval"


def is_done(pair_dir: Path) -> bool:
    """A pair is done when its result.json parses and its outcome is not an infrastructure error."""
    result = read_json(pair_dir / RESULT_FILE)
    return isinstance(result, dict) and result.get("outcome") != "infra_error"


def iter_pair_dirs(run_dir: Path) -> list[Path]:
    """Every pair folder of a run (those holding result.json or eval.json)."""
    found = {p.parent for name in (RESULT_FILE, EVAL_FILE) for p in run_dir.glob(f"*/*/*/*/{name}")}
    return sorted(found)


def summarize(run_dir: Path, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Recompute ``summary.json`` from every pair folder of the run and write it atomically."""
    from cooperbench.outcomes import pass_rate

    counts: dict[str, int] = {}
    by_setting: dict[str, dict[str, int]] = {}
    outcomes: list[str] = []
    cost = 0.0
    tokens = {"input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0}
    steps = 0
    agent_seconds = 0.0
    for pdir in iter_pair_dirs(run_dir):
        outcome = pair_outcome(pdir)
        if outcome is None:
            continue
        setting = pdir.relative_to(run_dir).parts[0]
        counts[outcome] = counts.get(outcome, 0) + 1
        by_setting.setdefault(setting, {})
        by_setting[setting][outcome] = by_setting[setting].get(outcome, 0) + 1
        if outcome != "pending_eval":
            outcomes.append(outcome)
        result = read_json(pdir / RESULT_FILE) or {}
        totals = result.get("totals") or {}
        cost += float(totals.get("cost") or 0.0)
        steps += int(totals.get("steps") or 0)
        agent_seconds += float(result.get("duration_s") or 0.0)
        for key in tokens:
            tokens[key] += int(totals.get(key) or 0)
    summary: dict[str, Any] = {
        "run_name": run_dir.name,
        "pairs": sum(counts.values()),
        "outcomes": dict(sorted(counts.items())),
        "by_setting": by_setting,
        "pass_rate": pass_rate(outcomes),
        "pass_rate_excluding_infra": pass_rate(outcomes, exclude_infra=True),
        "cost": round(cost, 6),
        "steps": steps,
        "tokens": tokens,
        "pair_seconds": round(agent_seconds, 3),
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if extra:
        summary.update(extra)
    write_json_atomic(run_dir / "summary.json", summary)
    return summary
