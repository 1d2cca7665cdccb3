"""The git and test steps an evaluation runs inside one sandbox.

Patches reach the sandbox as files under ``/patches`` (``Sandbox.write_file``), never in a
command line; the scripts below only ever interpolate our own constants, branch names and
a commit id checked to be hexadecimal.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from cooperbench.backends.base import PATCHES_DIR, REPO_DIR, Sandbox
from cooperbench.errors import SandboxError
from cooperbench.evaluation.base import clip
from cooperbench.evaluation.parsers import parse_test_output

# Identity and safety switches for the commits and merges the evaluation makes: no hooks
# from the task repository run, no signing prompt can hang.
_GIT = (
    "git -c user.name=CooperBench -c user.email=eval@cooperbench.invalid "
    "-c commit.gpgsign=false -c core.hooksPath=/dev/null -c advice.detachedHead=false"
)
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_SETUP_TIMEOUT = 300.0

#: The runner script is written here, so the task folder's runner.sh is the one that runs
#: even when the image has its own /usr/local/bin/runner.sh.
RUNNER_PATH = f"{PATCHES_DIR}/runner.sh"


@dataclass
class TestRun:
    """One ``runner.sh <tests> <patch>`` run."""

    __test__ = False

    passed: bool
    exit_code: int
    tests_passed: int
    tests_failed: int
    tests_skipped: int
    output: str
    timed_out: bool
    duration: float

    def record(self, feature_id: int) -> dict[str, Any]:
        return {
            "feature_id": feature_id,
            "passed": self.passed,
            "ran": True,
            "exit_code": self.exit_code,
            "tests_passed": self.tests_passed,
            "tests_failed": self.tests_failed,
            "tests_skipped": self.tests_skipped,
            "test_output": clip(self.output),
            "timed_out": self.timed_out,
            "duration": round(self.duration, 3),
        }


def _run(sandbox: Sandbox, script: str, what: str, timeout: float = _SETUP_TIMEOUT) -> str:
    result = sandbox.exec(script, timeout=timeout, cwd=REPO_DIR)
    if result.timed_out:
        raise SandboxError(f"evaluation step {what!r} timed out after {timeout:.0f}s in sandbox {sandbox.id}")
    return result.output


def _apply_script(branch: str) -> str:
    # `git apply`, then `git apply --3way`; a patch that fails both leaves its branch at the base
    # (an empty commit), so nothing half-applied is merged or tested.
    return f"""
p={PATCHES_DIR}/{branch}.patch
{_GIT} checkout -q --force -B {branch} "$BASE" || exit 3
if [ ! -s "$p" ]; then status=skipped
elif {_GIT} apply "$p"; then status=applied
elif {_GIT} apply --3way "$p"; then status=applied
else status=failed; failed=1; {_GIT} reset -q --hard "$BASE"; git clean -fdq; fi
{_GIT} add -A && {_GIT} commit -q --allow-empty --no-verify -m {branch} || exit 4
{_GIT} diff --binary "$BASE" {branch} > {PATCHES_DIR}/{branch}.applied.patch || exit 5
echo "COOPERBENCH_APPLY {branch} $status"
"""


def _merge_script(kind: str) -> str:
    # agent1 is merged into agent2, upstream's direction (the union merge keeps agent2's side
    # of a conflict first). The union attribute goes in $GIT_DIR/info/attributes, which outranks
    # the repository's own .gitattributes without touching the tree.
    attr_on = attr_off = ""
    if kind == "union":
        attr_on = (
            'attr=$(git rev-parse --git-path info/attributes); mkdir -p "$(dirname "$attr")"; '
            '[ -f "$attr" ] && cp "$attr" "$attr.cooperbench"; echo "* merge=union" >> "$attr"'
        )
        attr_off = 'if [ -f "$attr.cooperbench" ]; then mv "$attr.cooperbench" "$attr"; else rm -f "$attr"; fi'
    return f"""
{_GIT} checkout -q --force agent2 || exit 6
{attr_on}
if {_GIT} merge --no-ff --no-commit agent1; then
  {_GIT} commit -q --no-verify -m merge || exit 7
  {_GIT} diff --binary "$BASE" HEAD > {PATCHES_DIR}/merged.patch || exit 8
  merged=clean
else
  echo COOPERBENCH_CONFLICTS_BEGIN {kind}
  git diff --name-only --diff-filter=U
  echo COOPERBENCH_CONFLICTS_END {kind}
  {_GIT} merge --abort 2>/dev/null || {_GIT} reset -q --hard
  merged=conflicts
fi
{attr_off}
echo "COOPERBENCH_MERGE {kind} $merged"
"""


@dataclass
class MergeResult:
    clean: bool
    conflict_files: list[str]


@dataclass
class Prepared:
    """What :func:`prepare` did: the base commit, each branch's apply status, the merges tried."""

    base: str
    apply_status: dict[str, str]
    naive: MergeResult | None = None
    union: MergeResult | None = None


def _merge_result(out: str, kind: str) -> MergeResult | None:
    m = re.search(rf"^COOPERBENCH_MERGE {kind} (clean|conflicts)$", out, re.MULTILINE)
    if not m:
        return None
    block = re.search(
        rf"^COOPERBENCH_CONFLICTS_BEGIN {kind}\n(.*?)^COOPERBENCH_CONFLICTS_END {kind}$", out, re.MULTILINE | re.DOTALL
    )
    files = [line for line in block.group(1).splitlines() if line.strip()] if block else []
    return MergeResult(clean=m.group(1) == "clean", conflict_files=files)


def prepare(sandbox: Sandbox, branches: tuple[str, ...], *, merge: bool) -> Prepared:
    """Apply each ``/patches/<branch>.patch`` on its own branch from the base commit and, if
    ``merge``, merge ``agent1`` into ``agent2`` naively, then with the union driver on conflict.

    One command does it all (each command costs a sandbox round trip). Each branch's applied
    change is left as ``/patches/<branch>.applied.patch`` (git's own diff of what applied), and a
    merge that goes through as ``/patches/merged.patch``. No merge is tried when a patch failed.

    Returns:
        The base commit, ``{branch: "applied" | "skipped" | "failed"}`` and the merge results.

    Raises:
        SandboxError: git itself failed, or the repository has no commit (not a task image).
    """
    merges = ""
    if merge:
        union = _merge_script("union").replace("\n", "\n  ")
        merges = f"""
if [ "$failed" = 0 ]; then
{_merge_script("naive")}
  if [ "$merged" = conflicts ]; then {union}
  fi
fi"""
    script = f"""
cd {REPO_DIR} || exit 2
BASE=$(git rev-parse HEAD) || exit 2
echo "COOPERBENCH_BASE $BASE"
failed=0
{"".join(_apply_script(b) for b in branches)}
{merges}
echo COOPERBENCH_DONE
"""
    out = _run(sandbox, script, "apply and merge")
    base = re.search(r"^COOPERBENCH_BASE (\S+)$", out, re.MULTILINE)
    statuses = dict(re.findall(r"^COOPERBENCH_APPLY (\S+) (applied|skipped|failed)$", out, re.MULTILINE))
    if not (base and _SHA.match(base.group(1))) or "COOPERBENCH_DONE" not in out or set(statuses) != set(branches):
        raise SandboxError(
            f"applying the patches in {REPO_DIR} failed in sandbox {sandbox.id} (is it a task image with "
            f"git and a committed repository?): {out[-1500:]}"
        )
    return Prepared(base.group(1), statuses, _merge_result(out, "naive"), _merge_result(out, "union"))


def read_text(sandbox: Sandbox, path: str) -> str:
    """A sandbox file as text (invalid UTF-8 replaced)."""
    return sandbox.read_file(path).decode("utf-8", "replace")


def run_tests(sandbox: Sandbox, base: str, tests_file: str, patch_file: str, *, timeout: float) -> TestRun:
    """Reset the repository to ``base`` and run ``bash /patches/runner.sh <tests_file> <patch_file>``.

    A feature passes when the command exits 0 and at least one test passed (parsed from its
    output). A run that hits ``timeout`` is killed and recorded as failed and ``timed_out``.

    Raises:
        SandboxError: the sandbox is gone.
    """
    reset = (
        f"cd {REPO_DIR} && rm -f .git/index.lock && {_GIT} checkout -q --force {base} "
        f"&& {_GIT} reset -q --hard {base} && git clean -fdxq && echo COOPERBENCH_RESET"
    )
    out = _run(sandbox, reset, "reset to base")
    if "COOPERBENCH_RESET" not in out:
        raise SandboxError(f"cannot reset {REPO_DIR} to {base} in sandbox {sandbox.id}: {out[-1000:]}")
    started = time.monotonic()
    result = sandbox.exec(f"bash {RUNNER_PATH} {tests_file} {patch_file}", timeout=timeout, cwd=REPO_DIR)
    duration = result.duration or (time.monotonic() - started)
    output = result.output
    if result.timed_out:
        output += f"\n[cooperbench] killed: the test run exceeded its {timeout:.0f}s timeout\n"
    counts = parse_test_output(result.output)
    return TestRun(
        passed=not result.timed_out and result.returncode == 0 and counts.passed > 0,
        exit_code=result.returncode,
        tests_passed=counts.passed,
        tests_failed=counts.failed + counts.errors,
        tests_skipped=counts.skipped,
        output=output,
        timed_out=result.timed_out,
        duration=duration,
    )
