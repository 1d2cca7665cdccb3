#!/usr/bin/env python3
"""Sandbox latency and throughput of a backend.

Prints, for one backend and one task: sandbox creation from a warm image/template (p50,
p95), the round trip of ``exec("true")`` (p50, p95), and the throughput of N sandboxes
running commands at the same time. Also the CPU time each creation (with its cleanup) and each
``exec`` costs, which a loaded machine changes far less than latency: measured with a cgroup v1
``cpuacct`` group around this process and everything it starts, sandboxed commands included
(as root), else with ``getrusage`` (this process and the children it waited for: a lower bound)::

    python benchmarks/bench_sandboxes.py                      # local backend, first example task
    python benchmarks/bench_sandboxes.py --backend docker     # any installed backend
    python benchmarks/bench_sandboxes.py --task examples/dataset/textkit_task/task1 --samples 50 --json

Backend options go as ``--option key=value`` (values parsed as JSON when they parse).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
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


class CpuMeter:
    """CPU seconds used by this process and its descendants since it was made."""

    ACCT = Path("/sys/fs/cgroup/cpuacct")

    def __init__(self) -> None:
        self.group: Path | None = None
        self.method = "getrusage (self + waited children; a lower bound)"
        if (self.ACCT / "cpuacct.usage").is_file() and os.access(self.ACCT, os.W_OK):
            group = self.ACCT / f"cooperbench-bench-{os.getpid()}"
            try:
                group.mkdir(exist_ok=True)
                (group / "cgroup.procs").write_text(str(os.getpid()))
                self.group, self.method = group, "cgroup v1 cpuacct (this process and every descendant)"
            except OSError:
                with contextlib.suppress(OSError):
                    group.rmdir()

    def now(self) -> float:
        if self.group is not None:
            return int((self.group / "cpuacct.usage").read_text()) / 1e9
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def close(self) -> None:
        if self.group is None:
            return
        with contextlib.suppress(OSError):
            (self.ACCT / "cgroup.procs").write_text(str(os.getpid()))
        deadline = time.monotonic() + 10
        while True:  # killed sandbox processes may still be exiting
            try:
                self.group.rmdir()
                return
            except OSError:
                if time.monotonic() > deadline:
                    print(f"note: {self.group} is still in use; remove it later", file=sys.stderr)
                    return
                time.sleep(0.05)


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def bench_creation(backend: Backend, image: str, run: RunLabels, samples: int) -> tuple[list[float], list[float]]:
    """Latencies of ``create_sandbox`` and of the sandbox's ``cleanup``."""
    times, cleanups = [], []
    for _ in range(samples):
        elapsed, box = timed(backend.create_sandbox, image, run=run, purpose="check")
        times.append(elapsed)
        cleanups.append(timed(box.cleanup)[0])
    return times, cleanups


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
    cpu = CpuMeter()
    report["cpu_measured_by"] = cpu.method
    try:
        first, image = timed(backend.resolve_image, task)
        report["resolve_image_first_s"] = round(first, 3)
        report["resolve_image_warm_ms"] = round(timed(backend.resolve_image, task)[0] * 1000, 2)
        backend.create_sandbox(image, run=run, purpose="check").cleanup()  # warm caches
        started = cpu.now()
        created, cleaned = bench_creation(backend, image, run, args.samples)
        report["create_sandbox"] = summary(created)
        report["cleanup"] = summary(cleaned)
        report["cpu_ms_per_create_and_cleanup"] = round((cpu.now() - started) * 1000 / args.samples, 2)
        box = backend.create_sandbox(image, run=run, purpose="check")
        try:
            bench_exec(box, 3)
            started = cpu.now()
            report["exec_true"] = summary(bench_exec(box, args.samples))
            report["cpu_ms_per_exec"] = round((cpu.now() - started) * 1000 / args.samples, 2)
        finally:
            box.cleanup()
        report["concurrent"] = bench_concurrent(backend, image, run, args.concurrency, args.commands)
    finally:
        backend.cleanup(run_name=run.run_name)
        cpu.close()

    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    concurrent = report["concurrent"]
    print(f"backend {report['backend']}, task {report['task']}")
    print(f"  resolve_image: first {report['resolve_image_first_s']} s, warm {report['resolve_image_warm_ms']} ms")
    for label, key in (
        ("create_sandbox (warm)", "create_sandbox"),
        ("cleanup", "cleanup"),
        ("exec('true') round trip", "exec_true"),
    ):
        fig = report[key]
        print(f"  {label:<24} p50 {fig['p50_ms']:>8.2f} ms   p95 {fig['p95_ms']:>8.2f} ms   (n={fig['n']})")
    print(
        f"  CPU: {report['cpu_ms_per_create_and_cleanup']} ms per creation + cleanup, "
        f"{report['cpu_ms_per_exec']} ms per exec ({report['cpu_measured_by']})"
    )
    print(
        f"  {concurrent['sandboxes']} concurrent sandboxes x {concurrent['commands_per_sandbox']} commands: "
        f"{concurrent['commands_per_s']} commands/s over {concurrent['wall_s']} s "
        f"(exec p50 {concurrent['exec_latency']['p50_ms']} ms, p95 {concurrent['exec_latency']['p95_ms']} ms; "
        "creation and cleanup included in the wall time)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
