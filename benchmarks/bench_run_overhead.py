"""Harness overhead of `cooperbench run`: wall time not spent inside agents or tests.

Runs the oracle agent in coop over every pair of the example dataset on the local backend,
with auto-eval, at --concurrency 1 and 2, and prints per pair:

- wall: the run's wall time / pairs;
- agents: time inside agents (per pair, the slower of its two concurrent agents);
- tests: time inside the tasks' test commands (runner.sh) during evaluation;
- overhead: (wall x concurrency - agents - tests) / pairs, i.e. worker-seconds per pair the
  harness itself used (sandboxes, patches, merges, files), assuming the workers were busy.

Usage: python benchmarks/bench_run_overhead.py [--dataset-dir DIR] [--concurrency 1 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from cooperbench.runner import run

ROOT = Path(__file__).resolve().parents[1]


def measure(dataset: Path, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cb-bench-") as logs:
        started = time.perf_counter()
        run(
            "bench",
            agent="oracle",
            setting="coop",
            dataset_dir=dataset,
            logs_dir=logs,
            concurrency=concurrency,
            eval_concurrency=concurrency,
        )
        wall = time.perf_counter() - started
        agents = tests = 0.0
        pairs = 0
        for result_file in Path(logs, "bench").glob("coop/*/*/*/result.json"):
            pairs += 1
            result = json.loads(result_file.read_text())
            agents += max(a["duration_s"] for a in result["agents"].values())
            evaluation = json.loads((result_file.parent / "eval.json").read_text())
            tests += sum(float(evaluation[f].get("duration") or 0.0) for f in ("feature1", "feature2"))
            for record in (evaluation.get("attribution") or {}).get("agents", {}).values():
                tests += float(record.get("alone_duration") or 0.0)
    return {
        "pairs": pairs,
        "wall": wall / pairs,
        "agents": agents / pairs,
        "tests": tests / pairs,
        "overhead": (wall * concurrency - agents - tests) / pairs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset-dir", type=Path, default=ROOT / "examples" / "dataset")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    # Warm the local backend's workspace templates so the first measurement is not a cold build.
    measure(args.dataset_dir, 2)
    header = ("concurrency", "pairs", "wall/pair", "agents/pair", "tests/pair", "overhead/pair")
    print(" ".join(f"{h:>13}" for h in header))
    for c in args.concurrency:
        m = measure(args.dataset_dir, c)
        figures = [f"{m[k]:.3f}s" for k in ("wall", "agents", "tests", "overhead")]
        print(" ".join(f"{v:>13}" for v in (str(c), str(m["pairs"]), *figures)))


if __name__ == "__main__":
    main()
