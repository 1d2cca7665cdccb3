"""Every number of a report, computed from the runs' rows: per run, per configuration, per comparison.

The pass rate is :func:`cooperbench.outcomes.pass_rate` (the one definition), its interval
:func:`cooperbench.report.stats.wilson`; comparisons pair runs on the pairs both hold.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from cooperbench.outcomes import pass_rate
from cooperbench.report import stats
from cooperbench.report._load import TOKEN_FIELDS, RunData

__all__ = ["analyze_run", "compare_runs", "comparison_plan", "configuration_groups"]

PENDING = "pending_eval"
#: The numbers whose distributions a run shows.
DISTRIBUTIONS = ("cost", "steps", "input_tokens", "output_tokens", "wall_s", "messages")
#: config.json keys that make two runs "the same configuration" (the run name and invocations do not).
CONFIG_KEYS = ("setting", "agent", "model", "backend", "git_enabled", "messaging_enabled", "config", "subset", "repo")


def _rate(outcomes: Sequence[str], *, exclude_infra: bool = False) -> dict[str, Any]:
    rate = pass_rate(outcomes, exclude_infra=exclude_infra)
    interval = stats.wilson(rate["passed"], rate["counted"])
    rate["interval"] = interval.as_dict() if interval else None
    return rate


def _final(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["outcome"] != PENDING]


def _known_outcomes(rows: Iterable[dict[str, Any]]) -> list[str]:
    from cooperbench.outcomes import Outcome

    known = {o.value for o in Outcome}
    # An outcome this version does not know (a newer harness's) counts as not passed, never as an error.
    return [r["outcome"] if r["outcome"] in known else "fail_tests" for r in rows]


def _distribution(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def q(p: float) -> float:
        return float(ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))])

    return {
        "n": len(values),
        "total": float(sum(values)),
        "mean": float(statistics.fmean(values)),
        "median": float(statistics.median(values)),
        "p90": q(0.9),
        "min": float(ordered[0]),
        "max": float(ordered[-1]),
    }


def _grouped_rates(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in keys)].append(r)
    out = []
    for key, items in sorted(groups.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        rate = _rate(_known_outcomes(items))
        out.append(
            {
                **dict(zip(keys, key, strict=True)),
                "attempts": len(items),
                "pairs": len({r["pair_id"] for r in items}),
                "passed": rate["passed"],
                "pass_rate": rate["pass_rate"],
                "interval": rate["interval"],
                "outcomes": dict(Counter(r["outcome"] for r in items)),
                "cost": float(sum(r["cost"] for r in items)),
            }
        )
    return out


def _repeats(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    by_pair: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_pair[r["pair_id"]].append(r)
    k_max = max((len(v) for v in by_pair.values()), default=0)
    if k_max < 2 or all(r["repeat"] is None for r in rows):
        return None
    per_pair: list[dict[str, Any]] = []
    for pair_id, items in sorted(by_pair.items()):
        items = sorted(items, key=lambda r: r["repeat"] or 0)
        per_pair.append(
            {
                "pair_id": pair_id,
                "n": len(items),
                "c": sum(1 for r in items if r["passed"]),
                "results": [r["passed"] for r in items],
                "keys": [r["key"] for r in items],
            }
        )
    # pass@k / pass^k average over the pairs that have at least k attempts.
    pass_at: dict[str, float] = {}
    pass_hat: dict[str, float] = {}
    for k in range(1, k_max + 1):
        eligible = [p for p in per_pair if p["n"] >= k]
        pass_at[str(k)] = statistics.fmean(stats.pass_at_k(p["n"], p["c"], k) for p in eligible)
        pass_hat[str(k)] = statistics.fmean(stats.pass_hat_k(p["n"], p["c"], k) for p in eligible)
    per_repeat: dict[int, list[str]] = defaultdict(list)
    for r in rows:
        per_repeat[r["repeat"] or 1].append(r["outcome"])
    repeat_rates = [
        {"repeat": k, **{f: v for f, v in _rate(_known_outcomes([{"outcome": o} for o in outs])).items()}}
        for k, outs in sorted(per_repeat.items())
    ]
    mean = stats.mean_interval([r["pass_rate"] for r in repeat_rates])
    distribution = Counter(f"{p['c']}/{p['n']}" for p in per_pair)
    return {
        "k": k_max,
        "pairs": len(per_pair),
        "per_pair": per_pair,
        "pass_counts": dict(sorted(distribution.items())),
        "pass_at_k": pass_at,
        "pass_hat_k": pass_hat,
        "per_repeat": repeat_rates,
        "mean_pass_rate": mean.as_dict() if mean else None,
        "flip": stats.flip_rate([p["results"] for p in per_pair]),
    }


def _config_view(run: RunData) -> dict[str, Any]:
    c = run.config
    policies = sorted({str(a.row["policy"]) for a in run.attempts if a.row["policy"]})
    policy = run.summary.get("policy") or c.get("policy") or (policies[0] if len(policies) == 1 else None)
    return {
        "setting": c.get("setting") or (run.attempts[0].row["setting"] if run.attempts else None),
        "agent": c.get("agent"),
        "model": c.get("model"),
        "backend": c.get("backend"),
        "git_enabled": c.get("git_enabled"),
        "messaging_enabled": c.get("messaging_enabled"),
        "repeats": c.get("repeats"),
        "policy": policy,
        "policies_seen": policies,
        "dataset_hash": (c.get("provenance") or {}).get("dataset_hash"),
        "cooperbench_version": (c.get("provenance") or {}).get("cooperbench_version"),
    }


def analyze_run(run: RunData) -> dict[str, Any]:
    """The section of one run: pass rates, tables, merge, policy, attribution, distributions, repeats."""
    rows = [a.row for a in run.attempts]
    final = _final(rows)
    outcomes = _known_outcomes(final)
    section: dict[str, Any] = {
        "label": run.label,
        "path": str(run.path),
        "config": _config_view(run),
        "pairs": len({r["pair_id"] for r in rows}),
        "attempts": len(rows),
        "pending_eval": len(rows) - len(final),
        "outcomes": dict(Counter(r["outcome"] for r in rows).most_common()),
        "pass_rate": _rate(outcomes),
        "pass_rate_excluding_infra": None,
        "by_repo": _grouped_rates(final, ("repo",)),
        "by_task": _grouped_rates(final, ("repo", "task_id")),
        "merge": dict(Counter(r["merge"] for r in rows if r["merge"]).most_common()),
        "attribution": dict(Counter(r["attribution"] for r in rows if r["attribution"]).most_common()),
        "distributions": {name: _distribution([float(r[name]) for r in rows]) for name in DISTRIBUTIONS},
        "tokens": {k: int(sum(r[k] for r in rows)) for k in TOKEN_FIELDS},
        "messages": {
            "total": int(sum(r["messages"] for r in rows)),
            "pairs_with_messages": sum(1 for r in rows if r["messages"]),
            "mean_per_pair": statistics.fmean(r["messages"] for r in rows) if rows else 0.0,
        },
        "repeats": _repeats(rows),
    }
    if "infra_error" in outcomes:
        section["pass_rate_excluding_infra"] = _rate(outcomes, exclude_infra=True)
    return section


def configuration_key(run: RunData) -> str:
    """What makes two runs the same configuration: their result-changing options, as canonical JSON."""
    view = {k: run.config.get(k) for k in CONFIG_KEYS}
    if not run.config:  # a folder without config.json is only its own configuration
        view = {"path": str(run.path)}
    return json.dumps(view, sort_keys=True, default=str)


def configuration_groups(runs: Sequence[RunData], sections: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Configurations run more than once: mean ± t interval over their runs' pass rates and costs."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for i, run in enumerate(runs):
        by_key[configuration_key(run)].append(i)
    groups = []
    for members in by_key.values():
        if len(members) < 2:
            continue
        rates = [sections[i]["pass_rate"]["pass_rate"] for i in members]
        costs = [sections[i]["distributions"]["cost"].get("total", 0.0) for i in members]
        rate_interval = stats.mean_interval(rates)
        cost_interval = stats.mean_interval(costs)
        groups.append(
            {
                "runs": [runs[i].label for i in members],
                "config": sections[members[0]]["config"],
                "pass_rates": rates,
                "pass_rate": rate_interval.as_dict() if rate_interval else None,
                "pass_rate_sd": statistics.stdev(rates) if len(rates) > 1 else 0.0,
                "cost": cost_interval.as_dict() if cost_interval else None,
            }
        )
    return groups


def comparison_plan(runs: Sequence[RunData], baseline: str | None = None) -> list[tuple[int, int]]:
    """Which runs are compared, as ``(a, b)`` index pairs: every other run against ``baseline``, else every two runs.

    A coop run compared with a solo run is always ``a`` (so retention reads coop / solo).
    """
    plan: list[tuple[int, int]] = []
    labels = [r.label for r in runs]
    if baseline is not None:
        b = labels.index(baseline)
        plan = [(a, b) for a in range(len(runs)) if a != b]
    else:
        plan = [(a, b) for a in range(len(runs)) for b in range(a + 1, len(runs))]

    def setting(i: int) -> Any:
        return runs[i].config.get("setting") or (runs[i].attempts[0].row["setting"] if runs[i].attempts else None)

    return [(b, a) if setting(a) == "solo" and setting(b) != "solo" else (a, b) for a, b in plan]


def _by_pair(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["outcome"] != PENDING:
            grouped[r["pair_id"]].append(r)
    for items in grouped.values():
        items.sort(key=lambda r: r["repeat"] or 0)
    return grouped


def compare_runs(a: RunData, b: RunData) -> dict[str, Any]:
    """Run ``a`` against run ``b`` on the pairs both hold (with a final outcome).

    The paired 2×2 table and McNemar's exact test use each pair's first attempt; the rates, their
    difference (with a seeded bootstrap interval over pairs) and the per-repository table use
    each pair's mean over its attempts (the same thing without repeats).
    """
    pa, pb = _by_pair(x.row for x in a.attempts), _by_pair(x.row for x in b.attempts)
    common = sorted(set(pa) & set(pb))
    table = {"both_pass": 0, "a_only": 0, "b_only": 0, "both_fail": 0}
    discordant = []
    diffs: list[float] = []
    mean_a: dict[str, float] = {}
    mean_b: dict[str, float] = {}
    infra = 0
    for pid in common:
        first_a, first_b = pa[pid][0], pb[pid][0]
        if "infra_error" in (first_a["outcome"], first_b["outcome"]):
            infra += 1
        cell = {
            (True, True): "both_pass",
            (True, False): "a_only",
            (False, True): "b_only",
            (False, False): "both_fail",
        }[(first_a["passed"], first_b["passed"])]
        table[cell] += 1
        if cell in ("a_only", "b_only"):
            discordant.append(
                {
                    "pair_id": pid,
                    "repo": first_a["repo"],
                    "passed_in": a.label if cell == "a_only" else b.label,
                    "a_outcome": first_a["outcome"],
                    "b_outcome": first_b["outcome"],
                    "a_attribution": first_a["attribution"],
                    "b_attribution": first_b["attribution"],
                    "a_key": first_a["key"],
                    "b_key": first_b["key"],
                }
            )
        mean_a[pid] = statistics.fmean(1.0 if r["passed"] else 0.0 for r in pa[pid])
        mean_b[pid] = statistics.fmean(1.0 if r["passed"] else 0.0 for r in pb[pid])
        diffs.append(mean_a[pid] - mean_b[pid])
    n = len(common)
    rate_a = statistics.fmean(mean_a.values()) if n else 0.0
    rate_b = statistics.fmean(mean_b.values()) if n else 0.0
    wilson_a = stats.wilson(table["both_pass"] + table["a_only"], n)
    wilson_b = stats.wilson(table["both_pass"] + table["b_only"], n)
    difference = stats.bootstrap_mean(diffs)
    by_repo = []
    repos = sorted({pa[pid][0]["repo"] for pid in common})
    for repo in repos:
        ids = [pid for pid in common if pa[pid][0]["repo"] == repo]
        ra = statistics.fmean(mean_a[p] for p in ids)
        rb = statistics.fmean(mean_b[p] for p in ids)
        by_repo.append(
            {
                "repo": repo,
                "pairs": len(ids),
                "rate_a": ra,
                "rate_b": rb,
                "difference": ra - rb,
                "a_only": sum(1 for d in discordant if d["repo"] == repo and d["passed_in"] == a.label),
                "b_only": sum(1 for d in discordant if d["repo"] == repo and d["passed_in"] == b.label),
            }
        )
    cost_a = sum(r["cost"] for pid in common for r in pa[pid])
    cost_b = sum(r["cost"] for pid in common for r in pb[pid])
    attempts_a = sum(len(pa[pid]) for pid in common)
    attempts_b = sum(len(pb[pid]) for pid in common)
    both_b = table["both_pass"] + table["b_only"]
    return {
        "a": a.label,
        "b": b.label,
        "a_setting": a.config.get("setting"),
        "b_setting": b.config.get("setting"),
        "common_pairs": n,
        "only_in_a": len(set(pa) - set(pb)),
        "only_in_b": len(set(pb) - set(pa)),
        "infra_error_pairs": infra,
        "table": table,
        "rate_a": rate_a,
        "rate_b": rate_b,
        "interval_a": wilson_a.as_dict() if wilson_a else None,
        "interval_b": wilson_b.as_dict() if wilson_b else None,
        "difference": difference.as_dict() if difference else None,
        "mcnemar_p": stats.mcnemar_exact(table["a_only"], table["b_only"]),
        "retention": rate_a / rate_b if rate_b else None,
        "conditional_retention": table["both_pass"] / both_b if both_b else None,
        "by_repo": by_repo,
        "cost": {
            "a": cost_a,
            "b": cost_b,
            "ratio": cost_a / cost_b if cost_b else None,
            "a_per_attempt": cost_a / attempts_a if attempts_a else 0.0,
            "b_per_attempt": cost_b / attempts_b if attempts_b else 0.0,
        },
        "discordant": discordant,
    }
