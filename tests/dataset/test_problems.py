"""Broken tasks and features are reported per tuple, naming the path, never dropped or raised."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cooperbench.dataset import DatasetProblem, discover_pairs, load_tasks

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dataset"
TASK = Path("minicalc_task") / "task2"
ALL_PAIRS = [f"minicalc_task/2/f{a}_f{b}" for a in range(1, 6) for b in range(a + 1, 6)]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE / "minicalc_task", tmp_path / "minicalc_task")
    shutil.copytree(EXAMPLE / "subsets", tmp_path / "subsets")
    return tmp_path


def problems_by_pair(root: Path, **selection) -> dict[str, list[str]]:
    return {p.key: [str(problem) for problem in p.problems] for p in discover_pairs(root, **selection)}


def test_the_example_dataset_has_no_problems():
    assert all(not p.problems and p.dataset_error is None for p in discover_pairs(EXAMPLE))


def test_missing_tests_patch_marks_only_the_tuples_of_that_feature(dataset):
    missing = dataset / TASK / "feature2" / "tests.patch"
    missing.unlink()
    found = problems_by_pair(dataset)
    assert sorted(found) == ALL_PAIRS  # nothing vanishes
    for key, problems in found.items():
        if "f2" in key.split("/")[-1].split("_"):
            assert problems == [f"{missing}: missing tests.patch (the feature's tests)"]
        else:
            assert problems == []


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "tests.patch is empty"), (b"  \n", "tests.patch is empty"), (b"just words\n", "holds no diff")],
)
def test_empty_or_not_a_diff_tests_patch(dataset, content, message):
    (dataset / TASK / "feature3" / "tests.patch").write_bytes(content)
    (pair,) = discover_pairs(dataset, features=[1, 3])
    assert len(pair.problems) == 1 and message in str(pair.problems[0])
    assert str(dataset / TASK / "feature3" / "tests.patch") in pair.dataset_error


def test_missing_feature_md_is_a_problem_naming_the_path(dataset):
    (dataset / TASK / "feature4" / "feature.md").unlink()
    (pair,) = discover_pairs(dataset, features=[3, 4])
    assert pair.dataset_error == f"{dataset / TASK / 'feature4' / 'feature.md'}: missing feature.md " + (
        "(the feature's description, the agent's task)"
    )
    (clean,) = discover_pairs(dataset, features=[1, 3])
    assert clean.problems == ()


def test_missing_runner_sh_marks_every_tuple_of_the_task(dataset):
    (dataset / TASK / "runner.sh").unlink()
    found = problems_by_pair(dataset)
    assert sorted(found) == ALL_PAIRS
    assert all(
        len(p) == 1 and p[0].startswith(f"{dataset / TASK / 'runner.sh'}: missing runner.sh") for p in found.values()
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "runner.sh is empty"),
        (lambda p: p.write_bytes(b"\x7fELF\x00\x01\x02garbage"), "not a shell script"),
        (lambda p: (p.unlink(), p.mkdir()), "not a regular file"),
        (lambda p: (p.unlink(), p.symlink_to(p.parent / "nowhere.sh")), "missing runner.sh"),
    ],
    ids=["empty", "binary", "directory", "dangling-symlink"],
)
def test_runner_sh_bash_cannot_run_is_a_problem(dataset, make, message):
    make(dataset / TASK / "runner.sh")
    pairs = discover_pairs(dataset)
    assert len(pairs) == 10
    assert all(
        message in (p.dataset_error or "") and str(dataset / TASK / "runner.sh") in p.dataset_error for p in pairs
    )


def test_runner_sh_without_the_exec_bit_is_fine(dataset):
    # The public dataset ships runner.sh as mode 100644 and the harness runs `bash runner.sh`.
    runner = dataset / TASK / "runner.sh"
    runner.chmod(0o644)
    assert not os.access(runner, os.X_OK) or os.geteuid() == 0
    assert all(not p.problems for p in discover_pairs(dataset))


def test_feature_folder_without_a_number_marks_every_tuple_of_its_task(dataset):
    (dataset / TASK / "feature2").rename(dataset / TASK / "feature_two")
    found = problems_by_pair(dataset)
    # feature 2 is gone; every remaining pair is reported rather than run on a task of unknown shape
    assert sorted(found) == [k for k in ALL_PAIRS if "f2" not in k.split("/")[-1].split("_")]
    for problems in found.values():
        assert len(problems) == 1
        assert problems[0].startswith(f"{dataset / TASK / 'feature_two'}: a feature folder must be named feature<N>")


def test_selecting_the_feature_of_an_unparsable_folder_reports_the_tuple(dataset):
    (dataset / TASK / "feature2").rename(dataset / TASK / "feature_two")
    (pair,) = discover_pairs(dataset, features=[1, 2])
    paths = {p.path for p in pair.problems}
    assert paths == {dataset / TASK / "feature_two", dataset / TASK / "feature2"}
    assert "has no feature2 folder (its features: 1, 3, 4, 5)" in pair.dataset_error
    (pair,) = discover_pairs(dataset, subset=str(write_subset(dataset, [[1, 2]])))
    assert pair.key == "minicalc_task/2/f1_f2" and len(pair.problems) == 2


def write_subset(root: Path, pairs, groups=None) -> Path:
    import json

    entry = {"repo": "minicalc_task", "task_id": 2, "pairs": pairs}
    if groups is not None:
        entry["groups"] = groups
    path = root / "subsets" / "mine.json"
    path.write_text(json.dumps({"name": "mine", "tasks": [entry]}))
    return path


@pytest.mark.parametrize("name", ["feature02", "Feature2", "feature_2", "feature-2"])
def test_misnamed_feature_folder_keeps_its_tuples_and_names_the_fix(dataset, name):
    (dataset / TASK / "feature2").rename(dataset / TASK / name)
    found = problems_by_pair(dataset)
    assert sorted(found) == ALL_PAIRS
    for key, problems in found.items():
        if "f2" in key.split("/")[-1].split("_"):
            assert problems == [
                f"{dataset / TASK / name}: a feature folder must be named feature<N>: rename it to feature2"
            ]
        else:
            assert problems == []


def test_two_folders_of_one_feature(dataset):
    shutil.copytree(dataset / TASK / "feature2", dataset / TASK / "feature02")
    (pair,) = discover_pairs(dataset, features=[1, 2])
    assert any("feature02 and feature2 are both feature 2" in str(p) for p in pair.problems)


def test_feature_that_is_a_file(dataset):
    shutil.rmtree(dataset / TASK / "feature5")
    (dataset / TASK / "feature5").write_text("oops")
    (pair,) = discover_pairs(dataset, features=[1, 5])
    assert pair.problems == (DatasetProblem(dataset / TASK / "feature5", "feature 5 must be a folder, not a file", 5),)


def test_subset_naming_a_feature_the_task_lacks_reports_the_tuple(dataset):
    found = problems_by_pair(dataset, subset=str(write_subset(dataset, [[1, 9], [1, 2]])))
    assert found["minicalc_task/2/f1_f2"] == []
    assert found["minicalc_task/2/f1_f9"] == [
        f"{dataset / TASK / 'feature9'}: feature 9 is selected but minicalc_task/task2 has no feature9 folder "
        "(its features: 1, 2, 3, 4, 5)"
    ]


def test_subset_naming_a_task_with_fewer_than_two_features_reports_its_tuples(dataset):
    for fid in (2, 3, 4, 5):
        shutil.rmtree(dataset / TASK / f"feature{fid}")
    with pytest.warns(UserWarning, match="needs at least 2 features"):
        assert load_tasks(dataset) == []
    with pytest.warns(UserWarning, match="needs at least 2 features"):
        (pair,) = discover_pairs(dataset, subset=str(write_subset(dataset, [[1, 2]])))
    assert "has no feature2 folder (its features: 1)" in pair.dataset_error


def test_problems_are_found_without_running_anything(dataset):
    # Discovery reads files only: a task whose setup would fail still lists its problems at once.
    (dataset / TASK / "setup.sh").write_text("exit 1\n")
    (dataset / TASK / "feature1" / "tests.patch").unlink()
    pairs = discover_pairs(dataset)
    assert sum(1 for p in pairs if p.problems) == 4
