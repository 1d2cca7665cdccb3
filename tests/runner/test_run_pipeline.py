"""The run pipeline end to end on the example dataset and the local backend (no network)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cooperbench.runner import run
from cooperbench.testing.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "examples" / "dataset"
HERE = Path(__file__).resolve().parent

# Expected outcomes of the gold patches (examples/dataset/README.md).
# Under the default (upstream) scoring policy a conflicting gold pair is graded on the lead's patch
# alone, which never implements its partner's feature (docs/outcomes.md).
GOLD_COOP = {
    "minicalc_task/2/f1_f2": "merge_conflict",
    "minicalc_task/2/f3_f4": "merge_conflict",
    "textkit_task/1/f1_f2": "merge_conflict",
    "textkit_task/1/f3_f4": "merge_conflict",
}


def pair_dirs(logs: Path, name: str, setting: str) -> dict[str, Path]:
    base = logs / name / setting
    return {str(p.parent.relative_to(base)): p.parent for p in base.glob("*/*/*/result.json")}


def load(path: Path):
    return json.loads(path.read_text())


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(HERE), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "cooperbench", *args], capture_output=True, text=True, timeout=timeout, env=full_env
    )


def test_oracle_coop_writes_the_whole_layout_and_resumes(tmp_path):
    logs = tmp_path / "logs"
    proc = cli(
        "run",
        "-n",
        "t",
        "--agent",
        "oracle",
        "--setting",
        "coop",
        "--dataset-dir",
        str(DATASET),
        "--log-dir",
        str(logs),
        "-c",
        "2",
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    dirs = pair_dirs(logs, "t", "coop")
    assert len(dirs) == 16
    for key, pdir in dirs.items():
        for name in (
            "result.json",
            "agent1.patch",
            "agent2.patch",
            "agent1.log",
            "agent2.log",
            "conversation.json",
            "eval.json",
        ):
            assert (pdir / name).is_file(), f"{key}: missing {name}"
        result, evaluation = load(pdir / "result.json"), load(pdir / "eval.json")
        assert result["agents"]["agent1"]["features"] == [result["features"][0]]
        assert result["agents"]["agent2"]["features"] == [result["features"][1]]
        ledger = load(pdir / "conversation.json")  # oracle agents send nothing; the harness says who finished
        assert [(e["kind"], e["from"]) for e in ledger if e["kind"] != "status"] == [
            ("notice", "cooperbench"),
            ("notice", "cooperbench"),
        ]
        assert evaluation["outcome"] == GOLD_COOP.get(key, "pass"), (key, evaluation)
    config, summary = load(logs / "t" / "config.json"), load(logs / "t" / "summary.json")
    assert config["agent"] == "oracle" and config["provenance"]["dataset_hash"]
    assert set(config["provenance"]["images"]) == {
        "akhatua/cooperbench-textkit:task1",
        "akhatua/cooperbench-minicalc:task2",
    }
    assert summary["pairs"] == 16 and summary["outcomes"] == {"merge_conflict": 4, "pass": 12}
    assert config["policy"] == "upstream" and summary["evaluation"]["policy"] == "upstream"
    assert "Pass rate" in proc.stdout

    stamps = {k: load(d / "result.json")["started_at"] for k, d in dirs.items()}
    again = cli("run", "-n", "t", "--agent", "oracle", "--dataset-dir", str(DATASET), "--log-dir", str(logs))
    assert again.returncode == 0, again.stderr
    assert "16 already done" in again.stdout
    assert {k: load(d / "result.json")["started_at"] for k, d in dirs.items()} == stamps

    forced = cli(
        "run",
        "-n",
        "t",
        "--agent",
        "oracle",
        "--dataset-dir",
        str(DATASET),
        "--log-dir",
        str(logs),
        "-t",
        "1",
        "-f",
        "1,2",
        "--force",
    )
    assert forced.returncode == 0, forced.stderr
    assert (
        load(dirs["textkit_task/1/f1_f2"] / "result.json")["run_id"]
        != load(dirs["textkit_task/1/f1_f3"] / "result.json")["run_id"]
    )


def test_oracle_solo_writes_solo_patch_and_evaluates_both_features(tmp_path):
    run("s", agent="oracle", setting="solo", dataset_dir=DATASET, logs_dir=tmp_path, repo="textkit_task", concurrency=2)
    dirs = pair_dirs(tmp_path, "s", "solo")
    assert len(dirs) == 6
    for key, pdir in dirs.items():
        assert (pdir / "solo.patch").read_text().startswith("diff --git")
        assert not (pdir / "agent1.patch").exists()
        evaluation = load(pdir / "eval.json")
        assert evaluation["setting"] == "solo"
        assert evaluation["feature1"]["passed"] and evaluation["feature2"]["passed"], key


def test_agent_that_raises_is_an_agent_error_and_spares_its_partner(tmp_path):
    import cb_test_agents  # noqa: F401  (registers the test agents)

    run("r", agent="t_raiser", dataset_dir=DATASET, logs_dir=tmp_path, repo="textkit_task", auto_eval=False)
    dirs = pair_dirs(tmp_path, "r", "coop")
    assert len(dirs) == 6
    for pdir in dirs.values():
        result = load(pdir / "result.json")
        assert result["outcome"] == "agent_error"
        assert "boom from the test agent" in result["agents"]["agent1"]["error"]
        assert result["agents"]["agent2"]["status"] == "Submitted" and result["agents"]["agent2"]["error"] is None
        log = (pdir / "agent1.log").read_text()
        assert "Traceback" in log and "RuntimeError: boom from the test agent" in log
    # agent failures are results: a rerun keeps them
    run("r", agent="t_raiser", dataset_dir=DATASET, logs_dir=tmp_path, repo="textkit_task", auto_eval=False)
    assert all(load(p / "result.json")["run_id"] == result["run_id"] for p in dirs.values())


def _bwrap_processes_of(run_name: str) -> list[str]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "bwrap" in line and run_name in line]


def test_agent_past_its_wall_time_limit_times_out_and_its_sandbox_is_cleaned(tmp_path):
    import cb_test_agents  # noqa: F401

    started = time.monotonic()
    run(
        "hang",
        agent="t_hanger",
        setting="solo",
        dataset_dir=DATASET,
        logs_dir=tmp_path,
        repo="textkit_task",
        features=[1, 2],
        agent_timeout=3,
        auto_eval=False,
    )
    assert time.monotonic() - started < 60
    (pdir,) = pair_dirs(tmp_path, "hang", "solo").values()
    result = load(pdir / "result.json")
    assert result["outcome"] == "timeout"
    assert "wall-time limit of 3 s" in result["agents"]["solo"]["error"]
    time.sleep(0.5)
    assert _bwrap_processes_of("hang") == []
    cache = Path(os.environ.get("COOPERBENCH_CACHE_DIR", Path.home() / ".cache" / "cooperbench"))
    assert not list(cache.glob("**/started_marker")), "the timed-out sandbox's workspace is left behind"


@pytest.mark.parametrize("backend", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_git_collaboration_agent2_fetches_what_agent1_pushed(tmp_path, backend):
    import cb_test_agents  # noqa: F401

    config = None
    if backend == "docker":
        from cooperbench_backend_docker.testing import ensure_base_image

        config = {"backend": {"pull": False, "build_args": {"BASE_IMAGE": ensure_base_image()}}}
    run(
        "g",
        agent="t_git",
        dataset_dir=DATASET,
        logs_dir=tmp_path,
        repo="textkit_task",
        features=[1, 2],
        git_enabled=True,
        auto_eval=False,
        backend=backend,
        config=config,
    )
    (pdir,) = pair_dirs(tmp_path, "g", "coop").values()
    result = load(pdir / "result.json")
    assert result["outcome"] == "pending_eval", result
    traj = load(pdir / "agent2_traj.json")
    assert traj == [{"seen": "shared"}]
    assert "shared_by_agent1.txt" in (pdir / "agent1.patch").read_text()


def test_kill_9_mid_run_then_rerun_finishes_without_corrupt_files(tmp_path):
    logs = tmp_path / "logs"
    args = [
        "run",
        "-n",
        "k",
        "--agent",
        "t_slow",
        "--dataset-dir",
        str(DATASET),
        "--log-dir",
        str(logs),
        "-c",
        "1",
        "--no-auto-eval",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "COOPERBENCH_EXTERNAL_AGENTS": "cb_test_agents",
        "CB_TEST_SLOW_SECONDS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cooperbench", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(pair_dirs(logs, "k", "coop")) < 3:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {k: load(d / "result.json")["run_id"] for k, d in pair_dirs(logs, "k", "coop").items()}
    assert 3 <= len(done_before) < 16

    rerun = cli(*args, env={"COOPERBENCH_EXTERNAL_AGENTS": "cb_test_agents", "CB_TEST_SLOW_SECONDS": "0"})
    assert rerun.returncode == 0, rerun.stderr
    after = pair_dirs(logs, "k", "coop")
    assert len(after) == 16
    assert all(load(after[k] / "result.json")["run_id"] == rid for k, rid in done_before.items())
    for path in (logs / "k").rglob("*.json"):
        json.loads(path.read_text())  # every JSON file parses
    assert not list((logs / "k").rglob("*.tmp"))
    summary = load(logs / "k" / "summary.json")
    assert summary["pairs"] == 16 and summary["cost"] == pytest.approx(16 * 2 * 0.25)


def test_ctrl_c_cleans_sandboxes_and_marks_no_partial_pair_done(tmp_path):
    logs = tmp_path / "logs"
    run_name = f"ctrlc-{os.getpid()}"
    processes = f"/{run_name}--"  # in the run directory's path: this run's sandboxes, not another test's
    env = {**os.environ, "PYTHONPATH": str(HERE), "COOPERBENCH_EXTERNAL_AGENTS": "cb_test_agents"}
    command = [sys.executable, "-m", "cooperbench", "run", "-n", run_name, "--agent", "t_hanger", "--setting", "solo"]
    command += ["--dataset-dir", str(DATASET), "--log-dir", str(logs), "-r", "textkit_task", "-c", "2"]
    command += ["--no-auto-eval"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: proc.poll() is not None or len(_bwrap_processes_of(processes)) >= 2, "the agents' sandboxes")
        assert proc.poll() is None, "the run ended before the hanging agents started their sandboxes"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out
    assert "Interrupted" in out and "run the same command again to resume" in out
    assert list((logs / run_name).rglob("result.json")) == []
    # Killed (SIGKILL) with their sandboxes, they take a moment to be gone: a live one stays and fails this.
    wait_for(lambda: _bwrap_processes_of(processes) == [], "the killed sandboxes' processes to be gone")


def test_a_task_whose_image_cannot_be_built_is_infra_error_and_the_others_run(tmp_path):
    import shutil

    dataset = tmp_path / "ds"
    shutil.copytree(DATASET, dataset)
    (dataset / "textkit_task" / "task1" / "repo.bundle").write_bytes(b"not a git bundle\n")
    run("img", agent="oracle", dataset_dir=dataset, logs_dir=tmp_path / "logs", features=[1, 2], auto_eval=False)
    broken = load(tmp_path / "logs" / "img" / "coop" / "textkit_task" / "1" / "f1_f2" / "result.json")
    assert broken["outcome"] == "infra_error"
    assert "SandboxError" in broken["error"] and "textkit_task" in broken["error"]
    fine = load(tmp_path / "logs" / "img" / "coop" / "minicalc_task" / "2" / "f1_f2" / "result.json")
    assert fine["outcome"] == "pending_eval"
