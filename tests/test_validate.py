"""`cooperbench validate`: the gold patches through the whole pipeline, on a backend."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cooperbench.testing.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "examples" / "dataset"

TRIVIAL_TESTS_PATCH = """\
diff --git a/tests/test_trivial.py b/tests/test_trivial.py
new file mode 100644
index 0000000..4f5e2b1
--- /dev/null
+++ b/tests/test_trivial.py
@@ -0,0 +1,2 @@
+def test_always_passes():
+    assert True
"""


RANDOM_RUNNER = bytes(random.Random(7).randrange(1, 256) for _ in range(4096))  # no NUL: bash reads it

NO_TESTS_RUNNER = """#!/bin/bash
# collects nothing: every test is deselected
cd /workspace/repo && git apply /patches/$1 && { [ -z "$2" ] || git apply /patches/$2; }
python3 -m pytest -q -k a_name_no_test_has
"""

# passes with the feature's patch, crashes (no test runs) without it
CRASH_WITHOUT_PATCH_RUNNER = """#!/bin/bash
[ -n "$2" ] || { echo "runner: no feature patch given" >&2; exit 2; }
cd /workspace/repo && git apply /patches/$1 && git apply /patches/$2 && python3 -m pytest -q
"""


def validate(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cooperbench", "validate", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_example_dataset_validates_on_local():
    proc = validate("--dataset-dir", str(DATASET))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Gold pairs (upstream policy)" in proc.stdout and "Features" in proc.stdout
    assert "textkit_task/1/f1_f2" in proc.stdout and "minicalc_task/2/f3_f4" in proc.stdout
    assert "Features: gradeable 9" in proc.stdout
    assert "OK: 16 pair(s) and 9 feature(s) validated." in proc.stdout
    # the oracle run lived in a temporary folder that is gone: it is never named
    assert "cooperbench-validate-" not in proc.stdout + proc.stderr and "Kept in" not in proc.stdout


def test_a_broken_gold_patch_fails_validation_and_names_the_pair(tmp_path):
    shutil.copytree(DATASET, tmp_path / "ds")
    patch = tmp_path / "ds" / "textkit_task" / "task1" / "feature2" / "feature.patch"
    text = patch.read_text()
    # Change a context line so the patch no longer applies to the base commit.
    lines = text.splitlines(keepends=True)
    i = next(n for n, line in enumerate(lines) if line.startswith(" ") and line.strip())
    lines[i] = " # this line is not in the base commit\n"
    patch.write_text("".join(lines))
    proc = validate("--dataset-dir", str(tmp_path / "ds"), "-r", "textkit_task", "-f", "1,2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "problem" in proc.stdout and "textkit_task/1/f1_f2" in proc.stdout.split("problem")[-1]


def test_tests_that_pass_without_the_feature_fail_validation(tmp_path):
    shutil.copytree(DATASET, tmp_path / "ds")
    (tmp_path / "ds" / "minicalc_task" / "task2" / "feature1" / "tests.patch").write_text(TRIVIAL_TESTS_PATCH)
    proc = validate("--dataset-dir", str(tmp_path / "ds"), "-r", "minicalc_task", "-f", "1,2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "minicalc_task/2 feature 1: its tests pass without its patch" in proc.stdout


@pytest.mark.parametrize(
    ("runner", "expected"),
    [
        (RANDOM_RUNNER, "no test ran with the gold patch"),
        (NO_TESTS_RUNNER.encode(), "no test ran with the gold patch"),
        (CRASH_WITHOUT_PATCH_RUNNER.encode(), "no test ran without the patch"),
    ],
    ids=["random-bytes", "zero-tests", "crashes-without-the-patch"],
)
def test_a_runner_that_runs_no_test_fails_validation_even_on_a_conflicting_pair(tmp_path, runner, expected):
    shutil.copytree(DATASET, tmp_path / "ds")
    (tmp_path / "ds" / "textkit_task" / "task1" / "runner.sh").write_bytes(runner)
    # f1 and f2 conflict: no clean merge whose failing tests would have given the runner away
    proc = validate("--dataset-dir", str(tmp_path / "ds"), "-r", "textkit_task", "-f", "1,2", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    verdicts = {row["feature"]: row["verdict"] for row in report["features"]}
    assert verdicts == {1: "tests_did_not_run", 2: "tests_did_not_run"}
    assert any(f"textkit_task/1 feature 1: its tests did not run: {expected}" in p for p in report["problems"])
    assert report["ok"] is False and report["verdicts"]["tests_did_not_run"] == 2


def test_validate_keeps_a_gradeability_report_and_resumes(tmp_path):
    logs = tmp_path / "logs"
    args = ("--dataset-dir", str(DATASET), "-r", "minicalc_task", "-f", "2,4", "--log-dir", str(logs), "-c", "2")
    first = validate(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    kept = logs / "validate-local"
    assert f"Kept in {kept}" in first.stdout
    saved = json.loads((kept / "gradeability.json").read_text())
    assert saved["policy"] == "upstream" and [(r["task"], r["feature"]) for r in saved["features"]] == [
        ("minicalc_task/2", 2),
        ("minicalc_task/2", 4),
    ]
    assert all(r["verdict"] == "gradeable" and r["gold"]["passed"] and r["base"]["tests_failed"] > 0
               for r in saved["features"])  # fmt: skip
    evaluated = (kept / "coop" / "minicalc_task" / "2" / "f2_f4" / "eval.json").stat().st_mtime_ns
    again = validate(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 already done" in again.stdout  # the oracle pair is not run again
    assert (kept / "coop" / "minicalc_task" / "2" / "f2_f4" / "eval.json").stat().st_mtime_ns == evaluated
    assert json.loads((kept / "gradeability.json").read_text()) == saved  # nor are the features checked again


@pytest.mark.docker
def test_example_dataset_validates_on_docker(tmp_path):
    from cooperbench_backend_docker.testing import ensure_base_image

    config = tmp_path / "config.yaml"
    config.write_text(f"backend:\n  pull: false\n  build_args: {{BASE_IMAGE: '{ensure_base_image()}'}}\n")
    proc = validate("--dataset-dir", str(DATASET), "--backend", "docker", "--agent-config", str(config), timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: 16 pair(s) and 9 feature(s) validated." in proc.stdout


def _interrupted_validate(tmp_path: Path, signum: signal.Signals, ready) -> tuple[subprocess.Popen, str, list[str]]:
    """Start `validate` on minicalc (one pair at a time), send ``signum`` once ``ready(logs)`` holds.

    A cache folder of its own keeps the sandboxes of other tests' `validate-local` out of the count.
    Returns the ended process, its output and what the local backend still holds of the run.
    """
    from cooperbench.backends.local.backend import LocalBackend

    env = {**os.environ, "COLUMNS": "200", "COOPERBENCH_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out.txt"
    logs = tmp_path / "logs"
    command = [sys.executable, "-m", "cooperbench", "validate", "--dataset-dir", str(DATASET), "-r", "minicalc_task"]
    with out.open("w") as sink:
        proc = subprocess.Popen([*command, "--log-dir", str(logs), "-c", "1"], env=env, stdout=sink,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(lambda: proc.poll() is not None or ready(logs / "validate-local"), "the moment to interrupt", 300)
        assert proc.poll() is None, out.read_text()
        proc.send_signal(signum)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    left = backend.resources("validate-local")
    backend.cleanup(run_name="validate-local")
    return proc, out.read_text(), left


def test_sigterm_while_gold_pairs_run_stops_validate_without_a_verdict(tmp_path):
    proc, text, left = _interrupted_validate(
        tmp_path, signal.SIGTERM, lambda run: any((run / "coop").rglob("result.json"))
    )
    assert proc.returncode == 143, text
    assert "Validation interrupted: no verdict on the dataset or the backend" in text
    assert "the same command resumes" in text and "Traceback" not in text
    # nothing the interruption cut short is reported as a problem of the dataset
    assert "problem(s)" not in text and "Gold pairs" not in text and "OK:" not in text
    assert left == [], left


def test_ctrl_c_while_features_are_checked_saves_no_cut_short_verdict_and_the_same_command_resumes(tmp_path):
    grades = tmp_path / "logs" / "validate-local" / "gradeability.json"
    proc, text, left = _interrupted_validate(tmp_path, signal.SIGINT, lambda run: grades.exists())
    assert proc.returncode == 130, text
    assert "Validation interrupted" in text and "problem(s)" not in text and "Traceback" not in text
    assert left == [], left
    saved = json.loads(grades.read_text())["features"]
    assert 1 <= len(saved) < 5, saved  # the checks that finished, and only those
    assert all(row["verdict"] == "gradeable" for row in saved), saved
    again = validate("--dataset-dir", str(DATASET), "-r", "minicalc_task", "--log-dir", str(tmp_path / "logs"),
                     "-c", "1")  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "OK: 10 pair(s) and 5 feature(s) validated." in again.stdout
    final = {(r["task"], r["feature"]): r for r in json.loads(grades.read_text())["features"]}
    assert all(final[(r["task"], r["feature"])] == r for r in saved)  # checked once, not again
