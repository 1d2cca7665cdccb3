"""Synthetic run folders in the layout ``cooperbench run`` writes, for testing and measuring reports.

The files look like a real benchmark's: mini-swe-agent trajectories with timestamps and
model responses, ledgers of messages with steps, patches, merge records, test output with
failing tests, and costs. Everything is drawn from a seeded generator, so the same arguments
give the same folders.

Example::

    from cooperbench.testing.report_logs import write_synthetic_runs

    paths = write_synthetic_runs(tmp_path / "logs", pairs=652, runs=("coop-1", "coop-2", "solo"))
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["write_synthetic_runs"]

_OUTCOMES = (
    ("pass", 0.42),
    ("fail_tests", 0.33),
    ("merge_conflict", 0.08),
    ("no_patch", 0.05),
    ("agent_error", 0.04),
    ("timeout", 0.03),
    ("infra_error", 0.03),
    ("apply_failed", 0.02),
)
_ATTRIBUTIONS = ("own_implementation_failed", "integration_failure", "partner_breakage")
_T0 = 1_790_000_000.0


def _patch(rng: random.Random, name: str, lines: int) -> str:
    body = [
        f"diff --git a/src/{name}.py b/src/{name}.py",
        "index 1111111..2222222 100644",
        f"--- a/src/{name}.py",
        f"+++ b/src/{name}.py",
    ]
    for hunk in range(max(1, lines // 12)):
        body.append(f"@@ -{hunk * 20 + 1},6 +{hunk * 20 + 1},12 @@ def helper_{hunk}(value):")
        for i in range(12):
            sign = rng.choice(("+", "+", " ", "-"))
            body.append(f"{sign}    result_{i} = transform_{rng.randrange(99)}(value, option={rng.random():.3f})")
    return "\n".join(body) + "\n"


def _test_output(rng: random.Random, feature: int, passed: bool) -> tuple[str, int, int]:
    n = rng.randint(6, 30)
    failed = 0 if passed else rng.randint(1, max(1, n // 3))
    lines = [
        "============================= test session starts ==============================",
        f"collected {n} items",
        "",
    ]
    for i in range(n):
        status = "FAILED" if i < failed else "PASSED"
        lines.append(f"tests/test_feature{feature}.py::test_case_{i} {status}")
    lines.append("=================================== FAILURES ===================================")
    for i in range(failed):
        lines += [f"___ test_case_{i} ___", "    assert compute(3) == 9", "E   AssertionError: assert 8 == 9", ""]
    lines.append("=========================== short test summary info ============================")
    lines += [f"FAILED tests/test_feature{feature}.py::test_case_{i} - AssertionError" for i in range(failed)]
    lines.append(f"========================= {failed} failed, {n - failed} passed in 1.23s =========================")
    return "\n".join(lines) + "\n", n - failed, failed


def _trajectory(rng: random.Random, agent_id: str, start: float, steps: int, teammate: str | None) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": f"You are {agent_id}, a software engineer."},
        {"role": "user", "content": "# Your feature\n" + "Implement the feature described here. " * 40},
    ]
    t = start
    for step in range(1, steps + 1):
        t += rng.uniform(1.0, 12.0)
        if step == steps:
            command = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
        elif teammate and step in (1, steps // 2):
            command = (
                f"send_message {teammate} <<'MSG'\nI am changing src/module_{step}.py; please keep helper() as is.\nMSG"
            )
        else:
            command = rng.choice(
                (
                    "grep -rn helper src/ | head -20",
                    "sed -n 1,80p src/module.py",
                    "python -m pytest -q tests/",
                    "git diff --stat",
                )
            )
        response = {
            "id": f"chatcmpl-{step}",
            "choices": [
                {
                    "message": {
                        "content": "Reasoning. " * 30,
                        "tool_calls": [{"function": {"name": "bash", "arguments": json.dumps({"command": command})}}],
                    }
                }
            ],
            "usage": {"prompt_tokens": 4000 + 300 * step, "completion_tokens": 150},
        }
        messages.append(
            {
                "role": "assistant",
                "content": "Reasoning. " * 30,
                "extra": {"actions": [{"command": command}], "response": response, "cost": 0.004, "timestamp": t},
            }
        )
        output = "\n".join(f"src/module.py:{i}: def helper_{i}(value):" for i in range(rng.randint(2, 30)))
        messages.append(
            {
                "role": "tool",
                "content": f"<returncode>0</returncode>\n<output>\n{output}\n</output>",
                "extra": {"raw_output": output, "returncode": 0, "timestamp": t + rng.uniform(0.1, 3.0)},
            }
        )
    return {"trajectory_format": "mini-swe-agent-1.1", "info": {"exit_status": "Submitted"}, "messages": messages}


def _write(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) if not isinstance(value, str) else value, encoding="utf-8")


def _pair(
    rng: random.Random, pdir: Path, run: str, setting: str, repo: str, task: int, features: tuple[int, int]
) -> None:
    pdir.mkdir(parents=True, exist_ok=True)
    outcome = rng.choices([o for o, _ in _OUTCOMES], weights=[w for _, w in _OUTCOMES])[0]
    agent_ids = ["solo"] if setting == "solo" else ["agent1", "agent2"]
    start = _T0 + rng.uniform(0, 86_400)
    agents: dict[str, Any] = {}
    totals = {
        "cost": 0.0,
        "steps": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
    }
    ledger: list[dict[str, Any]] = []
    for index, agent_id in enumerate(agent_ids):
        steps = rng.randint(8, 40)
        teammate = None if setting == "solo" else agent_ids[1 - index]
        trajectory = _trajectory(rng, agent_id, start, steps, teammate)
        _write(pdir / f"{agent_id}_traj.json", trajectory)
        patch = "" if outcome == "no_patch" else _patch(rng, f"{repo}_{features[min(index, 1)]}", rng.randint(20, 160))
        _write(pdir / f"{agent_id}.patch", patch)
        cost = round(steps * rng.uniform(0.003, 0.02), 6)
        tokens = {
            "input_tokens": steps * rng.randint(3000, 9000),
            "output_tokens": steps * rng.randint(100, 400),
            "cache_read_tokens": steps * 1000,
            "cache_write_tokens": 0,
        }
        agents[agent_id] = {
            "features": list(features) if setting == "solo" else [features[index]],
            "status": "Error" if outcome == "agent_error" else "Submitted",
            "error": "Traceback: the agent crashed" if outcome == "agent_error" else None,
            "error_kind": None,
            "duration_s": round(steps * rng.uniform(3, 12), 3),
            "patch_file": f"{agent_id}.patch",
            "patch_bytes": len(patch),
            "cost": cost,
            "steps": steps,
            "sent_messages": 2 if teammate else 0,
            **tokens,
        }
        totals["cost"] += cost
        totals["steps"] += steps
        for k, v in tokens.items():
            totals[k] += v
        if teammate:
            sends = [
                m
                for m in trajectory["messages"]
                if m["role"] == "assistant" and "send_message" in m["extra"]["actions"][0]["command"]
            ]
            for send in sends:
                step = trajectory["messages"].index(send) // 2
                sent = send["extra"]["timestamp"]
                ledger.append(
                    {
                        "from": agent_id,
                        "to": teammate,
                        "text": "I am changing a module; please keep helper() as is.",
                        "sent_at": sent,
                        "delivered_at": sent + rng.uniform(1, 20),
                        "sender_step": step,
                        "receiver_step": step + rng.randint(1, 3),
                        "broadcast": False,
                    }
                )
    ledger.sort(key=lambda m: m["sent_at"])
    from datetime import datetime, timezone

    for i, m in enumerate(ledger, start=1):
        m["id"] = i
        for key in ("sent_at", "delivered_at"):
            m[key] = datetime.fromtimestamp(m[key], tz=timezone.utc).isoformat(timespec="milliseconds")
    if setting == "coop":
        _write(pdir / "conversation.json", ledger)
    duration = max(a["duration_s"] for a in agents.values())
    _write(
        pdir / "result.json",
        {
            "repo": repo,
            "task_id": task,
            "features": list(features),
            "setting": setting,
            "run_name": run,
            "agent": "mini_swe_agent",
            "outcome": "pending_eval" if outcome != "infra_error" else "infra_error",
            "error": None,
            "agents": agents,
            "totals": totals,
            "messages": len(ledger),
            "attempt": 1,
            "duration_s": duration,
        },
    )
    if outcome == "infra_error":
        return
    feature_results = {}
    for i, feature in enumerate(features, start=1):
        passed = outcome == "pass" or (outcome == "fail_tests" and i == 2 and rng.random() < 0.5)
        output, n_pass, n_fail = _test_output(rng, feature, passed)
        feature_results[f"feature{i}"] = {
            "feature_id": feature,
            "passed": passed,
            "ran": True,
            "exit_code": 0 if passed else 1,
            "tests_passed": n_pass,
            "tests_failed": n_fail,
            "tests_skipped": 0,
            "test_output": output,
            "timed_out": outcome == "timeout",
        }
    conflict = outcome == "merge_conflict"
    evaluation: dict[str, Any] = {
        "repo": repo,
        "task_id": task,
        "features": list(features),
        "setting": setting,
        "evaluator": "merge",
        "policy": "upstream",
        "apply_status": {
            a: ("skipped" if outcome == "no_patch" else "failed" if outcome == "apply_failed" else "applied")
            for a in agent_ids
        },
        "merge": None
        if setting == "solo"
        else {
            "status": "conflicts" if conflict or rng.random() < 0.2 else "clean",
            "strategy": "union" if conflict else "naive",
            "union_status": "conflicts" if conflict else None,
            "diff": _patch(rng, "merged", 60),
            "conflict_files": ["src/module.py"] if conflict else [],
        },
        **feature_results,
        "both_passed": outcome == "pass",
        "error": None,
        "outcome": outcome,
        "eval_duration": rng.uniform(10, 60),
        "attribution": {
            "category": rng.choice(_ATTRIBUTIONS)
            if outcome == "fail_tests" and setting == "coop"
            else ("merge_conflict" if conflict else None),
            "agents": {},
        },
    }
    _write(pdir / "eval.json", evaluation)


def write_synthetic_runs(
    logs_dir: str | Path,
    *,
    pairs: int = 652,
    runs: Sequence[tuple[str, str]] = (("coop-1", "coop"), ("coop-2", "coop"), ("solo", "solo")),
    seed: int = 0,
) -> list[Path]:
    """Write run folders of ``pairs`` pairs each (the same pairs in every run).

    Args:
        logs_dir: where the run folders go.
        pairs: pairs per run (652 is the public CooperBench dataset's count).
        runs: ``(run name, setting)`` of each run; runs of the same setting share a configuration.
        seed: the generator's seed.

    Returns:
        The run folders written.
    """
    rng = random.Random(seed)
    repos = [f"repo{i:02d}_task" for i in range(12)]
    chosen: list[tuple[str, int, tuple[int, int]]] = []
    task = 0
    while len(chosen) < pairs:
        task += 1
        repo = repos[task % len(repos)]
        n_features = rng.randint(3, 7)
        for a in range(1, n_features + 1):
            for b in range(a + 1, n_features + 1):
                if len(chosen) < pairs:
                    chosen.append((repo, task, (a, b)))
    written = []
    for name, setting in runs:
        root = Path(logs_dir) / name
        for repo, task_id, features in chosen:
            pdir = root / setting / repo / str(task_id) / f"f{features[0]}_f{features[1]}"
            _pair(rng, pdir, name, setting, repo, task_id, features)
        config = {
            "run_name": name,
            "setting": setting,
            "agent": "mini_swe_agent",
            "model": "openai/synthetic",
            "backend": "local",
            "git_enabled": False,
            "messaging_enabled": setting == "coop",
            "config": {},
            "pairs": pairs,
            "policy": "upstream",
        }
        _write(root / "config.json", config)
        written.append(root)
    return written
