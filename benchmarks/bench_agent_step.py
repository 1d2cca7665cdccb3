#!/usr/bin/env python3
"""The mini_swe_agent harness's own time per agent step, on the ``local`` backend.

A step is one model call plus the command it asked for. This measures everything else the
agent does in a step: preparing the messages, parsing the answer, pricing and counting
tokens, splitting ``send_message`` out of the command, checking the inbox, rendering the
observation, logging, and saving the trajectory. The model is the LLM test server on
localhost; the time inside ``litellm.completion`` (the whole client call) and inside the
sandbox's ``execute`` is measured and subtracted. Target: <= 20 ms per step::

    python benchmarks/bench_agent_step.py                  # 40 steps, messaging on
    python benchmarks/bench_agent_step.py --steps 100 --output-kb 8 --json
    python benchmarks/bench_agent_step.py --check          # exit 1 when the mean is over the target
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cooperbench.backends import RunLabels
from cooperbench.backends._context import ActiveRun, bind_run
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.backends.local import LocalBackend
from cooperbench.dataset import load_tasks
from cooperbench.testing.llm_server import LLMTestServer, bash, forever

TARGET_MS = 20.0
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "dataset"


class Clock:
    """Wall time spent inside wrapped callables, per step."""

    def __init__(self) -> None:
        self.inside = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.inside += time.perf_counter() - started

        return timed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--output-kb", type=float, default=2.0, help="size of each command's output")
    parser.add_argument("--no-messaging", action="store_true", help="run solo (no inbox checks)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when the mean overhead exceeds {TARGET_MS} ms")
    args = parser.parse_args()

    # Import after parsing so --help stays fast; the agent modules import LiteLLM.
    from cooperbench_agent_miniswe import agent as agent_module
    from cooperbench_agent_miniswe import llm as llm_module
    from cooperbench_agent_miniswe.runner import MiniSweAgentRunner

    tasks = load_tasks(EXAMPLES)
    if not tasks:
        sys.exit(f"no example dataset at {EXAMPLES}")
    cache = Path(tempfile.mkdtemp(prefix="bench-agent-step-"))
    backend = LocalBackend(cache_dir=cache)
    image = backend.resolve_image(tasks[0])

    # Time outside the model's HTTP call and the sandbox command, per step (benchmark-only wrappers).
    excluded = Clock()
    step_times: list[float] = []
    overheads: list[float] = []
    original_completion = llm_module.litellm.completion
    llm_module.litellm.completion = excluded.wrap(original_completion)
    SandboxEnvironment.execute = excluded.wrap(SandboxEnvironment.execute)  # type: ignore[method-assign]
    original_step = agent_module.CooperbenchAgent.step
    original_save = agent_module.CooperbenchAgent.save

    def timed_step(self: Any) -> Any:
        excluded.inside = 0.0
        started = time.perf_counter()
        try:
            return original_step(self)
        finally:
            step_times.append(time.perf_counter() - started)
            overheads.append(step_times[-1] - excluded.inside)

    def timed_save(self: Any, path: Any, *extra: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_save(self, path, *extra)
        finally:
            if overheads:  # the per-step save belongs to the step it follows
                overheads[-1] += time.perf_counter() - started

    agent_module.CooperbenchAgent.step = timed_step  # type: ignore[method-assign]
    agent_module.CooperbenchAgent.save = timed_save  # type: ignore[method-assign]

    lines = max(1, int(args.output_kb * 1024 / 64))
    command = f"for i in $(seq {lines}); do printf '%063d\\n' $i; done"
    agents = ["agent1"] if args.no_messaging else ["agent1", "agent2"]
    script = [bash(command)] * (args.steps - 1) + [bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")]
    with tempfile.TemporaryDirectory() as log_dir, LLMTestServer([*script, forever(bash("true"))]) as server:
        config = {
            "agent": {"check_model": False, "step_limit": args.steps + 5, "compaction": "off"},
            "model": {
                "api_base": server.base_url,
                "api_key": "x",
                "input_cost_per_token": 1e-6,
                "output_cost_per_token": 2e-6,
            },
        }
        run = ActiveRun(backend=backend, labels=RunLabels("bench-agent-step"), backend_name="local")
        with bind_run(run):
            started = time.perf_counter()
            result = MiniSweAgentRunner().run(
                "Benchmark task.",
                image,
                agent_id="agent1",
                model_name="openai/test-model",
                agents=agents,
                comm_url=f"embedded://bench-{uuid.uuid4().hex[:8]}",
                config=config,
                log_dir=log_dir,
            )
            total = time.perf_counter() - started
    backend.cleanup(run_name="bench-agent-step")

    warm = overheads[1:] or overheads  # the first step pays LiteLLM's lazy imports once per process
    report: dict[str, Any] = {
        "steps": result.steps,
        "status": result.status,
        "output_bytes_per_step": lines * 64,
        "messaging": not args.no_messaging,
        "overhead_ms": {
            "mean": round(statistics.fmean(warm) * 1000, 2),
            "p50": round(percentile(warm, 0.5) * 1000, 2),
            "p95": round(percentile(warm, 0.95) * 1000, 2),
            "max": round(max(warm) * 1000, 2),
            "first_step": round(overheads[0] * 1000, 2),
        },
        "step_wall_ms_mean": round(statistics.fmean(step_times[1:] or step_times) * 1000, 2),
        "run_wall_s": round(total, 2),
        "target_ms": TARGET_MS,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        o = report["overhead_ms"]
        print(f"mini_swe_agent harness overhead per step ({result.steps} steps, {lines * 64} B output, local backend):")
        print(
            f"  mean {o['mean']} ms  p50 {o['p50']} ms  p95 {o['p95']} ms  max {o['max']} ms (target <= {TARGET_MS} ms)"
        )
        print(
            f"  first step {o['first_step']} ms (one-off lazy imports); "
            f"whole step with model and command: {report['step_wall_ms_mean']} ms"
        )
    return 1 if args.check and report["overhead_ms"]["mean"] > TARGET_MS else 0


if __name__ == "__main__":
    sys.exit(main())
