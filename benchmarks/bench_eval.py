"""Evaluation overhead and throughput on the example dataset, with the local backend.

Every pair of the example dataset (or of its ``lite`` subset) gets its two gold patches as
agent patches in a fresh run folder; ``cooperbench.evaluation.evaluate`` then evaluates the
run at ``-c 1`` and, in a second fresh run folder, at ``-c 2``. Workspace templates are built
before timing starts.

Figures:

- overhead ratio: a pair's evaluation wall time (``eval_duration`` in its eval.json) over the
  sum of the raw ``runner.sh`` run times it contains (each feature's test run, and the alone
  runs of the failure attribution). 1.0 means the evaluation costs nothing beyond the task's
  own tests; the target is at most 1.2.
- pairs per minute at ``-c 1`` and ``-c 2`` (wall time of the whole ``evaluate`` call).

Usage::

    python benchmarks/bench_eval.py [--subset lite|all] [--limit 1.2] [--json] [--keep DIR]

Exit status 1 when the median overhead ratio exceeds ``--limit``, or when a pair's outcome
differs between the two runs (the evaluation must be deterministic; ``--keep`` keeps the
run folders to look at why).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from cooperbench.backends.local import LocalBackend
from cooperbench.dataset import Pair, discover_pairs
from cooperbench.evaluation import evaluate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "dataset"


def make_run(logs: Path, name: str, pairs: list[Pair]) -> Path:
    """A run folder holding each pair's gold feature patches as agent1.patch and agent2.patch."""
    run = logs / name
    for pair in pairs:
        pdir = run / "coop" / pair.repo / str(pair.task_id) / pair.dirname
        pdir.mkdir(parents=True)
        for agent, feature in (("agent1", pair.features[0]), ("agent2", pair.features[1])):
            (pdir / f"{agent}.patch").write_bytes(pair.task.feature_file(feature, "feature.patch").read_bytes())
    return run


def runner_seconds(record: dict[str, Any]) -> float:
    """Sum of the raw runner.sh run times an eval.json records."""
    total = sum(float(record[k].get("duration") or 0.0) for k in ("feature1", "feature2"))
    for agent in ((record.get("attribution") or {}).get("agents") or {}).values():
        total += float((agent.get("alone") or {}).get("duration") or 0.0)
    return total


def measure(logs: Path, name: str, pairs: list[Pair], backend: LocalBackend, concurrency: int) -> dict[str, Any]:
    run = make_run(logs, name, pairs)
    started = time.perf_counter()
    evaluate(name, logs_dir=logs, dataset_dir=EXAMPLES, backend=backend, concurrency=concurrency,
             console=Console(file=io.StringIO()))  # fmt: skip
    wall = time.perf_counter() - started
    ratios, outcomes = [], []
    by_pair: dict[str, str] = {}
    eval_total = runner_total = 0.0
    for path in sorted(run.glob("*/*/*/*/eval.json")):
        record = json.loads(path.read_text())
        outcomes.append(record["outcome"])
        by_pair[str(path.parent.relative_to(run))] = record["outcome"]
        raw = runner_seconds(record)
        eval_total += record["eval_duration"]
        runner_total += raw
        ratios.append(record["eval_duration"] / raw if raw else float("inf"))
    return {
        "concurrency": concurrency,
        "pairs": len(ratios),
        "wall_s": round(wall, 2),
        "pairs_per_minute": round(len(ratios) / wall * 60, 2),
        "overhead_ratio_median": round(statistics.median(ratios), 3),
        "overhead_ratio_max": round(max(ratios), 3),
        "overhead_ratio_total": round(eval_total / runner_total, 3),
        "eval_seconds_total": round(eval_total, 2),
        "runner_seconds_total": round(runner_total, 2),
        "outcomes": {o: outcomes.count(o) for o in sorted(set(outcomes))},
        "by_pair": by_pair,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", choices=("lite", "all"), default="lite", help="pairs to evaluate (default lite)")
    parser.add_argument("--limit", type=float, default=1.2, help="highest acceptable median overhead ratio")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", type=Path, help="keep the run folders (and template cache) in this folder")
    args = parser.parse_args(argv)

    pairs = discover_pairs(EXAMPLES, subset=None if args.subset == "all" else args.subset)
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        root = args.keep or Path(tmp)
        backend = LocalBackend(cache_dir=root / "cache")
        for task in {p.task.key: p.task for p in pairs}.values():
            backend.resolve_image(task)  # build templates before timing
        results = [measure(root / "logs", f"c{c}", pairs, backend, c) for c in (1, 2)]

    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "by_pair"} for r in results], indent=2))
    else:
        for r in results:
            print(
                f"-c {r['concurrency']}: {r['pairs']} pairs in {r['wall_s']}s = {r['pairs_per_minute']} pairs/min; "
                f"overhead ratio median {r['overhead_ratio_median']} (max {r['overhead_ratio_max']}, "
                f"total {r['overhead_ratio_total']}: {r['eval_seconds_total']}s eval / "
                f"{r['runner_seconds_total']}s runner.sh); outcomes {r['outcomes']}"
            )
    unstable = {k for k, v in results[0]["by_pair"].items() if results[1]["by_pair"].get(k) != v}
    for key in sorted(unstable):
        print(f"outcome differs between runs: {key}: {results[0]['by_pair'][key]} vs {results[1]['by_pair'].get(key)}")
    worst = results[0]["overhead_ratio_median"]
    if worst > args.limit:
        print(f"median overhead ratio at -c 1 is {worst}, above the limit {args.limit}", file=sys.stderr)
        return 1
    return 1 if unstable else 0


if __name__ == "__main__":
    raise SystemExit(main())
