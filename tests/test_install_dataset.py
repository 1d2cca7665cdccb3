"""examples/dataset-install: a task whose runner.sh installs like the public Python tasks, on local."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "examples" / "dataset-install"


def test_validate_passes_and_unchanged_installs_are_replayed(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    done = subprocess.run(
        [sys.executable, "-m", "cooperbench", "validate", "--dataset-dir", str(DATASET), "--log-dir", str(logs)],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "COLUMNS": "200", "COOPERBENCH_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "OK: 1 pair(s) and 2 feature(s) validated." in done.stdout
    assert "unitconv_task/3: Python 3.11." in done.stdout
    evaluation = json.loads(next(logs.rglob("eval.json")).read_text())
    for key in ("feature1", "feature2"):
        output = evaluation[key]["test_output"]
        assert evaluation[key]["passed"], output[-2000:]
        # runner.sh's installs ran as written, and were replayed: the merge touches no packaging file.
        for command in ("pip install -e .[test]", "pip install pytest pytest-xdist pytest_mock"):
            assert f"[cooperbench] `{command}` replayed (exit 0)" in output, output[-3000:]
    # The template's venv holds bytecode of what pytest imports (uv installs without it; pip in an
    # image compiles it), so no sandbox compiles pytest again at every test run.
    (template,) = (tmp_path / "cache" / "templates").glob("*/shared/.venv")
    compiled = {p.name.split(".")[0] for p in template.glob("lib/python3.*/site-packages/_pytest/__pycache__/*.pyc")}
    assert {"main", "python", "fixtures"} <= compiled, sorted(compiled)
