"""Broken tasks of a selection: dataset errors naming the path, found before any sandbox starts (#10.4)."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

from cooperbench.agents import AgentResult
from cooperbench.agents.registry import register
from cooperbench.dataset import discover_pairs
from cooperbench.runner import run

DATASET = Path(__file__).resolve().parents[2] / "examples" / "dataset"
CALLS: list[tuple[str, tuple[int, ...]]] = []
_LOCK = threading.Lock()


@register("t_faults_counting")
class CountingAgent:
    """Records which pair called it and submits nothing, without a sandbox."""

    def run(self, task, image, *, agent_id="agent", config=None, **kwargs):
        with _LOCK:
            CALLS.append((config["task"]["repo"], tuple(config["task"]["pair_features"])))
        return AgentResult(status="Submitted", patch="", cost=0.5, steps=1)


def load(path: Path):
    return json.loads(path.read_text())


def test_broken_tasks_are_dataset_errors_named_by_path_and_every_pair_is_in_the_summary(tmp_path, capsys):
    dataset = tmp_path / "dataset"
    shutil.copytree(DATASET, dataset)
    calc = dataset / "minicalc_task" / "task2"
    (calc / "feature1" / "tests.patch").unlink()  # pairs of feature 1: 4 of 10
    text = dataset / "textkit_task" / "task1"
    (text / "feature4").rename(text / "feature_two")  # which feature? every tuple of the task: 3
    shutil.copytree(text, dataset / "textkit_task" / "task7")
    broken_runner = dataset / "textkit_task" / "task7"
    shutil.rmtree(broken_runner / "feature_two")
    (broken_runner / "runner.sh").unlink()  # every tuple of the task: 3
    (broken_runner / "feature3").rename(broken_runner / "feature03")  # misnamed: its tuples are reported too
    selected = discover_pairs(dataset)
    assert len(selected) == 16
    CALLS.clear()

    summary = run("broken", agent="t_faults_counting", dataset_dir=dataset, logs_dir=tmp_path / "logs",
                  auto_eval=False, messaging_enabled=False, _return_summary=True)  # fmt: skip
    out = capsys.readouterr().out

    # only the 6 healthy pairs of minicalc reached an agent; no sandbox, image or agent for the rest
    assert sorted(set(CALLS)) == [("minicalc_task", p) for p in [(2, 3), (2, 4), (2, 5), (3, 4), (3, 5), (4, 5)]]
    assert summary is not None
    assert summary["pairs"] == 16 and summary["outcomes"] == {"dataset_error": 10, "pending_eval": 6}
    assert len(summary["incomplete"]) == 10  # left without a result: the run's exit status says so
    assert summary["cost"] == 6 * 2 * 0.5  # never charged: dataset errors cost nothing
    rdir = tmp_path / "logs" / "broken" / "coop"
    missing = load(rdir / "minicalc_task" / "2" / "f1_f3" / "result.json")
    assert missing["outcome"] == "dataset_error"
    assert str(calc / "feature1" / "tests.patch") in missing["error"] and "missing tests.patch" in missing["error"]
    assert all(a["error_kind"] == "dataset_error" and a["cost"] == 0 for a in missing["agents"].values())
    assert sorted(p.name for p in (rdir / "minicalc_task" / "2" / "f1_f3").iterdir()) == ["result.json"]
    unnamed = load(rdir / "textkit_task" / "1" / "f1_f2" / "result.json")
    assert str(text / "feature_two") in unnamed["error"] and "feature<N>" in unnamed["error"]
    no_runner = load(rdir / "textkit_task" / "7" / "f1_f3" / "result.json")
    problems = {p["path"]: p["problem"] for p in no_runner["problems"]}
    assert "missing runner.sh" in problems[str(broken_runner / "runner.sh")]
    assert "rename it to feature3" in problems[str(broken_runner / "feature03")]
    # the console names every path in full, one per line
    assert f"    {broken_runner / 'runner.sh'}: missing runner.sh" in out
    assert f"    {text / 'feature_two'}: a feature folder must be named" in out
    # not counted in a pass rate: the agents never saw these pairs
    rate = summary["pass_rate"]
    assert (
        rate["counted"] == 0
        and rate["dataset_errors"] == 10
        and "10 dataset_error pair(s) not counted" in rate["definition"]
    )

    # a resumed run checks the dataset again: once fixed, the pair runs
    shutil.copy(calc / "feature2" / "tests.patch", calc / "feature1" / "tests.patch")
    CALLS.clear()
    run("broken", agent="t_faults_counting", dataset_dir=dataset, logs_dir=tmp_path / "logs", auto_eval=False,
        messaging_enabled=False)  # fmt: skip
    assert sorted(set(CALLS)) == [("minicalc_task", (1, f)) for f in (2, 3, 4, 5)]
    assert load(rdir / "minicalc_task" / "2" / "f1_f3" / "result.json")["outcome"] == "pending_eval"
