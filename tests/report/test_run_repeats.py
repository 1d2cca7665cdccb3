"""``cooperbench run --repeats K``: one folder per repeat, resumed per repeat, counted per attempt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cooperbench import run
from cooperbench.errors import ConfigError

DATASET = Path(__file__).resolve().parents[2] / "examples" / "dataset"
PAIR = ("textkit_task", 1, "f1_f2")


def _pair_root(logs: Path, name: str) -> Path:
    return logs / name / "coop" / PAIR[0] / str(PAIR[1]) / PAIR[2]


def _run(logs: Path, name: str, **kw: object) -> dict:
    summary = run(
        run_name=name,
        agent="nop",
        repo=PAIR[0],
        task_id=PAIR[1],
        features=[1, 2],
        dataset_dir=DATASET,
        logs_dir=logs,
        auto_eval=False,
        _return_summary=True,
        **kw,  # type: ignore[arg-type]
    )
    assert summary is not None
    return summary


def _run_id(path: Path) -> str:
    return json.loads((path / "result.json").read_text())["run_id"]


def test_repeats_write_one_complete_folder_per_repeat_and_count_each(tmp_path: Path) -> None:
    summary = _run(tmp_path, "rep", repeats=3)
    root = _pair_root(tmp_path, "rep")
    assert not (root / "result.json").exists()
    for k in (1, 2, 3):
        result = json.loads((root / f"repeat-{k}" / "result.json").read_text())
        assert result["repeat"] == k and result["features"] == [1, 2]
        assert (root / f"repeat-{k}" / "agent1.patch").exists() and (
            root / f"repeat-{k}" / "conversation.json"
        ).exists()
    assert summary["pairs"] == 3 and summary["pending_eval"] == 3
    assert json.loads((tmp_path / "rep" / "config.json").read_text())["repeats"] == 3


def test_repeats_resume_runs_only_missing_repeats_and_force_reruns_all(tmp_path: Path) -> None:
    _run(tmp_path, "rep", repeats=2)
    root = _pair_root(tmp_path, "rep")
    first = {k: _run_id(root / f"repeat-{k}") for k in (1, 2)}
    (root / "repeat-2" / "result.json").unlink()

    summary = _run(tmp_path, "rep", repeats=3)  # resume: repeat-2 is missing, repeat-3 is new
    assert _run_id(root / "repeat-1") == first[1]
    second = _run_id(root / "repeat-2")
    assert second != first[2] and _run_id(root / "repeat-3") == second
    assert summary["pairs"] == 3

    _run(tmp_path, "rep", repeats=3, force=True)
    assert all(_run_id(root / f"repeat-{k}") not in (first[1], second) for k in (1, 2, 3))


def test_repeats_and_the_plain_layout_never_mix_in_one_run(tmp_path: Path) -> None:
    _run(tmp_path, "plain")
    with pytest.raises(ConfigError, match="without --repeats"):
        _run(tmp_path, "plain", repeats=2)
    _run(tmp_path, "rep", repeats=2)
    with pytest.raises(ConfigError, match="with --repeats"):
        _run(tmp_path, "rep")
    with pytest.raises(ConfigError, match="repeats must be at least 1"):
        _run(tmp_path, "other", repeats=0)


def test_cli_repeats_evaluates_every_repeat(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOPERBENCH_")}
    env["COOPERBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    proc = subprocess.run(
        [sys.executable, "-m", "cooperbench", "run", "-n", "rep", "--agent", "nop", "-r", PAIR[0], "-t", "1",
         "-f", "1,2", "--repeats", "2", "--dataset-dir", str(DATASET), "--log-dir", str(tmp_path / "logs")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "textkit_task/1/f1_f2 #1" in proc.stdout and "textkit_task/1/f1_f2 #2" in proc.stdout
    root = _pair_root(tmp_path / "logs", "rep")
    for k in (1, 2):
        assert json.loads((root / f"repeat-{k}" / "eval.json").read_text())["outcome"] == "no_patch"
    summary = json.loads((tmp_path / "logs" / "rep" / "summary.json").read_text())
    assert summary["outcomes"] == {"no_patch": 2}
    assert summary["evaluation"]["pairs"] == 2


def test_eval_of_a_repeats_run_evaluates_each_repeat_folder(tmp_path: Path) -> None:
    from cooperbench import evaluate

    _run(tmp_path, "rep", repeats=2)
    evaluate(run_name="rep", dataset_dir=DATASET, logs_dir=tmp_path)
    root = _pair_root(tmp_path, "rep")
    assert not (root / "eval.json").exists()  # never a record of the pair folder itself
    for k in (1, 2):
        assert json.loads((root / f"repeat-{k}" / "eval.json").read_text())["outcome"] == "no_patch"
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert summary["pairs"] == 2 and summary["outcomes"] == {"no_patch": 2}
