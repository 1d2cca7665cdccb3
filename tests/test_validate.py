"""`cooperbench validate`: the gold patches through the whole pipeline, on a backend."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert "Gold pairs" in proc.stdout and "Features" in proc.stdout
    assert "textkit_task/1/f1_f2" in proc.stdout and "minicalc_task/2/f3_f4" in proc.stdout
    assert "OK: 16 pair(s) and 9 feature(s) validated." in proc.stdout


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


@pytest.mark.docker
def test_example_dataset_validates_on_docker(tmp_path):
    from cooperbench_backend_docker.testing import ensure_base_image

    config = tmp_path / "config.yaml"
    config.write_text(f"backend:\n  pull: false\n  build_args: {{BASE_IMAGE: '{ensure_base_image()}'}}\n")
    proc = validate("--dataset-dir", str(DATASET), "--backend", "docker", "--agent-config", str(config), timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: 16 pair(s) and 9 feature(s) validated." in proc.stdout
