"""End to end on the docker backend: `cooperbench run` with the oracle agent on the example dataset.

Each pair's outcome must be the one the dataset documents (examples/make_example_dataset.py),
and nothing of the run may be left in the Docker Engine afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "examples" / "dataset"


@pytest.fixture(scope="module")
def base_image() -> str:
    from cooperbench_backend_docker.testing import ensure_base_image

    from cooperbench.errors import SandboxError

    try:
        return ensure_base_image()
    except SandboxError as exc:
        if os.environ.get("COOPERBENCH_REQUIRE_DOCKER") == "1" or "Cannot reach the Docker daemon" not in str(exc):
            raise
        pytest.skip(f"no Docker Engine: {exc}")


def test_oracle_run_with_git_on_docker_matches_the_documented_outcomes(tmp_path: Path, base_image: str):
    from cooperbench_backend_docker.backend import DockerBackend

    config = tmp_path / "config.yaml"
    config.write_text(f"backend:\n  name: docker\n  pull: false\n  build_args: {{BASE_IMAGE: '{base_image}'}}\n")
    run_name = f"docker-e2e-{os.getpid()}"
    command = [sys.executable, "-m", "cooperbench", "run", "--backend", "docker", "-a", "oracle", "--git"]
    command += ["--agent-config", str(config), "--dataset-dir", str(DATASET), "--log-dir", str(tmp_path / "logs")]
    command += ["-n", run_name, "-r", "textkit_task", "-c", "2", "--policy", "paper"]  # the union merge below
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    run_dir = tmp_path / "logs" / run_name
    pairs = sorted((run_dir / "coop" / "textkit_task" / "1").iterdir())
    assert len(pairs) == 6
    evals = {pair.name: json.loads((pair / "eval.json").read_text()) for pair in pairs}
    # Documented: f3+f4 conflict and f3's tests fail on the union merge; every other pair passes.
    assert {name for name, e in evals.items() if e["both_passed"]} == {"f1_f2", "f1_f3", "f1_f4", "f2_f3", "f2_f4"}
    assert evals["f1_f2"]["merge"]["strategy"] == "union"
    assert evals["f3_f4"]["merge"]["strategy"] == "union" and not evals["f3_f4"]["feature1"]["passed"]
    assert json.loads((run_dir / "config.json").read_text())["backend"] == "docker"
    assert DockerBackend().resources(run_name) == []
