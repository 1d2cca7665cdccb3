"""Time and size of ``cooperbench report`` on 652 pairs × 3 runs (the public dataset's size).

A synthetic log folder (``cooperbench.testing.report_logs``: mini-swe-agent trajectories of 8-40
steps per agent, ledgers, patches, merge records, test output) is written once, then
``cooperbench report coop-1 coop-2 solo`` runs as a fresh subprocess, as a user types it:
first with an empty report cache (the Vega bundle and chart specifications are built), then
``--runs`` times warm. The figures are wall and CPU seconds and the size of report.html; the
targets are 10 s and 25 MB.

Usage::

    python benchmarks/bench_report.py [--pairs 652] [--runs 3] [--json]

Exit status 1 when the warm median exceeds ``--limit`` seconds (default 10) or report.html is
over 25 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAX_HTML_BYTES = 25 * 1024 * 1024


def _report_once(logs: Path, out: Path, cache: Path) -> tuple[float, float]:
    env = {**os.environ, "COOPERBENCH_CACHE_DIR": str(cache)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cooperbench",
            "report",
            "coop-1",
            "coop-2",
            "solo",
            "--log-dir",
            str(logs),
            "-o",
            str(out),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=652)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limit", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from cooperbench.testing.report_logs import write_synthetic_runs

    with tempfile.TemporaryDirectory(prefix="cb-bench-report-") as tmp:
        root = Path(tmp)
        logs, cache, out = root / "logs", root / "cache", root / "out"
        started = time.perf_counter()
        write_synthetic_runs(logs, pairs=args.pairs)
        generated = time.perf_counter() - started
        log_bytes = sum(p.stat().st_size for p in logs.rglob("*") if p.is_file())
        cold = _report_once(logs, out, cache)
        warm = [_report_once(logs, out, cache) for _ in range(args.runs)]
        html = (out / "report.html").stat().st_size
        figures = {
            "pairs_per_run": args.pairs,
            "runs": 3,
            "log_folder_mb": round(log_bytes / 1e6, 1),
            "generate_s": round(generated, 2),
            "cold_wall_s": round(cold[0], 2),
            "cold_cpu_s": round(cold[1], 2),
            "warm_wall_median_s": round(statistics.median(w for w, _ in warm), 2),
            "warm_wall_min_s": round(min(w for w, _ in warm), 2),
            "warm_cpu_median_s": round(statistics.median(c for _, c in warm), 2),
            "report_html_mb": round(html / 1e6, 2),
            "report_json_mb": round((out / "report.json").stat().st_size / 1e6, 2),
            "load_average": round(os.getloadavg()[0], 2),
        }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:<22} {value}")
    ok = figures["warm_wall_median_s"] <= args.limit and html <= MAX_HTML_BYTES
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
