#!/usr/bin/env python3
"""Sandbox latency and throughput of a backend.

Prints, for one backend and one task: sandbox creation from a warm image/template (p50,
p95), the round trip of ``exec("true")`` (p50, p95), and the throughput of N sandboxes
running commands at the same time::

    python benchmarks/bench_sandboxes.py                      # local backend, first example task
    python benchmarks/bench_sandboxes.py --backend docker     # any installed backend
    python benchmarks/bench_sandboxes.py --task examples/dataset/textkit_task/task1 --samples 50 --json

Backend options go as ``--option key=value`` (values parsed as JSON when they parse).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cooperbench.backends import Backend, RunLabels, Sandbox, get_backend
from cooperbench.dataset import Task, load_task, load_tasks

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "dataset"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    """p50/p95/mean in milliseconds."""
    return {
        "p50_ms": round(percentile(values, 0.50) * 1000, 2),
        "p95_ms": round(percentile(values, 0.95) * 1000, 2),
        "mean_ms": round(statistics.fmean(values) * 1000, 2),
        "n": len(values),
    }


def pick_task(path: str | None) -> Task:
    if path:
        task = load_task(Path(path))
        if task is None:
            sys.exit(f"{path}: not a task folder with at least two features")
        return task
    tasks = load_tasks(EXAMPLES) if EXAMPLES.is_dir() else []
    if not tasks:
        sys.exit(f"no example dataset at {EXAMPLES}; pass --task <dataset>/<repo>/task<id>")
    return tasks[0]


def parse_options(raw: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--option expects key=value, got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def bench_creation(backend: Backend, image: str, run: RunLabels, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        elapsed, box = timed(backend.create_sandbox, image, run=run, purpose="check")
        times.append(elapsed)
        box.cleanup()
    return times


def bench_exec(box: Sandbox, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        elapsed, result = timed(box.exec, "true")
        if result.returncode != 0:
            raise RuntimeError(f"`true` failed in the sandbox: {result!r}")
        times.append(elapsed)
    return times


def bench_concurrent(backend: Backend, image: str, run: RunLabels, sandboxes: int, commands: int) -> dict[str, Any]:
    """Each of ``sandboxes`` threads creates a sandbox, runs ``commands`` commands, cleans up."""

    def worker(index: int) -> list[float]:
        box = backend.create_sandbox(image, run=run, purpose="check")
        try:
            latencies = []
            for step in range(commands):
                elapsed, result = timed(box.exec, f"echo {index}-{step} > /tmp/mine && cat /tmp/mine")
                if result.output.strip() != f"{index}-{step}":
                    raise RuntimeError(f"sandbox {index} saw {result.output!r}")
                latencies.append(elapsed)
            return latencies
        finally:
            box.cleanup()

    started = time.perf_counter()
    with ThreadPoolExecutor(sandboxes) as pool:
        latencies = [x for per in pool.map(worker, range(sandboxes)) for x in per]
    wall = time.perf_counter() - started
    return {
        "sandboxes": sandboxes,
        "commands_per_sandbox": commands,
        "wall_s": round(wall, 3),
        "commands_per_s": round(len(latencies) / wall, 1),
        "exec_latency": summary(latencies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="local", help="backend name (default: local)")
    parser.add_argument("--option", action="append", default=[], help="backend option key=value (repeatable)")
    parser.add_argument("--task", help="a task folder (default: the first task of examples/dataset)")
    parser.add_argument("--samples", type=int, default=30, help="samples per latency figure (default: 30)")
    parser.add_argument("--concurrency", type=int, default=8, help="sandboxes at the same time (default: 8)")
    parser.add_argument("--commands", type=int, default=20, help="commands per concurrent sandbox (default: 20)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    backend = get_backend(args.backend, **parse_options(args.option))
    task = pick_task(args.task)
    run = RunLabels(f"bench-{int(time.time())}")
    report: dict[str, Any] = {"backend": args.backend, "task": task.key}
    try:
        first, image = timed(backend.resolve_image, task)
        report["resolve_image_first_s"] = round(first, 3)
        report["resolve_image_warm_ms"] = round(timed(backend.resolve_image, task)[0] * 1000, 2)
        backend.create_sandbox(image, run=run, purpose="check").cleanup()  # warm caches
        report["create_sandbox"] = summary(bench_creation(backend, image, run, args.samples))
        box = backend.create_sandbox(image, run=run, purpose="check")
        try:
            bench_exec(box, 3)
            report["exec_true"] = summary(bench_exec(box, args.samples))
        finally:
            box.cleanup()
        report["concurrent"] = bench_concurrent(backend, image, run, args.concurrency, args.commands)
    finally:
        backend.cleanup(run_name=run.run_name)

    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    concurrent = report["concurrent"]
    print(f"backend {report['backend']}, task {report['task']}")
    print(f"  resolve_image: first {report['resolve_image_first_s']} s, warm {report['resolve_image_warm_ms']} ms")
    for label, key in (("create_sandbox (warm)", "create_sandbox"), ("exec('true') round trip", "exec_true")):
        fig = report[key]
        print(f"  {label:<24} p50 {fig['p50_ms']:>8.2f} ms   p95 {fig['p95_ms']:>8.2f} ms   (n={fig['n']})")
    print(
        f"  {concurrent['sandboxes']} concurrent sandboxes x {concurrent['commands_per_sandbox']} commands: "
        f"{concurrent['commands_per_s']} commands/s over {concurrent['wall_s']} s "
        f"(exec p50 {concurrent['exec_latency']['p50_ms']} ms, p95 {concurrent['exec_latency']['p95_ms']} ms; "
        "creation and cleanup included in the wall time)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
