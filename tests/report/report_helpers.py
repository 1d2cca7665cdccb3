"""Hand-written run folders with known numbers, for the report tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_pair(
    run_dir: Path,
    setting: str,
    pair: str,
    outcome: str,
    *,
    repo: str = "demo_task",
    task: int = 1,
    cost: float = 0.1,
    repeat: int | None = None,
    messages: list[dict[str, Any]] | None = None,
    patch: str = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-old\n+new\n",
    attribution: str | None = None,
    trajectory: Any = None,
) -> Path:
    """One pair folder (``repeat-<k>/`` when ``repeat``) with result.json, eval.json (unless infra), patches, ledger."""
    pdir = run_dir / setting / repo / str(task) / pair
    if repeat is not None:
        pdir = pdir / f"repeat-{repeat}"
    pdir.mkdir(parents=True, exist_ok=True)
    features = [int(p[1:]) for p in pair.split("_")]
    agents = ["solo"] if setting == "solo" else [f"agent{i + 1}" for i in range(len(features))]
    per_agent = cost / len(agents)
    result = {
        "repo": repo,
        "task_id": task,
        "features": features,
        "setting": setting,
        "outcome": "infra_error" if outcome == "infra_error" else "pending_eval",
        "agents": {
            a: {"features": features if a == "solo" else [features[i]], "status": "Submitted", "cost": per_agent,
                "steps": 3, "input_tokens": 100, "output_tokens": 10, "duration_s": 2.0, "patch_file": f"{a}.patch",
                "sent_messages": 0}
            for i, a in enumerate(agents)
        },
        "totals": {"cost": cost, "steps": 3 * len(agents), "input_tokens": 100 * len(agents),
                   "output_tokens": 10 * len(agents), "cache_read_tokens": 0, "cache_write_tokens": 0},
        "messages": len(messages or []),
        "duration_s": 4.0,
        **({"repeat": repeat} if repeat is not None else {}),
    }  # fmt: skip
    (pdir / "result.json").write_text(json.dumps(result))
    for a in agents:
        (pdir / f"{a}.patch").write_text(patch)
        if trajectory is not None:
            (pdir / f"{a}_traj.json").write_text(json.dumps(trajectory))
    (pdir / "conversation.json").write_text(json.dumps(messages or []))
    if outcome != "infra_error":
        passed = outcome == "pass"
        evaluation = {
            "repo": repo, "task_id": task, "features": features, "setting": setting, "policy": "upstream",
            "apply_status": {a: "applied" for a in agents},
            "merge": None if setting == "solo" else {"status": "clean", "strategy": "naive", "diff": patch},
            **{f"feature{i + 1}": _feature(f, passed) for i, f in enumerate(features)},
            "both_passed": passed, "error": None, "outcome": outcome,
            "attribution": {"category": attribution, "agents": {}} if attribution else None,
        }  # fmt: skip
        (pdir / "eval.json").write_text(json.dumps(evaluation))
    return pdir


def _feature(feature: int, passed: bool) -> dict[str, Any]:
    failing = "" if passed else f"FAILED tests/test_{feature}.py::test_it - assert 1 == 2\n"
    return {"feature_id": feature, "passed": passed, "tests_passed": 3, "tests_failed": 0 if passed else 1,
            "test_output": failing}  # fmt: skip


def write_config(run_dir: Path, setting: str, **extra: Any) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"run_name": run_dir.name, "setting": setting, "agent": "oracle", "model": "m", "backend": "local",
              "git_enabled": False, "messaging_enabled": True, "config": {}, **extra}  # fmt: skip
    (run_dir / "config.json").write_text(json.dumps(config))


def write_broken_and_empty_runs(root: Path) -> tuple[Path, Path]:
    """A run whose eval.json and a trajectory are corrupt, and a run without any pair."""
    broken = root / "broken"
    write_config(broken, "coop")
    pdir = write_pair(broken, "coop", "f1_f2", "pass")
    (pdir / "eval.json").write_text("{ not json")
    (pdir / "agent1_traj.json").write_text("[1, 2")
    (pdir / "conversation.json").write_text("")
    empty = root / "empty"
    write_config(empty, "solo")
    return broken, empty
