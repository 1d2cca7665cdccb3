"""`cooperbench eval` on a run written with --no-auto-eval, and again (skips), and with --force."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "examples" / "dataset"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cooperbench", *args], capture_output=True, text=True, timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_eval_evaluates_a_run_then_skips_it_then_forces(tmp_path):
    common = ["--dataset-dir", str(DATASET), "--log-dir", str(tmp_path)]
    three = tmp_path / "three.json"  # the three pairs among minicalc's f1, f2, f3
    three.write_text(
        json.dumps({"tasks": [{"repo": "minicalc_task", "task_id": 2, "pairs": [[1, 2], [1, 3], [2, 3]]}]})
    )
    ran = cli("run", "-n", "later", "--agent", "oracle", "-s", str(three), "--no-auto-eval", *common)
    assert ran.returncode == 0, ran.stderr
    pairs = sorted((tmp_path / "later" / "coop" / "minicalc_task" / "2").iterdir())
    assert [p.name for p in pairs] == ["f1_f2", "f1_f3", "f2_f3"]
    assert not any((p / "eval.json").exists() for p in pairs)
    assert json.loads((tmp_path / "later" / "summary.json").read_text())["pending_eval"] == 3

    first = cli("eval", "-n", "later", "-c", "2", *common)
    assert first.returncode == 0, first.stderr
    assert all(json.loads((p / "eval.json").read_text())["outcome"] == "pass" for p in pairs)
    assert "minicalc_task/2" in first.stdout
    summary = json.loads((tmp_path / "later" / "summary.json").read_text())
    assert summary["outcomes"] == {"pass": 3} and summary["pass_rate"]["pass_rate"] == 1.0
    assert summary["evaluation"]["pairs"] == 3

    stamps = {p.name: json.loads((p / "eval.json").read_text())["evaluated_at"] for p in pairs}
    again = cli("eval", "-n", "later", *common)
    assert again.returncode == 0, again.stderr
    assert {p.name: json.loads((p / "eval.json").read_text())["evaluated_at"] for p in pairs} == stamps

    forced = cli("eval", "-n", "later", "-f", "1,2", "--force", *common)
    assert forced.returncode == 0, forced.stderr
    assert "1 to evaluate" in forced.stdout


def test_eval_of_an_unknown_run_lists_the_runs(tmp_path):
    (tmp_path / "some_run").mkdir()
    proc = cli("eval", "-n", "missing", "--dataset-dir", str(DATASET), "--log-dir", str(tmp_path))
    assert proc.returncode == 2
    assert "missing" in proc.stderr and "some_run" in proc.stderr and "Traceback" not in proc.stderr
