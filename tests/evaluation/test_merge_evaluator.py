"""The merge evaluator end to end: real git, real runner.sh, real sandboxes of the local backend."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from cooperbench.backends.base import RunLabels
from cooperbench.backends.local import LocalBackend
from cooperbench.dataset import Pair, Task
from cooperbench.evaluation import get_evaluator
from cooperbench.evaluation.merge import MergeEvaluator

from .conftest import gold

EVAL_FIELDS = {
    "repo", "task_id", "features", "setting", "apply_status", "merge", "feature1", "feature2",
    "both_passed", "error", "evaluated_at", "outcome", "attribution",
}  # fmt: skip
FEATURE_FIELDS = {"feature_id", "passed", "exit_code", "tests_passed", "tests_failed", "test_output", "timed_out"}


def run_labels(request: pytest.FixtureRequest) -> RunLabels:
    return RunLabels(run_name=f"evaltest-{request.node.name[:40]}")


def coop(
    backend: LocalBackend,
    request: pytest.FixtureRequest,
    pair: Pair,
    p1: str | None,
    p2: str | None,
    *,
    policy: str = "upstream",
    **kw: Any,
) -> dict[str, Any]:
    run = run_labels(request)
    evaluator = MergeEvaluator(policy=policy)
    record = evaluator.evaluate_pair(pair, "coop", {"agent1": p1, "agent2": p2}, backend, run, **kw)
    assert record["policy"] == policy
    # the evaluation sandbox is gone, whatever happened
    assert not [r for r in backend.resources(run.run_name) if "sandbox" in r]
    return record


def without_file(patch: str, path: str) -> str:
    """``patch`` without its diff of ``path`` (which it must contain)."""
    parts = re.split(r"(?m)^(?=diff --git )", patch)
    kept = [part for part in parts if not part.startswith(f"diff --git a/{path} ")]
    assert len(kept) == len(parts) - 1, f"the patch has no diff of {path}"
    return "".join(kept)


def test_the_merge_evaluator_is_the_registered_plugin() -> None:
    assert isinstance(get_evaluator("merge"), MergeEvaluator)


def test_clean_gold_pair_passes(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 3)
    record = coop(backend, request, pair, gold(pair, 0), gold(pair, 1))
    assert set(record) >= EVAL_FIELDS and set(record["feature1"]) >= FEATURE_FIELDS
    assert record["outcome"] == "pass" and record["both_passed"] and record["error"] is None
    assert record["apply_status"] == {"agent1": "applied", "agent2": "applied"}
    assert record["merge"]["status"] == "clean" and record["merge"]["strategy"] == "naive"
    assert "diff --git a/textkit/" in record["merge"]["diff"]
    for key, feature in (("feature1", 1), ("feature2", 3)):
        result = record[key]
        assert result["feature_id"] == feature and result["passed"] and result["exit_code"] == 0
        assert result["tests_passed"] > 0 and result["tests_failed"] == 0 and not result["timed_out"]
        assert " passed in " in result["test_output"]
    assert record["attribution"] == {
        "category": None,
        "agents": {
            "agent1": {"feature_id": 1, "apply_status": "applied", "merged_passed": True, "alone_passed": None},
            "agent2": {"feature_id": 3, "apply_status": "applied", "merged_passed": True, "alone_passed": None},
        },
    }


def test_conflicting_gold_pair_is_rescued_by_the_union_merge_under_paper(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 2)
    record = coop(backend, request, pair, gold(pair, 0), gold(pair, 1), policy="paper")
    merge = record["merge"]
    assert merge["status"] == "conflicts" and merge["strategy"] == "union" and merge["union_status"] == "clean"
    assert "textkit/case.py" in merge["conflict_files"]
    assert record["outcome"] == "pass" and record["attribution"]["category"] == "union_rescued"


def test_a_conflict_under_upstream_tests_the_lead_alone_which_fails_the_partners_feature(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 2)
    record = coop(backend, request, pair, gold(pair, 0), gold(pair, 1))
    merge = record["merge"]
    assert merge["status"] == "conflicts" and merge["strategy"] == "naive" and "union_status" not in merge
    assert "textkit/case.py" in merge["conflict_files"]
    lead = merge["lead_alone"]
    assert lead["agent"] == "agent1" and lead["passed"] is False
    assert [r["passed"] for r in lead["results"]] == [True, False]  # f1's own tests pass, then f2's fail
    assert not record["feature1"]["ran"] and not record["feature2"]["ran"]  # nothing merged was tested
    assert record["outcome"] == "merge_conflict" and record["attribution"]["category"] == "merge_conflict"


def test_a_conflict_under_upstream_passes_when_the_leads_patch_carries_both_features(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 2)
    both = coop(backend, request, pair, gold(pair, 0), gold(pair, 1), policy="paper")["merge"]["diff"]
    record = coop(backend, request, pair, both, gold(pair, 1))  # the lead integrated its partner's work
    assert record["merge"]["status"] == "conflicts" and record["merge"]["strategy"] == "solo-agent1"
    assert record["merge"]["lead_alone"]["passed"] is True
    assert record["feature1"]["passed"] and record["feature2"]["passed"] and record["both_passed"]
    assert record["outcome"] == "pass" and record["attribution"]["category"] == "lead_rescued"


def test_identical_patches_skip_the_merge_under_upstream_and_merge_under_paper(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 2)
    both = coop(backend, request, pair, gold(pair, 0), gold(pair, 1), policy="paper")["merge"]["diff"]
    upstream = coop(backend, request, pair, both, both)
    assert upstream["merge"]["status"] == "identical" and upstream["merge"]["strategy"] == "skip-merge-identical"
    assert "diff --git a/textkit/case.py" in upstream["merge"]["diff"]
    assert upstream["outcome"] == "pass" and upstream["apply_status"] == {"agent1": "applied", "agent2": "applied"}
    paper = coop(backend, request, pair, both, both, policy="paper")
    assert paper["merge"]["status"] == "clean" and paper["merge"]["strategy"] == "naive"
    assert paper["outcome"] == "pass"


def test_each_policy_drops_the_test_files_of_its_own_rule(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 3)
    go_test = (
        "diff --git a/textkit/case_test.go b/textkit/case_test.go\nnew file mode 100644\n"
        "--- /dev/null\n+++ b/textkit/case_test.go\n@@ -0,0 +1 @@\n+package textkit\n"
    )
    upstream = coop(backend, request, pair, gold(pair, 0) + go_test, gold(pair, 1))
    paper = coop(backend, request, pair, gold(pair, 0) + go_test, gold(pair, 1), policy="paper")
    assert "case_test.go" not in upstream["merge"]["diff"]  # every language's tests are dropped
    assert "b/textkit/case_test.go" in paper["merge"]["diff"]  # 0.0.14 knew only Python's
    assert upstream["outcome"] == paper["outcome"] == "pass"


def test_integration_failure_tests_the_failing_feature_alone(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 3, 4)  # f3's slugify relies on truncate(), which f4 changes
    # The gold patches also conflict in README.md (no gold pair may merge cleanly and fail), so agent2's
    # patch is f4's without its README.md change: the merge is clean and f3's tests fail on it.
    f4_code = without_file(gold(pair, 1), "README.md")
    record = coop(backend, request, pair, gold(pair, 0), f4_code)
    assert record["merge"]["status"] == "clean"
    assert record["outcome"] == "fail_tests"
    assert not record["feature1"]["passed"] and record["feature1"]["tests_failed"] > 0 and record["feature2"]["passed"]
    attribution = record["attribution"]
    assert attribution["category"] == "integration_failure"
    assert (
        attribution["agents"]["agent1"]["alone_passed"] is True and attribution["agents"]["agent1"]["alone"]["passed"]
    )
    assert attribution["agents"]["agent2"]["alone_passed"] is None  # passes on the merge: no extra run


def test_corrupt_patch_is_apply_failed_with_gits_own_error(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 3)
    corrupt = gold(pair, 0).replace("@@ -", "@@ -9", 1).replace("\n ", "\n#", 3)
    for policy in ("upstream", "paper"):
        record = coop(backend, request, pair, corrupt, gold(pair, 1), policy=policy)
        assert record["apply_status"] == {"agent1": "failed", "agent2": "applied"}
        assert record["merge"]["status"] == "missing_input"
        assert record["outcome"] == "apply_failed" and record["error_kind"] == "apply_failed"
        assert record["error"].startswith("agent1.patch (feature 1) does not apply to the base commit: error: ")
        assert "corrupt patch at line" in record["apply_errors"]["agent1"]
        assert "$ git apply --3way agent1.patch" in record["apply_errors"]["agent1"]
        assert not record["feature1"]["ran"] and not record["both_passed"]
        assert record["attribution"]["category"] == "own_implementation_failed"


def test_a_stale_patch_names_the_file_and_the_hunk_that_do_not_apply(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 3)
    lines = gold(pair, 1).splitlines(keepends=True)
    # a context line of agent2's patch that is not in the base commit: the hunk cannot be placed
    i = next(n for n, line in enumerate(lines) if line.startswith(" ") and line.strip())
    lines[i] = " # a line the base commit does not have\n"
    record = coop(backend, request, pair, gold(pair, 0), "".join(lines))
    assert record["apply_status"] == {"agent1": "applied", "agent2": "failed"}
    assert record["error_kind"] == "apply_failed" and record["outcome"] == "apply_failed"
    error = record["apply_errors"]["agent2"]
    assert re.search(r"error: patch failed: \S+:\d+", error)  # the file and the hunk's line
    assert "a line the base commit does not have" in error  # git -v shows the context it searched for
    assert "agent2.patch (feature 3)" in record["error"] and "patch failed" in record["error"]


def test_empty_patches_are_skipped_and_no_patch(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 3)
    record = coop(backend, request, pair, "", None)
    assert record["apply_status"] == {"agent1": "skipped", "agent2": "skipped"}
    assert record["outcome"] == "no_patch" and record["error"] is None


def test_a_patch_of_only_tests_counts_as_empty_and_the_partner_is_still_tested(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 3)
    only_tests = pair.task.feature_file(1, "tests.patch").read_text()
    record = coop(backend, request, pair, only_tests, gold(pair, 1))
    assert record["apply_status"] == {"agent1": "skipped", "agent2": "applied"}
    assert record["feature2"]["passed"] and not record["feature1"]["passed"] and record["feature1"]["ran"]
    assert record["outcome"] == "no_patch"
    assert record["attribution"]["category"] == "own_implementation_failed"


def test_solo_patch_is_tested_against_both_features(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 3)
    both = coop(backend, request, pair, gold(pair, 0), gold(pair, 1))["merge"]["diff"]
    evaluator, run = MergeEvaluator(), run_labels(request)
    record = evaluator.evaluate_pair(pair, "solo", {"solo": both}, backend, run)
    assert record["setting"] == "solo" and record["merge"] is None and record["apply_status"] == {"solo": "applied"}
    assert record["outcome"] == "pass"
    half = evaluator.evaluate_pair(pair, "solo", {"solo": gold(pair, 0)}, backend, run)
    assert half["feature1"]["passed"] and not half["feature2"]["passed"] and half["outcome"] == "fail_tests"


def test_missing_runner_sh_is_an_error_naming_the_path(
    backend: LocalBackend, request: pytest.FixtureRequest, task_copy: Callable[[str, int], Task]
) -> None:
    task = task_copy("textkit_task", 1)
    (task.path / "runner.sh").unlink()
    pair = Pair(task.repo, task.task_id, (1, 3), task)
    record = coop(backend, request, pair, gold(pair, 0), gold(pair, 1))
    assert str(task.path / "runner.sh") in record["error"] and "add it to the task folder" in record["error"]
    assert record["outcome"] == "dataset_error"


def test_a_hanging_test_run_is_killed_at_its_timeout_and_recorded(
    backend: LocalBackend, request: pytest.FixtureRequest, task_copy: Callable[[str, int], Task]
) -> None:
    task = task_copy("textkit_task", 1)
    (task.path / "runner.sh").write_text("#!/bin/bash\necho 'collecting 3 tests'\nsleep 600\n")
    pair = Pair(task.repo, task.task_id, (1, 3), task)
    started = time.monotonic()
    record = coop(backend, request, pair, gold(pair, 0), gold(pair, 1), timeout=2)
    assert time.monotonic() - started < 60
    for key in ("feature1", "feature2"):
        assert record[key]["timed_out"] and not record[key]["passed"] and record[key]["ran"]
        assert (
            "collecting 3 tests" in record[key]["test_output"]
            and "exceeded its 2s timeout" in record[key]["test_output"]
        )
        assert 2 <= record[key]["duration"] < 20
    assert record["outcome"] == "timeout" and record["attribution"] is None


def test_an_unbuildable_task_image_is_an_infra_error(
    backend: LocalBackend, request: pytest.FixtureRequest, task_copy: Callable[[str, int], Task]
) -> None:
    task = task_copy("textkit_task", 1)
    (task.path / "setup.sh").write_text("#!/bin/bash\necho 'cannot clone' >&2\nexit 7\n")
    (task.path / "repo.bundle").unlink()
    (task.path / "Dockerfile").unlink()
    pair = Pair(task.repo, task.task_id, (1, 3), task)
    record = coop(backend, request, pair, gold(pair, 0), gold(pair, 1))
    assert record["error"] and record["error"].startswith("SandboxError")
    assert record["outcome"] == "infra_error" and not record["both_passed"]


def test_an_unknown_setting_is_reported_without_creating_a_sandbox(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 3)
    run = run_labels(request)
    record = MergeEvaluator().evaluate_pair(pair, "trio", {"agent1": gold(pair, 0)}, backend, run)
    assert record["error"].startswith("ConfigError: setting must be coop, solo or team, got 'trio'")
    assert record["outcome"] == "infra_error" and backend.resources(run.run_name) == []


# --- N agents ---------------------------------------------------------------------------------


def test_three_agents_are_folded_in_order_and_every_feature_is_graded(
    backend: LocalBackend, request: pytest.FixtureRequest, examples: Any
) -> None:
    from cooperbench.dataset import load_task

    task = load_task(examples / "textkit_task" / "task1", "textkit_task")
    assert task is not None
    pair = Pair("textkit_task", 1, (1, 3, 4), task)
    f1, f3, f4 = (task.feature_file(f, "feature.patch").read_text() for f in (1, 3, 4))
    f4_code = without_file(f4, "README.md")  # no README conflict with f3: the fold is clean
    run = run_labels(request)
    record = MergeEvaluator().evaluate_pair(pair, "coop", {"agent1": f1, "agent2": f3, "agent3": f4_code}, backend, run)
    assert record["features"] == [1, 3, 4] and record["agents"] == ["agent1", "agent2", "agent3"]
    steps = record["merge"]["steps"]
    assert [(s["into"], s["merged"], s["status"]) for s in steps] == [
        ("agent2", "agent1", "clean"),
        ("agent3", "m2", "clean"),
    ]
    assert record["merge"]["status"] == "clean"
    assert [record[f"feature{i}"]["feature_id"] for i in (1, 2, 3)] == [1, 3, 4]
    assert [r["passed"] for r in record["feature_results"]] == [True, False, True]  # f3 broken by f4's truncate
    assert "test_output" not in record["feature_results"][0]
    assert not record["both_passed"] and record["outcome"] == "fail_tests"
    attribution = record["attribution"]
    assert attribution["category"] == "integration_failure" and set(attribution["agents"]) == {
        "agent1", "agent2", "agent3"
    }  # fmt: skip
    assert attribution["agents"]["agent2"]["alone_passed"] is True


def test_three_agents_with_conflicts_under_each_policy(
    backend: LocalBackend, request: pytest.FixtureRequest, examples: Any
) -> None:
    from cooperbench.dataset import load_task

    task = load_task(examples / "textkit_task" / "task1", "textkit_task")
    assert task is not None
    pair = Pair("textkit_task", 1, (1, 2, 3), task)
    patches = {f"agent{i}": task.feature_file(f, "feature.patch").read_text() for i, f in enumerate((1, 2, 3), 1)}
    run = run_labels(request)
    paper = MergeEvaluator(policy="paper").evaluate_pair(pair, "coop", patches, backend, run)
    assert paper["merge"]["strategy"] == "union" and paper["merge"]["union_status"] == "clean"
    assert paper["merge"]["steps"][0]["status"] == "conflicts" and paper["merge"]["steps"][0]["union_status"] == "clean"
    assert len(paper["merge"]["steps"]) == 2
    assert [r["passed"] for r in paper["feature_results"]] == [True, True, True] and paper["outcome"] == "pass"
    upstream = MergeEvaluator(policy="upstream").evaluate_pair(pair, "coop", patches, backend, run)
    assert upstream["merge"]["status"] == "conflicts" and len(upstream["merge"]["steps"]) == 1  # the fold stops
    assert [r["passed"] for r in upstream["merge"]["lead_alone"]["results"]] == [True, False]
    assert len(upstream["feature_results"]) == 3 and not any(r["ran"] for r in upstream["feature_results"])
    assert upstream["outcome"] == "merge_conflict"


def test_solo_grades_every_feature_of_a_tuple(
    backend: LocalBackend, request: pytest.FixtureRequest, examples: Any
) -> None:
    from cooperbench.dataset import load_task

    task = load_task(examples / "textkit_task" / "task1", "textkit_task")
    assert task is not None
    pair = Pair("textkit_task", 1, (1, 2, 4), task)
    combined = (task.path / "combined.patch").read_text()  # every feature of the task, reconciled
    record = MergeEvaluator().evaluate_pair(pair, "solo", {"solo": combined}, backend, run_labels(request))
    assert record["agents"] == ["solo"] and len(record["feature_results"]) == 3
    assert all(record[f"feature{i}"]["passed"] for i in (1, 2, 3)) and record["outcome"] == "pass"
