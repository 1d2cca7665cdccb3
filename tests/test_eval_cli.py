"""`cooperbench eval` on a run written with --no-auto-eval, and again (skips), and with --force; and
re-grading one oracle run under both scoring policies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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
    ran = cli(
        "run", "-n", "later", "--agent", "oracle", "-s", str(three), "--no-auto-eval", "--policy", "paper", *common
    )
    assert ran.returncode == 0, ran.stderr
    pairs = sorted((tmp_path / "later" / "coop" / "minicalc_task" / "2").iterdir())
    assert [p.name for p in pairs] == ["f1_f2", "f1_f3", "f2_f3"]
    assert not any((p / "eval.json").exists() for p in pairs)
    assert json.loads((tmp_path / "later" / "summary.json").read_text())["pending_eval"] == 3
    assert json.loads((tmp_path / "later" / "config.json").read_text())["policy"] == "paper"

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
    assert "1 to evaluate under the paper policy (eval.json)" in forced.stdout

    # the same patches under the other policy: beside, not over, the run's own results
    upstream = cli("eval", "-n", "later", "--policy", "upstream", *common)
    assert upstream.returncode == 0, upstream.stderr
    assert "3 to evaluate under the upstream policy (eval.upstream.json)" in upstream.stdout
    regraded = {p.name: json.loads((p / "eval.upstream.json").read_text()) for p in pairs}
    assert {k: r["outcome"] for k, r in regraded.items()} == {
        "f1_f2": "merge_conflict", "f1_f3": "pass", "f2_f3": "pass"
    }  # fmt: skip
    assert all(json.loads((p / "eval.json").read_text())["policy"] == "paper" for p in pairs)
    summary = json.loads((tmp_path / "later" / "summary.json").read_text())
    assert summary["evaluation"]["policy"] == "paper" and summary["pass_rate"]["pass_rate"] == 1.0
    assert summary["evaluation"]["by_policy"]["upstream"]["pass_rate"]["passed"] == 2


@pytest.mark.timeout(1800)  # a 16-pair run, graded twice, through the CLI
def test_eval_policies_give_the_documented_pass_rates_on_one_oracle_run(tmp_path):
    """docs/outcomes.md: the example dataset's 16 gold pairs pass 87.5% under paper and 75.0% under upstream
    (its 12 pairs of features 1-4: 83.3% and 66.7%, as measured with upstream 0.0.29 on the same patches)."""
    common = ["--dataset-dir", str(DATASET), "--log-dir", str(tmp_path)]
    ran = cli("run", "-n", "gold", "--agent", "oracle", "--no-messaging", "--no-auto-eval", "-c", "2", *common)
    assert ran.returncode == 0, ran.stderr
    paper = cli("eval", "-n", "gold", "--policy", "paper", "-c", "2", *common)
    assert paper.returncode == 0, paper.stderr
    assert "pass rate (paper) 87.5% (14/16 pairs" in paper.stdout
    upstream = cli("eval", "-n", "gold", "--policy", "upstream", "-c", "2", *common)
    assert upstream.returncode == 0, upstream.stderr
    assert "pass rate (upstream) 75.0% (12/16 pairs" in upstream.stdout
    run = tmp_path / "gold"
    assert len(list(run.glob("coop/*/*/*/eval.json"))) == 16  # upstream: the run's own policy
    assert len(list(run.glob("coop/*/*/*/eval.paper.json"))) == 16
    summary = json.loads((run / "summary.json").read_text())
    assert summary["evaluation"]["policy"] == "upstream"
    by_policy = summary["evaluation"]["by_policy"]
    assert by_policy["paper"]["pass_rate"]["pass_rate"] == 0.875
    assert by_policy["upstream"]["pass_rate"]["pass_rate"] == 0.75
    # the four conflicting gold pairs: merged by the union driver under paper (two then pass),
    # graded on the lead's patch alone under upstream (never implementing its partner's feature)
    assert by_policy["paper"]["merge"] == {"clean": 12, "union_rescued": 4}
    assert by_policy["upstream"]["merge"] == {"clean": 12, "conflicts": 4}
    first_four = {"paper": [], "upstream": []}
    for pdir in run.glob("coop/*/*/*"):
        if "f5" in pdir.name:
            continue
        first_four["paper"].append(json.loads((pdir / "eval.paper.json").read_text())["outcome"] == "pass")
        first_four["upstream"].append(json.loads((pdir / "eval.json").read_text())["outcome"] == "pass")
    assert {k: (sum(v), len(v)) for k, v in first_four.items()} == {"paper": (10, 12), "upstream": (8, 12)}


def test_an_unknown_policy_is_a_clear_error(tmp_path):
    (tmp_path / "some_run").mkdir()
    proc = cli("eval", "-n", "some_run", "--policy", "strict", "--dataset-dir", str(DATASET),
               "--log-dir", str(tmp_path))  # fmt: skip
    assert proc.returncode == 2 and "unknown scoring policy 'strict'" in proc.stderr and "Traceback" not in proc.stderr


def test_eval_of_an_unknown_run_lists_the_runs(tmp_path):
    (tmp_path / "some_run").mkdir()
    proc = cli("eval", "-n", "missing", "--dataset-dir", str(DATASET), "--log-dir", str(tmp_path))
    assert proc.returncode == 2
    assert "missing" in proc.stderr and "some_run" in proc.stderr and "Traceback" not in proc.stderr


def test_sigterm_stops_eval_removes_its_sandboxes_and_the_same_command_evaluates_the_rest(tmp_path):
    from cooperbench.backends.local.backend import LocalBackend
    from cooperbench.testing.waiting import wait_for

    env = {**os.environ, "COLUMNS": "200", "COOPERBENCH_CACHE_DIR": str(tmp_path / "cache")}
    common = ["--dataset-dir", str(DATASET), "--log-dir", str(tmp_path / "logs"), "-r", "minicalc_task"]
    ran = subprocess.run([sys.executable, "-m", "cooperbench", "run", "-n", "later", "--agent", "oracle",
                          "--no-messaging", "--no-auto-eval", *common], capture_output=True, text=True, env=env,
                         timeout=600)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    pairs = sorted((tmp_path / "logs" / "later" / "coop" / "minicalc_task" / "2").iterdir())
    assert len(pairs) == 10
    out = tmp_path / "eval.txt"
    with out.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "cooperbench", "eval", "-n", "later", "-c", "1", *common],
                                env=env, stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(lambda: proc.poll() is not None or any((p / "eval.json").exists() for p in pairs), "an eval.json", 300)
        assert proc.poll() is None, out.read_text()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    left = backend.resources("later")
    backend.cleanup(run_name="later")
    text = out.read_text()
    assert proc.returncode == 143, text
    assert "Evaluation of later interrupted" in text and "Traceback" not in text
    assert left == [], left
    done = [p for p in pairs if (p / "eval.json").exists()]
    assert 1 <= len(done) < 10, text
    again = subprocess.run([sys.executable, "-m", "cooperbench", "eval", "-n", "later", *common], capture_output=True,
                           text=True, env=env, timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    outcomes = [json.loads((p / "eval.json").read_text())["outcome"] for p in pairs]
    assert "infra_error" not in outcomes and outcomes.count("pass") >= 1, outcomes
