"""Memoized test runs: the same run is never made twice, and a reused run is graded as a fresh one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from cooperbench.backends.base import RunLabels
from cooperbench.backends.local import LocalBackend
from cooperbench.dataset import Pair
from cooperbench.evaluation.memo import RawRun, TestMemo, test_key, test_memo
from cooperbench.evaluation.merge import MergeEvaluator

from .conftest import gold

KEY = dict(backend="local", image="img", base="b" * 40, left_after_reset="", runner="r", tests="t", patch="p")


def run_of(seconds: float, *, timed_out: bool = False) -> RawRun:
    return RawRun("=== 1 passed in 0.01s ===", 0, timed_out, seconds)


def test_the_key_changes_with_every_input() -> None:
    keys = {test_key(**KEY)} | {test_key(**{**KEY, name: "other"}) for name in KEY}
    assert len(keys) == len(KEY) + 1


def test_a_run_is_made_once_and_reused() -> None:
    memo, calls = TestMemo(), []

    def compute() -> RawRun:
        calls.append(1)
        return run_of(1.0)

    first, reused_first = memo.run("k", 60, compute)
    second, reused_second = memo.run("k", 60, compute)
    assert (reused_first, reused_second) == (False, True) and first == second and len(calls) == 1
    assert (memo.hits, memo.misses) == (1, 1)


def test_a_timed_out_run_is_never_reused_and_a_slow_one_not_under_a_shorter_limit() -> None:
    memo = TestMemo()
    memo.run("hang", 5, lambda: run_of(5.0, timed_out=True))
    assert memo.run("hang", 5, lambda: run_of(1.0))[1] is False
    memo.run("slow", 60, lambda: run_of(30.0))
    assert memo.run("slow", 10, lambda: run_of(1.0))[1] is False  # it would have been killed at 10 s
    assert memo.run("slow", 60, lambda: run_of(99.0))[1] is True


def test_two_threads_asking_for_one_run_get_one_run() -> None:
    memo, calls, started = TestMemo(), [], threading.Event()

    def compute() -> RawRun:
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return run_of(0.3)

    results: list[tuple[RawRun, bool]] = []
    threads = [threading.Thread(target=lambda: results.append(memo.run("k", 60, compute))) for _ in range(2)]
    threads[0].start()
    assert started.wait(10)
    threads[1].start()
    for t in threads:
        t.join(30)
    assert len(calls) == 1 and sorted(r for _, r in results) == [False, True]


def test_a_failed_run_does_not_block_the_key() -> None:
    memo = TestMemo()

    def boom() -> RawRun:
        raise RuntimeError("sandbox gone")

    with pytest.raises(RuntimeError):
        memo.run("k", 60, boom)
    assert memo.run("k", 60, lambda: run_of(1.0))[1] is False


def test_the_memo_is_bounded() -> None:
    memo = TestMemo(max_entries=2)
    for key in ("a", "b", "c"):
        memo.run(key, 60, lambda: run_of(1.0))
    assert memo.run("a", 60, lambda: run_of(1.0))[1] is False  # evicted, least recently used
    assert memo.run("c", 60, lambda: run_of(1.0))[1] is True


def test_evaluating_a_pair_again_reuses_its_test_runs_with_the_same_verdicts(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 3, 4)
    patches = {"agent1": gold(pair, 0), "agent2": gold(pair, 1)}
    run = RunLabels(f"evaltest-{request.node.name[:40]}")
    test_memo().clear()
    first = MergeEvaluator(policy="paper").evaluate_pair(pair, "coop", patches, backend, run)
    again = MergeEvaluator(policy="paper").evaluate_pair(pair, "coop", patches, backend, run)
    assert first["outcome"] == again["outcome"] == "fail_tests"  # union merge; f3 fails, alone it passes
    for key in ("feature1", "feature2"):
        assert not first[key]["memoized"] and again[key]["memoized"]
        assert {k: v for k, v in first[key].items() if k != "memoized"} == {
            k: v for k, v in again[key].items() if k != "memoized"
        }
    assert first["attribution"] == again["attribution"] or (
        first["attribution"]["category"] == again["attribution"]["category"] == "integration_failure"
    )
    # a policy whose reset leaves the same tree shares the runs: upstream's lead-alone run of f3 on
    # agent1's patch is the attribution's alone run of paper
    upstream = MergeEvaluator(policy="upstream").evaluate_pair(pair, "coop", patches, backend, run)
    assert upstream["merge"]["lead_alone"]["results"][0]["memoized"]
    # without memoization every run is made
    fresh = MergeEvaluator(policy="paper", memoize=False).evaluate_pair(pair, "coop", patches, backend, run)
    assert not fresh["feature1"]["memoized"] and fresh["outcome"] == "fail_tests"


def test_another_patch_is_another_run(
    backend: LocalBackend, request: pytest.FixtureRequest, get_pair: Callable[..., Pair]
) -> None:
    pair = get_pair("textkit_task", 1, 1, 3)
    run = RunLabels(f"evaltest-{request.node.name[:40]}")
    evaluator = MergeEvaluator()
    test_memo().clear()
    evaluator.evaluate_pair(pair, "solo", {"solo": gold(pair, 0)}, backend, run)
    other = evaluator.evaluate_pair(pair, "solo", {"solo": gold(pair, 1)}, backend, run)
    assert not other["feature1"]["memoized"] and not other["feature2"]["memoized"]
    assert not other["feature1"]["passed"] and other["feature2"]["passed"]
