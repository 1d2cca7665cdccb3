"""N-way evaluation through the commands a user runs: an oracle run of three agents on 3-feature
tuples (the example dataset's ``team3`` subset), graded on every feature under both scoring policies,
in coop and in solo, on local and on docker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "examples" / "dataset"

# examples/dataset/README.md, "Tuples of three"
PAPER = {"f1_f3_f5": "pass", "f2_f4_f5": "pass", "f1_f2_f3": "pass", "f3_f4_f5": "fail_tests"}
# upstream: a conflict is graded on agent1's patch alone, which implements one feature of three
UPSTREAM = {"f1_f3_f5": "pass", "f2_f4_f5": "pass", "f1_f2_f3": "merge_conflict", "f3_f4_f5": "merge_conflict"}


def cli(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cooperbench", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def graded(path: Path) -> dict:
    record = json.loads(path.read_text())
    assert record["features"] == [int(f[1:]) for f in path.parent.name.split("_")]
    assert len(record["feature_results"]) == 3
    assert [record[f"feature{i}"]["feature_id"] for i in (1, 2, 3)] == record["features"]
    assert [r["passed"] for r in record["feature_results"]] == [record[f"feature{i}"]["passed"] for i in (1, 2, 3)]
    assert record["both_passed"] == all(r["passed"] for r in record["feature_results"])
    return record


def check_three_agent_run(run: Path, *, tuples: dict[str, str], other: dict[str, str]) -> None:
    for name, outcome in tuples.items():
        pdir = run / "coop" / "minicalc_task" / "2" / name
        assert [p.name for p in sorted(pdir.glob("agent*.patch"))] == ["agent1.patch", "agent2.patch", "agent3.patch"]
        own, paper = graded(pdir / "eval.json"), graded(pdir / "eval.paper.json")
        assert (own["policy"], own["outcome"]) == ("upstream", outcome), (name, own)
        assert (paper["policy"], paper["outcome"]) == ("paper", other[name]), (name, paper)
        assert set(own["attribution"]["agents"]) == {"agent1", "agent2", "agent3"}  # attribution per agent
        if own["merge"]["status"] == "clean":
            assert [s["into"] for s in own["merge"]["steps"]] == ["agent2", "agent3"]  # the fold, recorded
            assert all(r["passed"] for r in own["feature_results"])
        else:
            assert [r["passed"] for r in own["merge"]["lead_alone"]["results"]][-1] is False
            assert paper["merge"]["strategy"] == "union"


@pytest.mark.timeout(1800)  # three runs and a re-grade through the CLI
def test_three_agents_coop_and_solo_on_local_are_graded_on_every_feature_under_both_policies(tmp_path: Path) -> None:
    common = ["--dataset-dir", str(DATASET), "--log-dir", str(tmp_path), "-s", "team3", "--agent", "oracle"]
    ran = cli("run", "-n", "team3", "--no-messaging", "-c", "2", *common)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    regraded = cli("eval", "-n", "team3", "--policy", "paper", "-c", "2", "--dataset-dir", str(DATASET),
                   "--log-dir", str(tmp_path))  # fmt: skip
    assert regraded.returncode == 0, regraded.stdout + regraded.stderr
    assert "pass rate (paper) 75.0% (3/4 pairs" in regraded.stdout
    check_three_agent_run(tmp_path / "team3", tuples=UPSTREAM, other=PAPER)
    summary = json.loads((tmp_path / "team3" / "summary.json").read_text())
    assert summary["evaluation"]["by_policy"]["upstream"]["pass_rate"]["passed"] == 2

    solo = cli("run", "-n", "team3-solo", "--setting", "solo", "-c", "2", *common)
    assert solo.returncode == 0, solo.stdout + solo.stderr
    for name in PAPER:
        record = graded(tmp_path / "team3-solo" / "solo" / "minicalc_task" / "2" / name / "eval.json")
        assert record["agents"] == ["solo"] and record["outcome"] == "pass"  # the task's combined.patch


@pytest.mark.docker
@pytest.mark.timeout(1800)
def test_three_agents_coop_and_solo_on_docker_are_graded_on_every_feature(tmp_path: Path) -> None:
    from cooperbench_backend_docker.backend import DockerBackend
    from cooperbench_backend_docker.testing import ensure_base_image

    config = tmp_path / "config.yaml"
    config.write_text(
        f"backend:\n  name: docker\n  pull: false\n  build_args: {{BASE_IMAGE: '{ensure_base_image()}'}}\n"
    )
    common = ["--backend", "docker", "--agent-config", str(config), "--dataset-dir", str(DATASET),
              "--log-dir", str(tmp_path), "--agent", "oracle", "-r", "minicalc_task"]  # fmt: skip
    name = f"evaluation-n3-{os.getpid()}"
    for features in ("1,3,5", "3,4,5"):
        ran = cli("run", "-n", name, "--no-messaging", "-f", features, *common)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    # the images exist now, built from these task folders: `eval` takes them as they are
    regraded = cli("eval", "-n", name, "--policy", "paper", "--backend", "docker", "--dataset-dir", str(DATASET),
                   "--log-dir", str(tmp_path))  # fmt: skip
    assert regraded.returncode == 0, regraded.stdout + regraded.stderr
    picked = {k: UPSTREAM[k] for k in ("f1_f3_f5", "f3_f4_f5")}
    check_three_agent_run(tmp_path / name, tuples=picked, other=PAPER)
    solo = cli("run", "-n", f"{name}-solo", "--setting", "solo", "-f", "3,4,5", *common)
    assert solo.returncode == 0, solo.stdout + solo.stderr
    record = graded(tmp_path / f"{name}-solo" / "solo" / "minicalc_task" / "2" / "f3_f4_f5" / "eval.json")
    assert record["outcome"] == "pass"
    assert DockerBackend().resources(name) == [] and DockerBackend().resources(f"{name}-solo") == []
