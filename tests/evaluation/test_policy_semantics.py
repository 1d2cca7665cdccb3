"""An independent computation of upstream 0.0.29's verdicts on the example dataset's gold pairs.

Plain git and each task's own ``run_tests.sh`` on the host, restating upstream's algorithm
(not our evaluator): both gold patches on a branch each from the base; ``git merge --no-ff`` of
agent1 into agent2; a clean merge is tested for both features; on a conflict, agent1's patch
alone is tested against feature 1's tests and, if they pass, feature 2's; the pair passes when
both pass. The figures must be the ones docs/outcomes.md states, which our evaluator gives
(tests/test_eval_cli.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from cooperbench.dataset import discover_pairs

from .conftest import EXAMPLES

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PYTEST_")) and k != "PYTHONPATH"}
ENV.update(
    GIT_CONFIG_NOSYSTEM="1",
    GIT_CONFIG_GLOBAL=os.devnull,
    GIT_AUTHOR_NAME="t",
    GIT_AUTHOR_EMAIL="t@t.invalid",
    GIT_COMMITTER_NAME="t",
    GIT_COMMITTER_EMAIL="t@t.invalid",
    PYTHON=sys.executable,
    PYTHONDONTWRITEBYTECODE="1",
)


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    assert not check or proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def passes(task_dir: Path, repo: Path, tests: Path, patch: Path) -> bool:
    proc = subprocess.run(
        ["bash", str(task_dir / "run_tests.sh"), str(repo), str(tests), str(patch)],
        env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return proc.returncode == 0 and bool(re.search(r"\b\d+ passed\b", proc.stdout + proc.stderr))


def upstream_verdict(task_dir: Path, work: Path, features: tuple[int, int]) -> bool:
    base = re.search(r'BASE_COMMIT="([0-9a-f]{40})"', (task_dir / "setup.sh").read_text()).group(1)  # type: ignore[union-attr]
    repo = work / "repo"
    git(work, "clone", "-q", str(task_dir / "repo.bundle"), "repo")
    git(repo, "checkout", "-q", "--detach", base)
    patches = [task_dir / f"feature{f}" / "feature.patch" for f in features]
    tests = [task_dir / f"feature{f}" / "tests.patch" for f in features]
    for branch, patch in zip(("agent1", "agent2"), patches, strict=True):
        git(repo, "checkout", "-q", "-b", branch, base)
        git(repo, "apply", str(patch))
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", branch)
    git(repo, "checkout", "-q", "agent2")
    clean = git(repo, "merge", "--no-ff", "--no-edit", "agent1", check=False).returncode == 0
    if clean:
        merged = work / "merged.patch"
        merged.write_text(git(repo, "diff", base, "HEAD").stdout)
        git(repo, "checkout", "-q", "--detach", base)
        return all(passes(task_dir, repo, t, merged) for t in tests)
    git(repo, "merge", "--abort")
    git(repo, "checkout", "-q", "--detach", base)
    return passes(task_dir, repo, tests[0], patches[0]) and passes(task_dir, repo, tests[1], patches[0])


def test_upstream_semantics_computed_independently_give_the_documented_figures(tmp_path: Path) -> None:
    verdicts = {}
    for i, pair in enumerate(discover_pairs(EXAMPLES)):
        work = tmp_path / str(i)
        work.mkdir()
        verdicts[pair.key] = upstream_verdict(pair.task.path, work, (pair.features[0], pair.features[1]))
    assert sum(verdicts.values()) == 12 and len(verdicts) == 16  # 75.0 %
    first_four = [ok for key, ok in verdicts.items() if "f5" not in key]
    assert (sum(first_four), len(first_four)) == (8, 12)  # 66.7 %, upstream 0.0.29 on the same patches
    assert not any(verdicts[k] for k in ("textkit_task/1/f1_f2", "textkit_task/1/f3_f4", "minicalc_task/2/f1_f2"))
