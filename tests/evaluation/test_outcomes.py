"""The one outcome enum, the one pass-rate definition, and how a pair's outcome is decided."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cooperbench.evaluation.attribution import classify
from cooperbench.outcomes import FAILURE_PRECEDENCE, Outcome, agent_status_outcome, decide_outcome, pass_rate


def test_the_outcomes_are_the_designed_eight_and_dataset_error() -> None:
    assert [o.value for o in Outcome] == [
        "pass", "fail_tests", "merge_conflict", "apply_failed", "no_patch", "agent_error", "infra_error", "timeout",
        "dataset_error",
    ]  # fmt: skip
    assert set(FAILURE_PRECEDENCE) == set(Outcome) - {Outcome.PASS}
    assert str(Outcome.NO_PATCH) == "no_patch" and Outcome("pass") is Outcome.PASS


def test_pass_rate_counts_infra_errors_unless_told_and_says_so() -> None:
    outcomes = ["pass", "pass", "fail_tests", "infra_error"]
    counted = pass_rate(outcomes)
    assert counted["pass_rate"] == 0.5 and counted["counted"] == 4 and counted["infra_errors"] == 1
    assert counted["infra_errors_excluded"] is False and "counted as not passed" in counted["definition"]
    excluded = pass_rate(outcomes, exclude_infra=True)
    assert excluded["pass_rate"] == pytest.approx(2 / 3) and excluded["counted"] == 3
    assert excluded["infra_errors_excluded"] is True and "excluded" in excluded["definition"]


def test_pass_rate_of_nothing_is_zero_over_zero_pairs() -> None:
    assert pass_rate([]) == {**pass_rate([]), "pass_rate": 0.0, "counted": 0, "total": 0}
    assert pass_rate(["infra_error"], exclude_infra=True)["pass_rate"] == 0.0


def test_pass_rate_rejects_what_is_not_an_outcome() -> None:
    with pytest.raises(ValueError, match="pending_eval"):
        pass_rate(["pass", "pending_eval"])


@given(st.lists(st.sampled_from(list(Outcome))), st.booleans())
def test_pass_rate_is_passed_over_counted(outcomes: list[Outcome], exclude: bool) -> None:
    rate = pass_rate(outcomes, exclude_infra=exclude)
    infra = outcomes.count(Outcome.INFRA_ERROR)
    dataset = outcomes.count(Outcome.DATASET_ERROR)
    assert rate["total"] == len(outcomes) and rate["dataset_errors"] == dataset
    assert rate["counted"] == len(outcomes) - dataset - (infra if exclude else 0)
    assert rate["passed"] == outcomes.count(Outcome.PASS) <= rate["counted"]
    assert rate["pass_rate"] == (rate["passed"] / rate["counted"] if rate["counted"] else 0.0)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Submitted", None),
        ("LimitsExceeded", None),
        ("Error", Outcome.AGENT_ERROR),
        ("agent_error", Outcome.AGENT_ERROR),
        ("Timeout", Outcome.TIMEOUT),
        ("infra_error", Outcome.INFRA_ERROR),
        (Outcome.TIMEOUT, Outcome.TIMEOUT),
        ("DatasetError", Outcome.DATASET_ERROR),
        (Outcome.PASS, None),
        (None, None),
    ],
)
def test_agent_status_outcome(status: str | Outcome | None, expected: Outcome | None) -> None:
    assert agent_status_outcome(status) is expected


def _eval(**overrides: object) -> dict[str, object]:
    record: dict[str, object] = {
        "apply_status": {"agent1": "applied", "agent2": "applied"},
        "merge": {"status": "clean", "strategy": "naive", "diff": "x"},
        "feature1": {"passed": True, "timed_out": False},
        "feature2": {"passed": False, "timed_out": False},
        "both_passed": False,
        "error": None,
    }
    record.update(overrides)
    return record


def test_a_passing_pair_passes_whatever_its_agents_reported() -> None:
    assert decide_outcome(_eval(both_passed=True), {"agent1": "Error"}) is Outcome.PASS


@pytest.mark.parametrize(
    ("record", "statuses", "expected"),
    [
        (_eval(), {}, Outcome.FAIL_TESTS),
        (_eval(), {"agent1": "Submitted", "agent2": "Error"}, Outcome.AGENT_ERROR),
        (_eval(), {"agent1": "Timeout", "agent2": "infra_error"}, Outcome.INFRA_ERROR),
        (_eval(apply_status={"agent1": "failed", "agent2": "skipped"}), {}, Outcome.APPLY_FAILED),
        (_eval(apply_status={"agent1": "applied", "agent2": "skipped"}), {}, Outcome.NO_PATCH),
        (
            _eval(merge={"status": "conflicts", "strategy": "union", "union_status": "conflicts"}),
            {},
            Outcome.MERGE_CONFLICT,
        ),
        (_eval(merge={"status": "conflicts", "strategy": "union", "union_status": "clean"}), {}, Outcome.FAIL_TESTS),
        # upstream records: union without union_status means the union merge went through; newer
        # upstream (no union fallback) keeps "naive" on a conflict
        (_eval(merge={"status": "conflicts", "strategy": "union"}), {}, Outcome.FAIL_TESTS),
        (_eval(merge={"status": "conflicts", "strategy": "solo-agent1"}), {}, Outcome.MERGE_CONFLICT),
        (_eval(feature2={"passed": False, "timed_out": True}), {}, Outcome.TIMEOUT),
        (_eval(error="SandboxError: gone"), {}, Outcome.INFRA_ERROR),
        (_eval(error="DatasetError: x/runner.sh: missing", error_kind="dataset_error"), {}, Outcome.DATASET_ERROR),
        (None, {"agent1": "Error"}, Outcome.INFRA_ERROR),
        (_eval(apply_status={"solo": "skipped"}, merge=None), {"solo": "Submitted"}, Outcome.NO_PATCH),
    ],
)
def test_decide_outcome_takes_the_first_reason_by_precedence(
    record: dict[str, object] | None, statuses: dict[str, str], expected: Outcome
) -> None:
    assert decide_outcome(record, statuses) is expected


@pytest.mark.parametrize(
    ("merged_ok", "alone_ok", "naive", "union", "expected"),
    [
        ({"agent1": True, "agent2": True}, {}, True, None, None),
        ({"agent1": True, "agent2": True}, {}, False, True, "union_rescued"),
        ({}, {}, False, False, "merge_conflict"),
        ({"agent1": False, "agent2": True}, {"agent1": False}, True, None, "own_implementation_failed"),
        (
            {"agent1": False, "agent2": False},
            {"agent1": False, "agent2": False},
            True,
            None,
            "own_implementation_failed",
        ),
        ({"agent1": False, "agent2": True}, {"agent1": True}, True, None, "integration_failure"),
        ({"agent1": False, "agent2": False}, {"agent1": True, "agent2": True}, False, True, "integration_failure"),
        ({"agent1": False, "agent2": False}, {"agent1": True, "agent2": False}, True, None, "partner_breakage"),
    ],
)
def test_failure_attribution_categories(
    merged_ok: dict[str, bool], alone_ok: dict[str, bool], naive: bool, union: bool | None, expected: str | None
) -> None:
    assert classify(merged_ok=merged_ok, alone_ok=alone_ok, naive_clean=naive, union_clean=union) == expected


def test_pass_rate_never_counts_dataset_errors_and_says_so() -> None:
    rate = pass_rate(["pass", "fail_tests", "dataset_error", "dataset_error"])
    assert rate["pass_rate"] == 0.5 and rate["counted"] == 2 and rate["total"] == 4 and rate["dataset_errors"] == 2
    assert "2 dataset_error pair(s) not counted" in rate["definition"]
    assert "dataset_error" not in pass_rate(["pass"])["definition"]
