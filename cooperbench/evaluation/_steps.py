"""The git and test steps an evaluation runs inside one sandbox.

Patches reach the sandbox as files under ``/patches`` (``Sandbox.write_file``), never in a
command line; the scripts below only ever interpolate our own constants, branch names, git
``clean`` flags of a policy and a commit id checked to be hexadecimal.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cooperbench.backends.base import PATCHES_DIR, REPO_DIR, Sandbox
from cooperbench.errors import SandboxError
from cooperbench.evaluation.base import clip
from cooperbench.evaluation.memo import RawRun, TestMemo, test_key
from cooperbench.evaluation.parsers import parse_test_output, test_seconds

# Identity and safety switches for the commits and merges the evaluation makes: no hooks
# from the task repository run, no signing prompt can hang.
_GIT = (
    "git -c user.name=CooperBench -c user.email=eval@cooperbench.invalid "
    "-c commit.gpgsign=false -c core.hooksPath=/dev/null -c advice.detachedHead=false"
)
# A diff as `git apply` expects it whatever the repository's configuration says.
_DIFF = f"{_GIT} diff --binary --no-color --no-ext-diff --no-textconv --src-prefix=a/ --dst-prefix=b/"
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_CLEAN_FLAGS = {"-fd", "-fdx"}
_SETUP_TIMEOUT = 300.0
#: Longest git output kept for a patch that does not apply.
_APPLY_ERROR_CHARS = 8000

#: The runner script is written here, so the task folder's runner.sh is the one that runs
#: even when the image has its own /usr/local/bin/runner.sh.
RUNNER_PATH = f"{PATCHES_DIR}/runner.sh"


@dataclass
class TestRun:
    """One ``runner.sh <tests> <patch>`` run (or a memoized one: ``memoized``)."""

    __test__ = False

    passed: bool
    exit_code: int
    tests_passed: int
    tests_failed: int
    tests_skipped: int
    output: str
    timed_out: bool
    duration: float
    test_seconds: float | None = None
    memoized: bool = False

    @property
    def ran_tests(self) -> bool:
        """Whether the test framework reported any test (passed, failed, errored or skipped)."""
        return (self.tests_passed + self.tests_failed + self.tests_skipped) > 0

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
            "test_seconds": self.test_seconds,
            "memoized": self.memoized,
        }


def _run(sandbox: Sandbox, script: str, what: str, timeout: float = _SETUP_TIMEOUT) -> str:
    result = sandbox.exec(script, timeout=timeout, cwd=REPO_DIR)
    if result.timed_out:
        raise SandboxError(f"evaluation step {what!r} timed out after {timeout:.0f}s in sandbox {sandbox.id}")
    return result.output


def _apply_script(branch: str) -> str:
    # `git apply`, then `git apply --3way`; a patch that fails both leaves its branch at the base
    # (an empty commit), so nothing half-applied is merged or tested. git's own messages of both
    # attempts are kept for eval.json (they name the file and the hunk that did not apply).
    return f"""
p={PATCHES_DIR}/{branch}.patch
{_GIT} checkout -q --force -B {branch} "$BASE" || exit 3
if [ ! -s "$p" ]; then status=skipped
elif plain=$({_GIT} apply --verbose "$p" 2>&1); then status=applied
elif threeway=$({_GIT} apply --3way "$p" 2>&1); then status=applied
else
  status=failed; failed=1
  echo "COOPERBENCH_APPLY_ERROR_BEGIN {branch}"
  printf '$ git apply --verbose {branch}.patch\\n%s\\n$ git apply --3way {branch}.patch\\n%s\\n' "$plain" "$threeway"
  echo "COOPERBENCH_APPLY_ERROR_END {branch}"
  {_GIT} reset -q --hard "$BASE"; git clean -fdq
fi
{_GIT} add -A && {_GIT} commit -q --allow-empty --no-verify -m {branch} || exit 4
{_DIFF} "$BASE" {branch} > {PATCHES_DIR}/{branch}.applied.patch || exit 5
echo "COOPERBENCH_APPLY {branch} $status"
"""


def _merge_step_script(step: int, ours: str, theirs: str, *, union: bool) -> str:
    # Step i merges the fold so far (`theirs`: agent1, then m2, ...) into agent i (`ours`), on a
    # branch m<i> of its own. For two agents that is upstream's direction: agent1 merged into
    # agent2 (the union merge keeps agent2's side of a conflict first). The union attribute goes
    # in $GIT_DIR/info/attributes, which outranks the repository's own .gitattributes without
    # touching the tree.
    kind_union = f"""
    attr=$(git rev-parse --git-path info/attributes); mkdir -p "$(dirname "$attr")"
    [ -f "$attr" ] && cp "$attr" "$attr.cooperbench"; echo "* merge=union" >> "$attr"
    if {_GIT} merge --no-ff --no-commit {theirs} >/dev/null 2>&1; then
      {_GIT} commit -q --no-verify -m merge{step} || exit 7
      u=clean; acc=m{step}
    else
      {_GIT} merge --abort 2>/dev/null || {_GIT} reset -q --hard
      u=conflicts; stop=1
    fi
    if [ -f "$attr.cooperbench" ]; then mv "$attr.cooperbench" "$attr"; else rm -f "$attr"; fi
    echo "COOPERBENCH_MERGE {step} union $u\""""
    on_conflict = kind_union if union else "\n    stop=1"
    return f"""
if [ "$stop" = 0 ]; then
  {_GIT} checkout -q --force -B m{step} {ours} || exit 6
  if {_GIT} merge --no-ff --no-commit {theirs} >/dev/null 2>&1; then
    {_GIT} commit -q --no-verify -m merge{step} || exit 7
    echo "COOPERBENCH_MERGE {step} naive clean"; acc=m{step}
  else
    echo "COOPERBENCH_CONFLICTS_BEGIN {step}"
    git diff --name-only --diff-filter=U
    echo "COOPERBENCH_CONFLICTS_END {step}"
    {_GIT} merge --abort 2>/dev/null || {_GIT} reset -q --hard
    echo "COOPERBENCH_MERGE {step} naive conflicts"{on_conflict}
  fi
fi
"""


@dataclass
class MergeStep:
    """One step of the fold: ``theirs`` (the merge so far) merged into ``ours`` (the next agent)."""

    ours: str
    theirs: str
    naive_clean: bool
    union_clean: bool | None
    conflict_files: list[str]

    @property
    def clean(self) -> bool:
        return self.naive_clean or bool(self.union_clean)

    def record(self) -> dict[str, Any]:
        return {
            "into": self.ours,
            "merged": self.theirs,
            "status": "clean" if self.naive_clean else "conflicts",
            "strategy": "naive" if self.naive_clean or self.union_clean is None else "union",
            "union_status": None if self.union_clean is None else ("clean" if self.union_clean else "conflicts"),
            "conflict_files": self.conflict_files,
        }


@dataclass
class Prepared:
    """What :func:`prepare` did: the base commit, each branch's apply status and git's error for
    those that failed, the merge steps run, and the content hash of every file in ``/patches``."""

    base: str
    apply_status: dict[str, str]
    apply_errors: dict[str, str] = field(default_factory=dict)
    steps: list[MergeStep] = field(default_factory=list)
    merged: bool = False
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def naive_clean(self) -> bool:
        return all(s.naive_clean for s in self.steps)


def _merge_steps(out: str, branches: Sequence[str]) -> list[MergeStep]:
    steps = []
    for step in range(2, len(branches) + 1):
        naive = re.search(rf"^COOPERBENCH_MERGE {step} naive (clean|conflicts)$", out, re.MULTILINE)
        if not naive:
            break
        union = re.search(rf"^COOPERBENCH_MERGE {step} union (clean|conflicts)$", out, re.MULTILINE)
        block = re.search(
            rf"^COOPERBENCH_CONFLICTS_BEGIN {step}\n(.*?)^COOPERBENCH_CONFLICTS_END {step}$",
            out,
            re.MULTILINE | re.DOTALL,
        )
        files = [line for line in block.group(1).splitlines() if line.strip()] if block else []
        theirs = branches[0] if step == 2 else f"m{step - 1}"
        steps.append(
            MergeStep(
                ours=branches[step - 1],
                theirs=theirs,
                naive_clean=naive.group(1) == "clean",
                union_clean=None if union is None else union.group(1) == "clean",
                conflict_files=files,
            )
        )
    return steps


def prepare(sandbox: Sandbox, branches: Sequence[str], *, merge: bool, union: bool = False) -> Prepared:
    """Apply each ``/patches/<branch>.patch`` on its own branch from the base commit and, if
    ``merge``, fold the branches together in order with naive merges (and, if ``union``, a
    union merge for a step that conflicts); the fold stops at the first step that conflicts.

    One command does it all (each command costs a sandbox round trip). Each branch's applied
    change is left as ``/patches/<branch>.applied.patch`` (git's own diff of what applied), and a
    fold that goes through as ``/patches/merged.patch``. No merge is tried when a patch failed.

    Returns:
        The base commit, ``{branch: "applied" | "skipped" | "failed"}``, git's output for each
        patch that failed, the merge steps and the hash of each file in ``/patches``.

    Raises:
        SandboxError: git itself failed, or the repository has no commit (not a task image).
    """
    merges = ""
    if merge and len(branches) > 1:
        merges = f'\nif [ "$failed" = 0 ]; then\nstop=0; acc={branches[0]}\n'
        for step in range(2, len(branches) + 1):
            theirs = "$acc"
            merges += _merge_step_script(step, branches[step - 1], theirs, union=union)
        merges += (
            f'if [ "$stop" = 0 ]; then {_DIFF} "$BASE" "$acc" > {PATCHES_DIR}/merged.patch || exit 8; '
            "echo COOPERBENCH_MERGED; fi\nfi\n"
        )
    script = f"""
cd {REPO_DIR} || exit 2
BASE=$(git rev-parse HEAD) || exit 2
echo "COOPERBENCH_BASE $BASE"
failed=0
{"".join(_apply_script(b) for b in branches)}
{merges}
for f in {PATCHES_DIR}/*; do
  [ -f "$f" ] && echo "COOPERBENCH_HASH $(git hash-object --no-filters -- "$f") ${{f##*/}}"
done
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
    errors = {
        m.group(1): clip(m.group(2).strip(), keep="head", limit=_APPLY_ERROR_CHARS)
        for m in re.finditer(
            r"^COOPERBENCH_APPLY_ERROR_BEGIN (\S+)\n(.*?)^COOPERBENCH_APPLY_ERROR_END \1$",
            out,
            re.MULTILINE | re.DOTALL,
        )
    }
    hashes = {name: sha for sha, name in re.findall(r"^COOPERBENCH_HASH ([0-9a-f]{40,64}) (\S+)$", out, re.MULTILINE)}
    return Prepared(
        base=base.group(1),
        apply_status=statuses,
        apply_errors=errors,
        steps=_merge_steps(out, branches) if merge else [],
        merged=bool(re.search(r"^COOPERBENCH_MERGED$", out, re.MULTILINE)),
        hashes=hashes,
    )


def read_text(sandbox: Sandbox, path: str) -> str:
    """A sandbox file as text (invalid UTF-8 replaced: for display only, never applied)."""
    return sandbox.read_file(path).decode("utf-8", "replace")


@dataclass(frozen=True)
class TestContext:
    """What every test run of one evaluation sandbox shares: where it runs and how it is memoized.

    Attributes:
        backend: the backend's name; image: the image reference the sandbox came from.
        base: the base commit; clean: the ``git clean`` flags of the policy.
        hashes: content hash of each file in ``/patches`` (from :func:`prepare`).
        memo: where runs are memoized; ``None`` runs every test.
    """

    __test__ = False

    backend: str
    image: str
    base: str
    clean: str
    hashes: dict[str, str]
    memo: TestMemo | None = None


def _reset(sandbox: Sandbox, ctx: TestContext) -> str:
    """Reset the repository to the base with the policy's ``git clean``; return what that left.

    The result (the names of the ignored files still in the tree, e.g. build output baked into
    the image, which ``-fd`` keeps and ``-fdx`` removes) is part of a test run's memo key: two
    policies whose resets leave the same tree share their runs.
    """
    script = (
        f"rm -f .git/index.lock && {_GIT} checkout -q --force {ctx.base} && {_GIT} reset -q --hard {ctx.base} "
        f"&& git clean {ctx.clean}q && echo COOPERBENCH_RESET && git ls-files --others --ignored --exclude-standard "
        "--directory"
    )
    out = _run(sandbox, f"cd {REPO_DIR} && {script}", "reset to base")
    marker = "COOPERBENCH_RESET\n"
    if marker not in out + "\n":
        raise SandboxError(f"cannot reset {REPO_DIR} to {ctx.base} in sandbox {sandbox.id}: {out[-1000:]}")
    left = sorted(line for line in (out + "\n").split(marker, 1)[1].splitlines() if line.strip())
    return hashlib.sha256("\n".join(left).encode("utf-8", "surrogateescape")).hexdigest() if left else ""


def _raw_run(sandbox: Sandbox, tests_file: str, patch_file: str, timeout: float) -> RawRun:
    started = time.monotonic()
    result = sandbox.exec(f"bash {RUNNER_PATH} {tests_file} {patch_file}", timeout=timeout, cwd=REPO_DIR)
    output = result.output
    if result.timed_out:
        output += f"\n[cooperbench] killed: the test run exceeded its {timeout:.0f}s timeout\n"
    return RawRun(output, result.returncode, result.timed_out, result.duration or (time.monotonic() - started))


def run_tests(sandbox: Sandbox, ctx: TestContext, tests_file: str, patch_file: str = "", *, timeout: float) -> TestRun:
    """Reset the repository to the base and run ``bash /patches/runner.sh <tests_file> <patch_file>``.

    A feature passes when the command exits 0 and at least one test passed (parsed from its
    output). A run that hits ``timeout`` is killed and recorded as failed and ``timed_out``.
    A run already made with the same inputs (see :mod:`cooperbench.evaluation.memo`) is reused.

    Raises:
        ValueError: ``ctx.clean`` is not a known flag set.
        SandboxError: the sandbox is gone, or the repository cannot be reset.
    """
    if ctx.clean not in _CLEAN_FLAGS:
        raise ValueError(f"unknown git clean flags {ctx.clean!r}")
    if patch_file and patch_file not in ctx.hashes:
        raise SandboxError(f"/patches/{patch_file} is missing in sandbox {sandbox.id}")

    left = _reset(sandbox, ctx)

    def compute() -> RawRun:
        return _raw_run(sandbox, tests_file, patch_file, timeout)

    reused = False
    if ctx.memo is not None and "runner.sh" in ctx.hashes and tests_file in ctx.hashes:
        key = test_key(
            backend=ctx.backend,
            image=ctx.image,
            base=ctx.base,
            left_after_reset=left,
            runner=ctx.hashes["runner.sh"],
            tests=ctx.hashes[tests_file],
            patch=ctx.hashes.get(patch_file, "") if patch_file else "",
        )
        raw, reused = ctx.memo.run(key, timeout, compute)
    else:
        raw = compute()
    counts = parse_test_output(raw.output)
    return TestRun(
        passed=not raw.timed_out and raw.exit_code == 0 and counts.passed > 0,
        exit_code=raw.exit_code,
        tests_passed=counts.passed,
        tests_failed=counts.failed + counts.errors,
        tests_skipped=counts.skipped,
        output=raw.output,
        timed_out=raw.timed_out,
        duration=raw.duration,
        test_seconds=test_seconds(raw.output),
        memoized=reused,
    )
