"""Counting passed and failed tests from a test run's output, by each runner's own summary lines.

Every parser reads only the lines its runner writes to report results — pytest's final
``=== 3 passed, 1 failed in 0.1s ===`` line, go test's ``--- PASS:``/``--- FAIL:`` and package
``ok``/``FAIL`` lines, cargo's ``test result:`` lines, jest's ``Tests:`` line and vitest's
``Tests`` line — so numbers in install logs, test names or tracebacks are never counted.
Output may hold several runs (a ``runner.sh`` that runs two suites, cargo's one result per
test binary): counts are summed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "TestCounts",
    "parse_cargo",
    "parse_go",
    "parse_jest",
    "parse_pytest",
    "parse_test_output",
    "parse_vitest",
    "test_seconds",
]

# CSI sequences (colours, cursor moves) and OSC sequences (hyperlinks) that runners print on a TTY.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


@dataclass(frozen=True)
class TestCounts:
    """Tests counted in one output.

    Attributes:
        passed: tests that passed.
        failed: tests that failed.
        errors: tests or suites that could not run (pytest errors, failed builds, suites that failed to load).
        skipped: skipped, ignored or todo tests.
        runners: the runners whose summary lines were found (``"pytest"``, ``"go"``, ...).
    """

    __test__ = False  # not a pytest test class, despite the name

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    runners: tuple[str, ...] = field(default=())

    def __add__(self, other: TestCounts) -> TestCounts:
        return TestCounts(
            self.passed + other.passed,
            self.failed + other.failed,
            self.errors + other.errors,
            self.skipped + other.skipped,
            self.runners + tuple(r for r in other.runners if r not in self.runners),
        )

    @property
    def found(self) -> bool:
        """Whether any runner's summary was found."""
        return bool(self.runners)


def _clean(output: str) -> list[str]:
    # Progress bars redraw with bare CRs; each redraw is its own line for our purposes.
    text = _ANSI.sub("", output).replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


# --- pytest -----------------------------------------------------------------------------------

_PYTEST_TIME = r"in \d+(?:\.\d+)?\s?s(?:econds)?(?: \(\d+:\d\d:\d\d(?:\.\d+)?\))?"
_PYTEST_PART = r"\d+ [a-z]+(?: [a-z]+)?"
_PYTEST_BODY = re.compile(rf"^(?P<parts>{_PYTEST_PART}(?:, {_PYTEST_PART})*|no tests ran) {_PYTEST_TIME}$")
_PYTEST_BAR = re.compile(r"^=+ (?P<body>.+?) =+$")


def parse_pytest(output: str) -> TestCounts:
    """Sum pytest's final summary lines (``=== 1 failed, 2 passed, 1 error in 0.1s ===``, or bare with ``-q``).

    ``error``/``errors`` count as errors; ``skipped`` as skipped; ``xfailed``, ``xpassed``,
    ``deselected``, ``warnings`` are not counted. ``no tests ran`` is a run with zero tests.
    """
    total = TestCounts()
    for line in _clean(output):
        line = line.strip()
        bar = _PYTEST_BAR.match(line)
        body = _PYTEST_BODY.match(bar.group("body") if bar else line)
        if not body:
            continue
        counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
        if body.group("parts") != "no tests ran":
            for part in body.group("parts").split(", "):
                number, word = part.split(" ", 1)
                key = {"error": "errors", "errors": "errors"}.get(word, word)
                if key in counts:
                    counts[key] += int(number)
        total = total + TestCounts(runners=("pytest",), **counts)
    return total


# --- go test ----------------------------------------------------------------------------------

_GO_RESULT = re.compile(r"^\s*--- (PASS|FAIL|SKIP): \S")
_GO_RUN = re.compile(r"^=== RUN\s")
# go separates a package line's fields with a tab ("ok  \tpkg\t0.1s", "FAIL\tpkg [build failed]"),
# which tells them apart from jest's "FAIL ./sum.test.js".
_GO_OK = re.compile(r"^ok\s*\t\S+")
_GO_FAIL_PKG = re.compile(r"^FAIL\t\S+")
_GO_BUILD_FAILED = re.compile(r"^FAIL\t\S+\s+\[(?:build|setup) failed\]")


def parse_go(output: str) -> TestCounts:
    """Count go test results.

    With ``-v`` (``=== RUN`` lines present) every ``--- PASS:``/``--- FAIL:``/``--- SKIP:`` line
    counts, subtests included (as upstream counts them). Without ``-v`` go prints only failing
    tests: each ``--- FAIL:`` line is a failed test (or each ``FAIL`` package, if more), and each
    ``ok`` package that ran tests counts as one passed. A package that does not build
    (``[build failed]``) is an error either way.
    """
    results = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    verbose = False
    ok_pkgs = failed_pkgs = build_failed = 0
    for line in _clean(output):
        m = _GO_RESULT.match(line)
        if m:
            results[m.group(1)] += 1
        elif _GO_RUN.match(line):
            verbose = True
        elif _GO_BUILD_FAILED.match(line):
            build_failed += 1
        elif _GO_FAIL_PKG.match(line):
            failed_pkgs += 1
        elif _GO_OK.match(line) and "[no tests to run]" not in line:
            ok_pkgs += 1
    if verbose:
        return TestCounts(results["PASS"], results["FAIL"], build_failed, results["SKIP"], ("go",))
    if ok_pkgs or failed_pkgs or build_failed or results["FAIL"]:
        return TestCounts(ok_pkgs, max(results["FAIL"], failed_pkgs), build_failed, 0, ("go",))
    return TestCounts()


# --- cargo test -------------------------------------------------------------------------------

_CARGO_RESULT = re.compile(
    r"^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored; \d+ measured; \d+ filtered out"
)
_CARGO_COMPILE_ERROR = re.compile(r"^error: could not compile `")


def parse_cargo(output: str) -> TestCounts:
    """Sum every ``test result:`` line (one per test binary and doc-test run); ignored tests are skipped.

    A crate that does not compile (``error: could not compile``) counts as one error.
    """
    total = TestCounts()
    compile_errors = 0
    for line in _clean(output):
        m = _CARGO_RESULT.match(line.strip())
        if m:
            total = total + TestCounts(int(m.group(1)), int(m.group(2)), 0, int(m.group(3)), ("cargo",))
        elif _CARGO_COMPILE_ERROR.match(line):
            compile_errors += 1
    if compile_errors:
        total = total + TestCounts(errors=compile_errors, runners=("cargo",))
    return total


# --- jest -------------------------------------------------------------------------------------

_JEST_TESTS = re.compile(r"^Tests:\s+(?P<parts>(?:\d+ [a-z]+, )*)\d+ total$")
_JEST_SUITE_FAILED = re.compile(r"^\s*● Test suite failed to run")


def parse_jest(output: str) -> TestCounts:
    """Sum jest's ``Tests:  1 failed, 1 skipped, 2 passed, 4 total`` lines.

    ``skipped`` and ``todo`` count as skipped. A test file that fails to load (``● Test suite
    failed to run``) has no tests in that line; each counts as an error.
    """
    total = TestCounts()
    suite_errors = 0
    for line in _clean(output):
        stripped = line.strip()
        m = _JEST_TESTS.match(stripped)
        if m:
            counts = _words(m.group("parts").rstrip(", ").split(", "))
            total = total + TestCounts(
                counts.get("passed", 0),
                counts.get("failed", 0),
                0,
                counts.get("skipped", 0) + counts.get("todo", 0),
                ("jest",),
            )
        elif _JEST_SUITE_FAILED.match(line):
            suite_errors += 1
    if suite_errors and total.found:
        total = total + TestCounts(errors=suite_errors, runners=("jest",))
    return total


# --- vitest -----------------------------------------------------------------------------------

_VITEST_TESTS = re.compile(r"^Tests\s{2,}(?:(?P<parts>\d+ [a-z ]+?(?: \| \d+ [a-z ]+?)*) \(\d+\)|no tests)$")
_VITEST_FILES = re.compile(r"^Test Files\s{2,}(?P<parts>\d+ [a-z ]+?(?: \| \d+ [a-z ]+?)*) \(\d+\)$")
_VITEST_ERRORS = re.compile(r"^Errors\s{2,}(\d+) errors?$")


def parse_vitest(output: str) -> TestCounts:
    """Sum vitest's ``Tests  1 failed | 3 passed (4)`` lines.

    ``skipped`` and ``todo`` count as skipped, ``expected fail`` is not counted. Unhandled
    errors (``Errors  1 error``) and test files that failed without a failing test (a file
    that does not load) count as errors.
    """
    total = TestCounts()
    errors = 0
    failed_files = 0
    for line in _clean(output):
        stripped = line.strip()
        m = _VITEST_TESTS.match(stripped)
        if m:
            counts = _words(m.group("parts").split(" | ")) if m.group("parts") else {}
            total = total + TestCounts(
                counts.get("passed", 0),
                counts.get("failed", 0),
                0,
                counts.get("skipped", 0) + counts.get("todo", 0),
                ("vitest",),
            )
            continue
        files = _VITEST_FILES.match(stripped)
        if files:
            failed_files += _words(files.group("parts").split(" | ")).get("failed", 0)
            continue
        err = _VITEST_ERRORS.match(stripped)
        if err:
            errors += int(err.group(1))
    if total.found and total.failed == 0 and failed_files:
        errors += failed_files
    if errors and total.found:
        total = total + TestCounts(errors=errors, runners=("vitest",))
    return total


def _words(parts: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for part in parts:
        number, _, word = part.strip().partition(" ")
        if number.isdigit():
            counts[word] = counts.get(word, 0) + int(number)
    return counts


_PARSERS: tuple[Callable[[str], TestCounts], ...] = (parse_pytest, parse_go, parse_cargo, parse_jest, parse_vitest)


def parse_test_output(output: str) -> TestCounts:
    """Count the tests of a run's output with every runner's parser, summing what they find.

    Args:
        output: the test command's combined stdout and stderr (ANSI colours are fine).

    Returns:
        The counts; ``runners`` is empty when no runner's summary line was found, which means
        the tests did not run (or the output was cut before the summary).
    """
    total = TestCounts()
    for parse in _PARSERS:
        counts = parse(output)
        if counts.found:
            total = total + counts
    return total


# --- the tests' own time ----------------------------------------------------------------------

_TIME_LINES = (
    # pytest's summary line ("=== 5 passed in 0.01s ===", "no tests ran in 0.00s")
    re.compile(
        rf"^=*\s*(?:{_PYTEST_PART}(?:, {_PYTEST_PART})*|no tests ran) in (?P<value>\d+(?:\.\d+)?)\s?s(?:econds)?\b"
    ),
    # go's package lines ("ok  \tpkg\t0.003s", "FAIL\tpkg\t0.01s")
    re.compile(r"^(?:ok|FAIL)\s*\t\S+\t(?P<value>\d+(?:\.\d+)?)s\b"),
    # cargo: building the test binaries, then each binary's run
    re.compile(r"^\s*Finished `test` profile .* in (?P<value>\d+(?:\.\d+)?)s$"),
    re.compile(r"^test result: .*; finished in (?P<value>\d+(?:\.\d+)?)s$"),
    # jest ("Time:        0.318 s") and vitest ("Duration  1.23s (transform 10ms, ...)")
    re.compile(r"^Time:\s+(?P<value>\d+(?:\.\d+)?) ?(?P<unit>ms|s)\b"),
    re.compile(r"^Duration\s+(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|s)\b"),
)


def test_seconds(output: str) -> float | None:
    """The time the test frameworks themselves report in ``output``, summed over every run found.

    That is the tests' own time, without what ``runner.sh`` spends around them (installs,
    applying patches). ``None`` when no framework reported a time.
    """
    total, found = 0.0, False
    for line in _clean(output):
        stripped = line.strip() if not line.startswith(("ok", "FAIL")) else line
        for pattern in _TIME_LINES:
            m = pattern.match(stripped)
            if m:
                value = float(m.group("value"))
                unit = m.groupdict().get("unit")
                total += value / 1000 if unit == "ms" else value
                found = True
                break
    return round(total, 3) if found else None


test_seconds.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite the name
