"""Tuples of N features: `features=[1, 2, 3]`, subset `groups`, and the pair case unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cooperbench.dataset import DatasetError, discover_pairs, load_subset

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dataset"


def keys(pairs):
    return [p.key for p in pairs]


def subset(tmp_path: Path, *entries: dict) -> str:
    path = tmp_path / "subset.json"
    path.write_text(json.dumps({"name": "mine", "tasks": list(entries)}))
    return str(path)


def test_features_select_exactly_that_tuple():
    assert keys(discover_pairs(EXAMPLE, features=[1, 2, 3])) == ["minicalc_task/2/f1_f2_f3", "textkit_task/1/f1_f2_f3"]
    assert keys(discover_pairs(EXAMPLE, features=[3, 1, 5])) == ["minicalc_task/2/f1_f3_f5"]  # only minicalc has f5
    assert keys(discover_pairs(EXAMPLE, features=[1, 2, 3, 4], repo="textkit_task")) == ["textkit_task/1/f1_f2_f3_f4"]
    (pair,) = discover_pairs(EXAMPLE, features=[5, 3, 1])
    assert pair.features == (1, 3, 5) and pair.dirname == "f1_f3_f5"


def test_two_features_still_select_one_pair():
    assert keys(discover_pairs(EXAMPLE, features=[2, 1])) == ["minicalc_task/2/f1_f2", "textkit_task/1/f1_f2"]


@pytest.mark.parametrize("features", [[1], [1, 1], [2, 2, 3]])
def test_features_need_two_different_ids(features):
    with pytest.raises(DatasetError, match="--features"):
        discover_pairs(EXAMPLE, features=features)


def test_groups_select_exactly_their_tuples(tmp_path):
    # textkit has 5 features: a group of three selects that tuple, not the pairs among all features.
    chosen = discover_pairs(
        EXAMPLE, subset=subset(tmp_path, {"repo": "textkit_task", "task_id": 1, "groups": [[1, 2, 3]]})
    )
    assert keys(chosen) == ["textkit_task/1/f1_f2_f3"]


def test_pairs_and_groups_of_one_entry_add_up(tmp_path):
    entry = {"repo": "minicalc_task", "task_id": 2, "pairs": [[4, 5]], "groups": [[3, 1, 5], [1, 2, 3, 4]]}
    assert keys(discover_pairs(EXAMPLE, subset=subset(tmp_path, entry))) == [
        "minicalc_task/2/f1_f2_f3_f4",
        "minicalc_task/2/f1_f3_f5",
        "minicalc_task/2/f4_f5",
    ]


def test_entries_of_one_task_add_up_and_an_entry_without_tuples_means_every_pair(tmp_path):
    path = subset(
        tmp_path,
        {"repo": "textkit_task", "task_id": 1, "groups": [[1, 2, 3]]},
        {"repo": "textkit_task", "task_id": 1, "pairs": [[1, 2]]},
        {"repo": "minicalc_task", "task_id": 2},
    )
    selection = load_subset(EXAMPLE, path)
    assert selection == {("textkit_task", 1): [(1, 2), (1, 2, 3)], ("minicalc_task", 2): None}
    assert keys(discover_pairs(EXAMPLE, subset=path)) == [
        *(f"minicalc_task/2/f{a}_f{b}" for a in range(1, 6) for b in range(a + 1, 6)),
        "textkit_task/1/f1_f2",
        "textkit_task/1/f1_f2_f3",
    ]


def test_features_filter_a_subset_to_that_one_tuple(tmp_path):
    path = subset(tmp_path, {"repo": "minicalc_task", "task_id": 2, "pairs": [[1, 3]], "groups": [[1, 3, 5]]})
    assert keys(discover_pairs(EXAMPLE, subset=path, features=[1, 3, 5])) == ["minicalc_task/2/f1_f3_f5"]
    assert keys(discover_pairs(EXAMPLE, subset=path, features=[1, 3])) == ["minicalc_task/2/f1_f3"]
    assert discover_pairs(EXAMPLE, subset=path, features=[1, 5]) == []


def test_the_example_team3_subset_in_upstream_groups_format():
    assert keys(discover_pairs(EXAMPLE, subset="team3")) == [
        "minicalc_task/2/f1_f2_f3",
        "minicalc_task/2/f1_f3_f5",
        "minicalc_task/2/f2_f4_f5",
        "minicalc_task/2/f3_f4_f5",
    ]


def test_a_group_naming_a_missing_feature_is_reported_not_dropped(tmp_path):
    (pair,) = discover_pairs(
        EXAMPLE, subset=subset(tmp_path, {"repo": "minicalc_task", "task_id": 2, "groups": [[1, 2, 7]]})
    )
    assert pair.key == "minicalc_task/2/f1_f2_f7"
    assert "has no feature7 folder" in pair.dataset_error


def test_cli_run_with_a_groups_subset_runs_exactly_its_tuples(tmp_path):
    """Through the CLI: `cooperbench run -s <groups subset>` writes one folder per listed tuple, nothing else."""
    path = subset(tmp_path, {"repo": "minicalc_task", "task_id": 2, "groups": [[1, 3, 5]]})
    logs = tmp_path / "logs"
    proc = subprocess.run(
        [
            sys.executable, "-m", "cooperbench", "run", "-n", "groups", "--agent", "nop", "-s", path,
            "--dataset-dir", str(EXAMPLE), "--log-dir", str(logs), "--no-auto-eval", "--no-messaging",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    results = sorted(p.parent.relative_to(logs / "groups") for p in logs.rglob("result.json"))
    assert results == [Path("coop/minicalc_task/2/f1_f3_f5")], proc.stdout + proc.stderr
    result = json.loads((logs / "groups" / results[0] / "result.json").read_text())
    assert result["features"] == [1, 3, 5]
    assert {agent: info["features"] for agent, info in result["agents"].items()} == {
        "agent1": [1],
        "agent2": [3],
        "agent3": [5],
    }
