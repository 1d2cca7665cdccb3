"""Start-up time of the command line: ``cooperbench --help`` and ``cooperbench plugins``.

Each command runs as a fresh subprocess, as a user types it; the figures are the median and
the minimum wall time of ``--runs`` runs after one warm-up run (which writes the bytecode
cache, as the first run after an install does). The target is under one second each.

Usage::

    python benchmarks/bench_cli.py [--runs 10] [--no-bytecode-cache] [--json]

Exit status 1 when a median exceeds ``--limit`` seconds (default 1.0).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS: dict[str, list[str]] = {
    "cooperbench --help": ["--help"],
    "cooperbench plugins": ["plugins"],
    "cooperbench plugins --json": ["plugins", "--json"],
}


def _cli() -> list[str]:
    """The ``cooperbench`` script next to this interpreter, else ``python -m cooperbench``."""
    script = Path(sys.executable).with_name("cooperbench")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cooperbench"]


def time_command(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    """Wall times, in seconds, of ``runs`` runs of ``argv`` after one warm-up run.

    Raises:
        RuntimeError: the command fails.
    """
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}:\n{proc.stderr}")
        if i:  # the first run warms the bytecode cache and the OS file cache
            times.append(elapsed)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default 10)")
    parser.add_argument("--limit", type=float, default=1.0, help="fail when a median exceeds this (seconds)")
    parser.add_argument(
        "--no-bytecode-cache", action="store_true", help="compile every module on every run (a cold install)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if not k.startswith("COOPERBENCH_")}
    cache = tempfile.mkdtemp(prefix="cooperbench-bench-pycache-")
    if args.no_bytecode_cache:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = cache  # empty and never written: nothing cached
    else:
        # A private bytecode cache: representative of an installed tool, and the work tree stays clean.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    results = {}
    try:
        for label, command in COMMANDS.items():
            times = time_command([*_cli(), *command], args.runs, env)
            results[label] = {"median": statistics.median(times), "min": min(times), "runs": len(times)}
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        cached = "without" if args.no_bytecode_cache else "with"
        print(f"{'command':<30} {'median':>8} {'min':>8}   ({args.runs} runs, {cached} bytecode cache)")
        for label, r in results.items():
            print(f"{label:<30} {r['median']:>7.3f}s {r['min']:>7.3f}s")
    slow = [label for label, r in results.items() if r["median"] > args.limit]
    if slow:
        print(f"over the {args.limit:.1f}s target: {', '.join(slow)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
