"""Evaluation cost per pair against its physical limit, with the local backend.

Every pair of a dataset (default: the example dataset's ``lite`` subset) gets its gold patches
as agent patches in a fresh run folder; ``cooperbench.evaluation.evaluate`` then evaluates the
run one pair at a time (``-c 1``), so each pair's ``eval_duration`` is its own wall time, and
again at ``-c 2`` for throughput. Workspace templates are built before timing starts; the
memo of test runs starts empty.

Figures:

- **limit ratio** (the target): a pair's evaluation wall time over its physical limit, the
  tests' own time (what the test frameworks report: pytest's ``in 0.12s``, go's package
  times, ...) of every test run the pair's verdict needs plus the merge step. 1.0 means the
  evaluation costs nothing beyond running the tests and merging; the target is at most 2.0
  from the second pair on (the first evaluation of the process pays what is paid once: cold
  caches; the ``-c 2`` pass evaluates every pair again, memo cleared, so a dataset of one pair
  has a second pair too). Memoized runs count at their original time, so a pair whose runs
  were all made earlier is below 1.0.
- **runner.sh ratio**: the same wall time over the raw ``runner.sh`` run times (including what
  runner.sh spends around the tests, such as ``pip install``).
- pairs per minute at ``-c 1`` and ``-c 2``.

Usage::

    python benchmarks/bench_eval.py [--dataset-dir DIR] [--subset lite|all|NAME] [--repo R] [--task T]
                                    [--max-pairs N] [--policy upstream|paper] [--limit 2.0] [--json]
                                    [--keep DIR] [--verbose]

Exit status 1 when the median limit ratio from the second pair on exceeds ``--limit``, or when a
pair's outcome differs between the two runs (the evaluation must be deterministic; ``--keep``
keeps the run folders to look at why).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from cooperbench.backends.local import LocalBackend
from cooperbench.dataset import Pair, discover_pairs
from cooperbench.evaluation import evaluate
from cooperbench.evaluation.memo import test_memo

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "dataset"


def make_run(logs: Path, name: str, pairs: list[Pair]) -> Path:
    """A run folder holding each pair's gold feature patches as agent1.patch ... agentN.patch."""
    run = logs / name
    for pair in pairs:
        pdir = run / "coop" / pair.repo / str(pair.task_id) / pair.dirname
        pdir.mkdir(parents=True)
        for i, feature in enumerate(pair.features, start=1):
            (pdir / f"agent{i}.patch").write_bytes(pair.task.feature_file(feature, "feature.patch").read_bytes())
    return run


def test_runs(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every test run an eval.json records (each feature's, the attribution's alone runs, the lead's)."""
    runs = [record[f"feature{i}"] for i in range(1, len(record["features"]) + 1)]
    for agent in ((record.get("attribution") or {}).get("agents") or {}).values():
        if agent.get("alone"):
            runs.append(agent["alone"])
    lead = (record.get("merge") or {}).get("lead_alone") or {}
    runs += [r for r in lead.get("results") or [] if r not in runs]  # when the lead passed, they are the features
    return [r for r in runs if r.get("ran")]


test_runs.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def pair_figures(record: dict[str, Any]) -> dict[str, Any]:
    runs = test_runs(record)
    own = sum(float(r.get("test_seconds") or 0.0) for r in runs)
    raw = sum(float(r.get("duration") or 0.0) for r in runs)
    merge = float((record.get("timings") or {}).get("merge") or 0.0)
    wall = float(record["eval_duration"])
    return {
        "wall_s": round(wall, 3),
        "tests_own_s": round(own, 3),
        "merge_s": round(merge, 3),
        "runner_s": round(raw, 3),
        "runs": len(runs),
        "memoized": sum(1 for r in runs if r.get("memoized")),
        "limit_ratio": round(wall / (own + merge), 3) if own + merge else None,
        "runner_ratio": round(wall / raw, 3) if raw else None,
    }


def measure(
    logs: Path,
    name: str,
    pairs: list[Pair],
    dataset: Path,
    backend: LocalBackend,
    concurrency: int,
    policy: str,
    *,
    first: bool,
) -> dict[str, Any]:
    run = make_run(logs, name, pairs)
    test_memo().clear()
    started = time.perf_counter()
    evaluate(name, logs_dir=logs, dataset_dir=dataset, backend=backend, concurrency=concurrency, policy=policy,
             console=Console(file=io.StringIO()))  # fmt: skip
    wall = time.perf_counter() - started
    records = []
    for path in run.glob("*/*/*/*/eval.json"):
        record = json.loads(path.read_text())
        records.append((path.stat().st_mtime_ns, str(path.parent.relative_to(run)), record))
    records.sort(key=lambda item: item[0])  # the order they were evaluated in (at -c 1)
    by_pair = {key: {"outcome": rec["outcome"], **pair_figures(rec)} for _, key, rec in records}
    order = list(by_pair)
    skip = 1 if first else 0  # the first evaluation of the process pays what is paid once
    later = [by_pair[k]["limit_ratio"] for k in order[skip:] if by_pair[k]["limit_ratio"] is not None]
    runner = [by_pair[k]["runner_ratio"] for k in order if by_pair[k]["runner_ratio"] is not None]
    return {
        "concurrency": concurrency,
        "pairs": len(order),
        "wall_s": round(wall, 2),
        "pairs_per_minute": round(len(order) / wall * 60, 2) if wall else None,
        "first_pair": {"pair": order[0], **by_pair[order[0]]} if order and first else None,
        "limit_ratio_median": round(statistics.median(later), 3) if later else None,
        "limit_ratio_max": round(max(later), 3) if later else None,
        "runner_ratio_median": round(statistics.median(runner), 3) if runner else None,
        "tests_own_s_total": round(sum(p["tests_own_s"] for p in by_pair.values()), 2),
        "merge_s_total": round(sum(p["merge_s"] for p in by_pair.values()), 2),
        "eval_s_total": round(sum(p["wall_s"] for p in by_pair.values()), 2),
        "memo": {"hits": test_memo().hits, "misses": test_memo().misses},
        "outcomes": dict(sorted(Counter(p["outcome"] for p in by_pair.values()).items())),
        "by_pair": by_pair,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset-dir", type=Path, default=EXAMPLES, help="the dataset (default: the example one)")
    parser.add_argument("--subset", default=None, help="a subset name, or `all` (default: lite for the examples)")
    parser.add_argument("--repo", help="only this repository")
    parser.add_argument("--task", type=int, help="only this task id")
    parser.add_argument("--policy", default="upstream", choices=("upstream", "paper"))
    parser.add_argument("--limit", type=float, default=2.0, help="highest acceptable median limit ratio")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", type=Path, help="keep the run folders (and template cache) in this folder")
    parser.add_argument("--max-pairs", type=int, help="only the first N selected pairs")
    parser.add_argument("--verbose", action="store_true", help="print every pair's figures")
    args = parser.parse_args(argv)

    dataset = args.dataset_dir.resolve()
    subset = args.subset if args.subset is not None else ("lite" if dataset == EXAMPLES else "all")
    pairs = discover_pairs(dataset, subset=None if subset == "all" else subset, repo=args.repo, task_id=args.task)
    pairs = pairs[: args.max_pairs] if args.max_pairs else pairs
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        root = args.keep or Path(tmp)
        backend = LocalBackend(cache_dir=root / "cache")
        built = time.perf_counter()
        for task in {p.task.key: p.task for p in pairs}.values():
            backend.resolve_image(task)  # build templates before timing
        build_s = time.perf_counter() - built
        results = [
            measure(root / "logs", f"c{c}", pairs, dataset, backend, c, args.policy, first=c == 1) for c in (1, 2)
        ]

    if args.json:
        print(json.dumps({"templates_s": round(build_s, 2), "runs": results}, indent=2))
    else:
        print(f"{len(pairs)} pair(s) of {dataset} ({args.policy} policy); templates built in {build_s:.1f}s")
        for r in results:
            first = r["first_pair"]
            firsts = f" (first pair of the process {first['limit_ratio']}: {first['wall_s']}s)" if first else ""
            print(
                f"-c {r['concurrency']}: {r['pairs']} pairs in {r['wall_s']}s = {r['pairs_per_minute']} pairs/min; "
                f"limit ratio (eval wall / (tests' own time + merge)) median {r['limit_ratio_median']} "
                f"max {r['limit_ratio_max']} from the second pair on{firsts}; runner.sh ratio median "
                f"{r['runner_ratio_median']}; tests {r['tests_own_s_total']}s + merge {r['merge_s_total']}s of "
                f"{r['eval_s_total']}s eval; memo {r['memo']['hits']} hit(s) / {r['memo']['misses']} run(s); "
                f"outcomes {r['outcomes']}"
            )
            if args.verbose:
                for key, fig in r["by_pair"].items():
                    print(f"    {key}: {fig}")
    unstable = {
        k for k, v in results[0]["by_pair"].items() if results[1]["by_pair"].get(k, {}).get("outcome") != v["outcome"]
    }
    for key in sorted(unstable):
        print(f"outcome differs between runs: {key}: {results[0]['by_pair'][key]['outcome']} vs "
              f"{results[1]['by_pair'].get(key, {}).get('outcome')}")  # fmt: skip
    later = [results[0]["limit_ratio_median"], results[1]["limit_ratio_median"]]
    worst = max((x for x in later if x is not None), default=None)
    if worst is not None and worst > args.limit:
        print(f"median limit ratio from the second pair on is {worst}, above the limit {args.limit}", file=sys.stderr)
        return 1
    return 1 if unstable else 0


if __name__ == "__main__":
    raise SystemExit(main())
