"""The test-output parsers read each runner's own summary lines (fixtures: fixtures/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cooperbench.evaluation.parsers import TestCounts, parse_pytest, parse_test_output

FIXTURES = Path(__file__).parent / "fixtures"

# fixture: (passed, failed, errors, skipped, runners)
EXPECTED: dict[str, tuple[int, int, int, int, tuple[str, ...]]] = {
    "pytest/passing.txt": (5, 0, 0, 0, ("pytest",)),
    "pytest/failing.txt": (1, 1, 1, 1, ("pytest",)),
    "pytest/collection_error.txt": (0, 0, 1, 0, ("pytest",)),
    "pytest/skipped.txt": (0, 0, 0, 2, ("pytest",)),
    "pytest/deselected.txt": (0, 0, 0, 0, ("pytest",)),
    "pytest/no_tests_ran.txt": (0, 0, 0, 0, ("pytest",)),
    "pytest/quiet.txt": (6, 1, 1, 1, ("pytest",)),
    "pytest/xdist_passing.txt": (5, 0, 0, 0, ("pytest",)),
    "pytest/pip_logs_failing.txt": (6, 1, 1, 1, ("pytest",)),
    "pytest/pip_logs_passing.txt": (5, 0, 0, 0, ("pytest",)),
    # go -v counts subtests too (TestAddTable + its 2 subtests = 3), as upstream does
    "go/verbose_passing.txt": (4, 0, 0, 1, ("go",)),
    "go/verbose_cached.txt": (4, 0, 0, 1, ("go",)),
    "go/verbose_failing.txt": (6, 3, 1, 1, ("go",)),
    "go/packages_passing.txt": (1, 0, 0, 0, ("go",)),
    "go/packages_failing.txt": (1, 3, 1, 0, ("go",)),
    "go/build_failed.txt": (0, 0, 1, 0, ("go",)),
    "go/no_tests_to_run.txt": (0, 0, 0, 0, ()),
    "go/no_test_files.txt": (0, 0, 0, 0, ()),
    "cargo/passing.txt": (5, 0, 0, 1, ("cargo",)),
    "cargo/failing.txt": (3, 1, 0, 1, ("cargo",)),
    "cargo/failing_no_fail_fast.txt": (5, 1, 0, 1, ("cargo",)),
    "cargo/filtered_out.txt": (0, 0, 0, 0, ("cargo",)),
    "cargo/compile_error.txt": (0, 0, 1, 0, ("cargo",)),
    "cargo/download_failing.txt": (1, 1, 0, 0, ("cargo",)),
    "jest/passing.txt": (5, 0, 0, 1, ("jest",)),
    "jest/passing_verbose.txt": (5, 0, 0, 1, ("jest",)),
    "jest/failing.txt": (2, 1, 0, 1, ("jest",)),
    "jest/suite_failed_to_run.txt": (5, 0, 1, 1, ("jest",)),
    "jest/all_skipped.txt": (0, 0, 0, 2, ("jest",)),
    "jest/no_tests_found.txt": (0, 0, 0, 0, ()),
    "jest/npm_install_logs_failing.txt": (2, 1, 0, 1, ("jest",)),
    "vitest/passing.txt": (6, 0, 0, 0, ("vitest",)),
    "vitest/failing.txt": (5, 1, 0, 0, ("vitest",)),
    "vitest/skipped_todo.txt": (3, 0, 0, 4, ("vitest",)),
    "vitest/no_test_files.txt": (0, 0, 0, 0, ()),
    "vitest/file_failed_to_load.txt": (2, 0, 1, 0, ("vitest",)),
    "vitest/unhandled_error.txt": (2, 0, 1, 0, ("vitest",)),
    "vitest/colored_failing.txt": (3, 1, 0, 0, ("vitest",)),
    "vitest/npm_install_logs_passing.txt": (4, 0, 0, 0, ("vitest",)),
}


def test_every_fixture_has_an_expectation_and_a_readme_entry() -> None:
    files = {f"{p.parent.name}/{p.name}" for p in FIXTURES.glob("*/*.txt")}
    assert files == set(EXPECTED)
    readme = (FIXTURES / "README.md").read_text()
    for name in files:
        assert f"`{name.split('/', 1)[1]}`" in readme, f"{name} is not described in fixtures/README.md"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_counts_come_from_the_runner_summary(name: str) -> None:
    counts = parse_test_output((FIXTURES / name).read_text(encoding="utf-8"))
    assert (counts.passed, counts.failed, counts.errors, counts.skipped, counts.runners) == EXPECTED[name]


def test_numbers_in_pip_logs_and_test_names_are_not_counted() -> None:
    text = (FIXTURES / "pytest/pip_logs_passing.txt").read_text()
    assert "Requirement already satisfied" in text and "test_2_passed_in_name" in text
    assert parse_test_output(text).passed == 5


def test_jest_file_lines_are_not_mistaken_for_go_packages() -> None:
    counts = parse_test_output((FIXTURES / "jest/failing.txt").read_text())
    assert "FAIL ./sum.test.js" in (FIXTURES / "jest/failing.txt").read_text()
    assert counts.runners == ("jest",)


def test_crlf_and_carriage_return_progress_output_is_read() -> None:
    text = (FIXTURES / "cargo/passing.txt").read_text().replace("\n", "\r\n")
    assert parse_test_output("Compiling 1/7\rCompiling 7/7\r\n" + text).passed == 5


def test_old_pytest_seconds_and_long_durations_are_summaries() -> None:
    assert parse_pytest("==== 2 passed, 1 warning in 0.12 seconds ====").passed == 2
    assert parse_pytest("==== 1 failed, 40 passed in 125.31s (0:02:05) ====") == TestCounts(40, 1, 0, 0, ("pytest",))


def test_a_run_without_any_summary_counts_nothing() -> None:
    counts = parse_test_output("Installing dependencies...\nerror: patch failed: src/app.py:12\n3 passed\n")
    assert not counts.found and counts.passed == 0


_NOISE = st.one_of(
    st.builds(lambda n, v: f"Collecting pkg{n}=={v}.0.{n}", st.integers(0, 999), st.integers(0, 99)),
    st.builds(lambda n: f"  Downloading pkg-{n}.tar.gz ({n} kB)", st.integers(0, 99999)),
    st.builds(lambda n, m: f"Successfully installed a-{n} b-{m}", st.integers(0, 99), st.integers(0, 99)),
    st.builds(lambda n, m: f"{n} passed, {m} failed so far", st.integers(0, 99), st.integers(0, 99)),
    st.builds(lambda n: f"added {n} packages, and audited {n + 1} packages in 3s", st.integers(0, 999)),
    st.builds(lambda n: f"test_{n}_failed PASSED [ {n}%]", st.integers(0, 100)),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=60),
)


@given(noise=st.lists(_NOISE, max_size=30), name=st.sampled_from(sorted(EXPECTED)))
def test_install_log_noise_before_a_run_changes_no_count(noise: list[str], name: str) -> None:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    assert parse_test_output("\n".join(noise) + "\n" + text) == parse_test_output(text)


_PYTEST_WORDS = ("failed", "passed", "skipped", "deselected", "xfailed", "xpassed", "warnings", "errors")


@given(
    counts=st.dictionaries(st.sampled_from(_PYTEST_WORDS), st.integers(1, 10_000), min_size=1),
    quiet=st.booleans(),
    seconds=st.floats(0, 10_000, allow_nan=False).map(lambda s: round(s, 2)),
)
def test_any_pytest_summary_line_round_trips(counts: dict[str, int], quiet: bool, seconds: float) -> None:
    body = ", ".join(f"{n} {w}" for w, n in counts.items()) + f" in {seconds}s"
    line = body if quiet else f"{'=' * 10} {body} {'=' * 10}"
    parsed = parse_test_output(f"collected 3 items\n{line}\n")
    assert parsed == TestCounts(
        counts.get("passed", 0), counts.get("failed", 0), counts.get("errors", 0), counts.get("skipped", 0), ("pytest",)
    )
