"""Upstream CooperBench 0.0.29's Python API names: same arguments, same return shapes, our grading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cooperbench
from cooperbench.dataset import discover_pairs

from .conftest import EXAMPLES

MERGED_KEYS = {"apply_status", "merge", "feature1", "feature2", "both_passed", "error"}
FEATURE_KEYS = {"feature_id", "passed", "exit_code", "tests_passed", "tests_failed", "test_output"}


def gold(repo: str, task_id: int, feature: int) -> str:
    return (EXAMPLES / repo / f"task{task_id}" / f"feature{feature}" / "feature.patch").read_text()


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The configured defaults upstream's functions fall back to: the example dataset, the local backend."""
    monkeypatch.setenv("COOPERBENCH_DATASET_DIR", str(EXAMPLES))
    monkeypatch.setenv("COOPERBENCH_BACKEND", "local")
    monkeypatch.setenv("COOPERBENCH_LOGS_DIR", str(tmp_path / "logs"))
    return tmp_path


def test_import_cooperbench_stays_light_and_has_upstreams_names() -> None:
    code = (
        "import sys, cooperbench, cooperbench.eval\n"
        "names = ['discover_tasks', 'discover_runs', 'test_merged', 'test_solo', 'evaluate_merge']\n"
        "assert all(callable(getattr(cooperbench, n)) for n in names)\n"
        "assert all(callable(getattr(cooperbench.eval, n)) for n in names[1:] + ['run_patch_test', 'evaluate'])\n"
        "heavy = [m for m in ('rich', 'pydantic', 'docker', 'litellm', 'cooperbench.evaluation', 'cooperbench.runner')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cooperbench.nope  # noqa: B018


def test_discover_tasks_is_the_runs_selection(api_env: Path) -> None:
    every = cooperbench.discover_tasks()
    assert every == [
        {"repo": p.repo, "task_id": p.task_id, "features": list(p.features)} for p in discover_pairs(EXAMPLES)
    ]
    assert len(every) == 16 and all(isinstance(t["features"], list) for t in every)
    assert cooperbench.discover_tasks(repo_filter="textkit_task", features_filter=[1, 2]) == [
        {"repo": "textkit_task", "task_id": 1, "features": [1, 2]}
    ]
    assert len(cooperbench.discover_tasks(subset="lite", dataset_dir=EXAMPLES)) == 6


def test_discover_runs_lists_pair_folders_with_results(api_env: Path) -> None:
    run = api_env / "logs" / "r1"
    for setting, name in (("coop", "f1_f2"), ("coop", "f1_f3"), ("solo", "f1_f2")):
        pdir = run / setting / "textkit_task" / "1" / name
        pdir.mkdir(parents=True)
        (pdir / "result.json").write_text("{}")
    (run / "coop" / "textkit_task" / "1" / "f2_f3").mkdir()  # no result.json: not a finished run
    found = cooperbench.discover_runs("r1")
    assert {(r["setting"], tuple(r["features"])) for r in found} == {
        ("coop", (1, 2)),
        ("coop", (1, 3)),
        ("solo", (1, 2)),
    }
    assert all(set(r) == {"repo", "task_id", "features", "log_dir", "setting"} for r in found)
    assert all(Path(r["log_dir"]).is_dir() and isinstance(r["log_dir"], str) for r in found)
    only = cooperbench.discover_runs("r1", features_filter=[2, 1], logs_dir=api_env / "logs")
    assert {r["setting"] for r in only} == {"coop", "solo"} and all(r["features"] == [1, 2] for r in only)
    assert cooperbench.discover_runs("missing") == []


def test_test_merged_has_upstreams_shape_and_semantics(api_env: Path) -> None:
    clean = cooperbench.test_merged("textkit_task", 1, 1, 3, gold("textkit_task", 1, 1), gold("textkit_task", 1, 3))
    assert set(clean) == MERGED_KEYS and set(clean["feature1"]) == FEATURE_KEYS
    assert clean["both_passed"] and clean["error"] is None
    assert clean["merge"]["status"] == "clean" and clean["merge"]["strategy"] == "naive"
    assert clean["feature2"]["feature_id"] == 3 and clean["feature2"]["tests_passed"] > 0
    # a patch file's path is read, as upstream does
    patch_file = api_env / "f1.patch"
    patch_file.write_text(gold("textkit_task", 1, 1))
    conflict = cooperbench.test_merged(
        "textkit_task", 1, 1, 2, str(patch_file), Path(EXAMPLES / "textkit_task/task1/feature2/feature.patch")
    )
    assert conflict["merge"]["status"] == "conflicts" and conflict["merge"]["strategy"] == "naive"
    assert not conflict["both_passed"]  # upstream: the lead's patch alone does not implement f2
    same = cooperbench.test_merged("textkit_task", 1, 1, 3, gold("textkit_task", 1, 1), gold("textkit_task", 1, 1))
    assert same["merge"]["status"] == "identical" and same["merge"]["strategy"] == "skip-merge-identical"
    assert {"repo", "task_id", "features", "setting", "evaluated_at"} <= set(same) and same["features"] == [1, 3]
    missing = cooperbench.test_merged("textkit_task", 1, 1, 9, "", "")
    assert missing["merge"]["status"] == "error" and "Tests patch not found" in missing["error"]
    assert set(missing) == MERGED_KEYS


def test_test_solo_has_upstreams_shape(api_env: Path) -> None:
    result = cooperbench.test_solo("textkit_task", 1, 1, 3, patch=gold("textkit_task", 1, 1))
    assert set(result) == {"setting", "patch_lines", "feature1", "feature2", "both_passed", "error"}
    assert set(result["feature1"]) == {"passed", "test_output"}
    assert result["setting"] == "solo" and result["patch_lines"] == len(gold("textkit_task", 1, 1).splitlines())
    assert result["feature1"]["passed"] and not result["feature2"]["passed"] and not result["both_passed"]
    missing = cooperbench.test_solo("textkit_task", 1, 1, 9)
    assert missing["error"].startswith("Tests patch not found") and missing["patch_lines"] == 0


def test_evaluate_merge_reduces_to_pass_counts(api_env: Path) -> None:
    result = cooperbench.evaluate_merge(
        "minicalc_task", 2, 2, 4, gold("minicalc_task", 2, 2), gold("minicalc_task", 2, 4)
    )
    assert result == {
        "feature1_tests_passed": 1,
        "feature1_tests_total": 1,
        "feature2_tests_passed": 1,
        "feature2_tests_total": 1,
        "error": None,
    }


def test_run_patch_test_tests_one_patch_against_one_feature(api_env: Path) -> None:
    from cooperbench.eval import run_patch_test

    keys = {"passed", "tests_passed", "tests_failed", "tests_total", "output", "error"}
    with_gold = run_patch_test("textkit_task", 1, 1)  # None: the feature's gold patch
    assert set(with_gold) == keys and with_gold["passed"] and with_gold["error"] is None
    assert with_gold["tests_total"] == with_gold["tests_passed"] > 0 and " passed" in with_gold["output"]
    wrong = run_patch_test("textkit_task", 1, 1, agent_patch=gold("textkit_task", 1, 3))
    assert not wrong["passed"] and wrong["tests_failed"] > 0
    only_tests = (EXAMPLES / "textkit_task/task1/feature1/tests.patch").read_text()
    assert run_patch_test("textkit_task", 1, 1, agent_patch=only_tests)["error"] == "Agent patch is empty"
    assert run_patch_test("textkit_task", 1, 9)["error"].startswith("Tests patch not found")
    json.dumps(with_gold)  # plain data
