"""Discovery of tasks and pairs, filters, subsets, and malformed datasets."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from cooperbench.dataset import DatasetError, DatasetWarning, discover_pairs, load_subset, load_tasks

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "dataset"
SHARED = ROOT.parent / "shared" / "reference"


def keys(pairs):
    return [p.key for p in pairs]


def test_example_dataset_has_every_pair_of_every_task_sorted():
    pairs = discover_pairs(EXAMPLE)
    expected = [
        f"{repo}/{task}/f{a}_f{b}"
        for repo, task, n in (("minicalc_task", 2, 5), ("textkit_task", 1, 4))
        for a in range(1, n + 1)
        for b in range(a + 1, n + 1)
    ]
    assert keys(pairs) == expected
    assert all(p.task.path.is_dir() for p in pairs)


def test_filters_by_repo_task_and_features():
    assert {p.repo for p in discover_pairs(EXAMPLE, repo="textkit_task")} == {"textkit_task"}
    assert keys(discover_pairs(EXAMPLE, task_id=2, features=[1, 2])) == ["minicalc_task/2/f1_f2"]
    assert keys(discover_pairs(EXAMPLE, features=[3, 4])) == ["minicalc_task/2/f3_f4", "textkit_task/1/f3_f4"]
    assert discover_pairs(EXAMPLE, repo="nope_task") == []


def test_task_id_zero_is_a_filter_not_no_filter(tmp_path):
    dataset = tmp_path / "ds"
    for task in ("task0", "task7"):
        shutil.copytree(EXAMPLE / "textkit_task" / "task1", dataset / "textkit_task" / task)
    assert {p.task_id for p in discover_pairs(dataset, task_id=0)} == {0}
    assert {p.task_id for p in discover_pairs(dataset)} == {0, 7}


def test_subset_selects_its_pairs():
    assert keys(discover_pairs(EXAMPLE, subset="lite")) == [
        "minicalc_task/2/f1_f2",
        "minicalc_task/2/f2_f4",
        "minicalc_task/2/f3_f4",
        "textkit_task/1/f1_f2",
        "textkit_task/1/f1_f3",
        "textkit_task/1/f3_f4",
    ]
    assert keys(discover_pairs(EXAMPLE, subset="lite", repo="textkit_task", features=[1, 3])) == [
        "textkit_task/1/f1_f3"
    ]


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/reference beside the repository")
def test_upstream_reference_task_and_subset_parse(tmp_path):
    shutil.copytree(SHARED / "example-task", tmp_path / "dirty_equals_task" / "task43")
    pairs = discover_pairs(tmp_path)
    assert keys(pairs) == ["dirty_equals_task/43/f1_f2"]
    assert pairs[0].task.image_name() == "akhatua/cooperbench-dirty-equals:task43"
    selection = load_subset(tmp_path, str(SHARED / "example-task-subset" / "lite.json"))
    assert len(selection) == 26
    assert sum(len(v or []) for v in selection.values()) == 100
    assert selection[("dottxt_ai_outlines_task", 1655)] == [(6, 7), (7, 10)]


def test_missing_feature_md_is_a_problem_of_its_pairs_naming_the_path(tmp_path):
    shutil.copytree(EXAMPLE / "textkit_task", tmp_path / "textkit_task")
    (tmp_path / "textkit_task" / "task1" / "feature2" / "feature.md").unlink()
    broken = {p.key for p in discover_pairs(tmp_path) if p.problems}
    assert broken == {"textkit_task/1/f1_f2", "textkit_task/1/f2_f3", "textkit_task/1/f2_f4"}
    (pair,) = discover_pairs(tmp_path, features=[1, 2])
    assert "feature2/feature.md: missing feature.md" in pair.dataset_error


def test_task_with_one_feature_is_skipped_with_a_warning(tmp_path):
    shutil.copytree(EXAMPLE / "textkit_task", tmp_path / "textkit_task")
    lonely = tmp_path / "other_task" / "task5"
    shutil.copytree(EXAMPLE / "textkit_task" / "task1" / "feature1", lonely / "feature1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tasks = load_tasks(tmp_path)
    assert [t.repo for t in tasks] == ["textkit_task"]
    assert any(issubclass(w.category, DatasetWarning) and "other_task/task5" in str(w.message) for w in caught)


def test_missing_dataset_dir_says_how_to_fix(tmp_path):
    with pytest.raises(DatasetError, match="--dataset-dir"):
        discover_pairs(tmp_path / "absent")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read subset"),
        ('["a"]', "must be a JSON object"),
        ('{"tasks": [{"repo": "textkit_task"}]}', r"tasks\[0\] is malformed"),
        ('{"tasks": [{"repo": "ghost_task", "task_id": 9, "pairs": [[1, 2]]}]}', "ghost_task/task9"),
        ('{"tasks": [{"repo": "textkit_task", "task_id": 1, "pairs": [[1, 2, 3]]}]}', "tuples go in `groups`"),
        ('{"tasks": [{"repo": "textkit_task", "task_id": 1, "groups": [[1]]}]}', "at least two different"),
        ('{"tasks": [{"repo": "textkit_task", "task_id": 1, "groups": [[1, 1, 2]]}]}', "at least two different"),
        ('{"tasks": [{"repo": "textkit_task", "task_id": 1, "groups": [["a", 2]]}]}', r"tasks\[0\] is malformed"),
        ('{"tasks": [{"repo": "textkit_task", "task_id": 1, "groups": [3]}]}', "list of feature ids"),
    ],
)
def test_bad_subsets_are_dataset_errors(tmp_path, content, message):
    shutil.copytree(EXAMPLE / "textkit_task", tmp_path / "textkit_task")
    (tmp_path / "subsets").mkdir()
    (tmp_path / "subsets" / "bad.json").write_text(content)
    with pytest.raises(DatasetError, match=message):
        discover_pairs(tmp_path, subset="bad")


def test_unknown_subset_lists_the_available_ones():
    with pytest.raises(DatasetError, match="Available subsets: lite, team3"):
        discover_pairs(EXAMPLE, subset="heavy")


def test_cli_reports_a_malformed_dataset_without_a_traceback(tmp_path):
    shutil.copytree(EXAMPLE / "textkit_task", tmp_path / "textkit_task")
    (tmp_path / "subsets").mkdir()
    (tmp_path / "subsets" / "bad.json").write_text("{oops")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cooperbench",
            "run",
            "--agent",
            "oracle",
            "-s",
            "bad",
            "--dataset-dir",
            str(tmp_path),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "bad.json" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").rglob("result.json"))


def test_subset_file_round_trips_through_json(tmp_path):
    data = json.loads((EXAMPLE / "subsets" / "lite.json").read_text())
    assert data["stats"]["pairs"] == sum(len(t["pairs"]) for t in data["tasks"])
