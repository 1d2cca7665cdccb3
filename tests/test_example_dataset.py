"""The example dataset in examples/dataset/ is reproducible and behaves as documented.

Everything runs offline with plain `git` and `pytest` subprocesses in temporary folders:
each task's repository is cloned from its `repo.bundle` and checked out at the base commit
recorded in `setup.sh`; feature tests run through the task's own `run_tests.sh` (with
`PYTHON` set to this interpreter, so the inner runs are `sys.executable -m pytest`).
The documented outcome of every pair is each task's `pairs` in examples/make_example_dataset.py.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "examples" / "make_example_dataset.py"
DATASET = ROOT / "examples" / "dataset"
INSTALL_DATASET = ROOT / "examples" / "dataset-install"


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_example_dataset", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    dont_write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no examples/__pycache__
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write_bytecode
    return module


gen = _load_generator()
MAIN_TASKS = {f"{task.repo}/task{task.task_id}": task for task in gen.TASKS}
INSTALL_TASKS = {f"{task.repo}/task{task.task_id}": task for task in gen.INSTALL_TASKS}
TASKS = {**MAIN_TASKS, **INSTALL_TASKS}
FEATURES = [(name, fid) for name, task in TASKS.items() for fid in sorted(task.features)]
PAIRS = [(name, pair) for name, task in TASKS.items() for pair in task.pairs]
GROUPS = [(name, group) for name, task in TASKS.items() for group in task.groups]

# Subprocess environment: no user/system git config, a fixed identity for test commits,
# nothing inherited that would steer git or the inner pytest.
ENV = {
    key: value
    for key, value in os.environ.items()
    if not key.startswith(("GIT_", "PYTEST_")) and key not in ("PYTHONPATH", "PYTHONSTARTUP")
}
ENV.update(
    GIT_CONFIG_NOSYSTEM="1",
    GIT_CONFIG_GLOBAL=os.devnull,
    GIT_AUTHOR_NAME="test",
    GIT_AUTHOR_EMAIL="test@example.invalid",
    GIT_COMMITTER_NAME="test",
    GIT_COMMITTER_EMAIL="test@example.invalid",
    PYTHON=sys.executable,
    PYTHONDONTWRITEBYTECODE="1",
)


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def task_dir(name: str) -> Path:
    return (INSTALL_DATASET if name in INSTALL_TASKS else DATASET) / name


def base_commit(name: str) -> str:
    match = re.search(r'^BASE_COMMIT="([0-9a-f]{40})"$', (task_dir(name) / "setup.sh").read_text(), re.M)
    assert match, f"{name}/setup.sh has no BASE_COMMIT"
    return match.group(1)


def clone(name: str, dest: Path) -> Path:
    """Clone the task's bundle into ``dest`` and check out its base commit (detached)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(dest.parent, "clone", "-q", str(task_dir(name) / "repo.bundle"), dest.name)
    git(dest, "checkout", "-q", "--detach", base_commit(name))
    return dest


def run_tests(name: str, repo: Path, tests_patch: Path, code_patch: Path | None = None):
    """The task's run_tests.sh: apply ``code_patch`` and ``tests_patch``, run pytest, clean up."""
    cmd = ["bash", str(task_dir(name) / "run_tests.sh"), str(repo), str(tests_patch)]
    if code_patch is not None:
        cmd.append(str(code_patch))
    result = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def assert_passes(rc: int, output: str) -> None:
    assert rc == 0 and re.search(r"\b\d+ passed\b", output), output


def assert_fails(rc: int, output: str) -> None:
    # The patches applied and pytest itself ran (1: tests failed, 2: collection error).
    assert "RUNNING_TESTS" in output and rc in (1, 2), output


def merge_pair(repo: Path, patch_a: Path, patch_b: Path) -> tuple[bool, str]:
    """Merge two patches like the evaluator (and upstream): agent1's branch merged into agent2's.

    Returns (naive merge conflicted, merged diff)."""
    return merge_fold(repo, [patch_a, patch_b])


def merge_fold(repo: Path, patches: list[Path]) -> tuple[bool, str]:
    """Merge N patches as a fold in agent order: agent1 into agent2, that result into agent3, ...

    Each step is a naive `git merge --no-ff`, on conflict again with `* merge=union`.
    Returns (any naive step conflicted, merged diff)."""
    base = git(repo, "rev-parse", "HEAD").stdout.strip()
    branches = [f"agent{i}" for i in range(1, len(patches) + 1)]
    for branch, patch in zip(branches, patches, strict=True):
        git(repo, "checkout", "-q", "-b", branch, base)
        git(repo, "apply", str(patch))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", branch)
    conflicted = False
    for previous, branch in itertools.pairwise(branches):
        git(repo, "checkout", "-q", branch)
        if git(repo, "merge", "--no-ff", "--no-edit", previous, check=False).returncode != 0:
            conflicted = True
            git(repo, "merge", "--abort")
            (repo / ".gitattributes").write_text("* merge=union\n")
            git(repo, "merge", "--no-ff", "--no-edit", previous)
            (repo / ".gitattributes").unlink()
    merged = git(repo, "diff", base, "HEAD").stdout
    git(repo, "checkout", "-q", "--detach", base)
    return conflicted, merged


# --------------------------------------------------------------------------------------


def test_regenerating_is_byte_identical(tmp_path):
    out = tmp_path / "dataset"
    install_out = tmp_path / "dataset-install"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), "--install-out", str(install_out)],
        env=ENV,
        check=True,
        capture_output=True,
    )

    def listing(root: Path) -> dict[str, tuple[bytes, bool]]:
        return {
            str(path.relative_to(root)): (path.read_bytes(), bool(path.stat().st_mode & stat.S_IXUSR))
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }

    for committed_dir, fresh_dir in ((DATASET, out), (INSTALL_DATASET, install_out)):
        committed, fresh = listing(committed_dir), listing(fresh_dir)
        assert sorted(committed) == sorted(fresh)
        changed = [rel for rel in committed if committed[rel] != fresh[rel]]
        assert not changed, f"regenerate {committed_dir} with {GENERATOR.name}: {changed} differ"


@pytest.mark.parametrize("name", TASKS)
def test_task_layout(name):
    folder, task = task_dir(name), TASKS[name]
    base = base_commit(name)
    for script in ("setup.sh", "runner.sh", "run_tests.sh"):
        assert os.access(folder / script, os.X_OK), f"{script} is not executable"
    assert (folder / "combined.patch").read_text()
    setup = (folder / "setup.sh").read_text()
    assert f'REPO_NAME="{task.repo_name}"' in setup

    dockerfile = (folder / "Dockerfile").read_text()
    instructions = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    assert instructions[:2] == ["ARG BASE_IMAGE=python:3.11-slim", "FROM ${BASE_IMAGE}"]
    assert f"git checkout {base}" in dockerfile
    assert 'ENTRYPOINT ["/usr/local/bin/runner.sh"]' in dockerfile
    runner = (folder / "runner.sh").read_text()
    for text in (dockerfile, setup, runner, (folder / "run_tests.sh").read_text()):
        assert not re.search(r"apt-get|curl|wget|https?://", text)
    if task.installs:  # the public Python tasks' install section, in runner.sh and pre-installed in the image
        assert gen.INSTALL_SECTION in runner and 'pip install -e ".[test]" || pip install -e .' in dockerfile
    for text in (setup, (folder / "run_tests.sh").read_text(), *(() if task.installs else (dockerfile, runner))):
        assert "pip install" not in text

    # The bundle holds a single branch, main, at the base commit.
    heads = git(folder, "bundle", "list-heads", "repo.bundle").stdout.split()
    assert dict(zip(heads[1::2], heads[::2], strict=True)) == {"refs/heads/main": base, "HEAD": base}

    for fid in task.features:
        feature = folder / f"feature{fid}"
        md = (feature / "feature.md").read_text()
        for heading in ("**Title**:", "**Description**:", "**Technical Background**:", "**Solution**:"):
            assert heading in md
        code_files = re.findall(r"^\+\+\+ b/(\S+)", (feature / "feature.patch").read_text(), re.M)
        test_files = re.findall(r"^\+\+\+ b/(\S+)", (feature / "tests.patch").read_text(), re.M)
        assert code_files and not any(path.startswith("tests/") for path in code_files)
        assert test_files and all(path.startswith("tests/") for path in test_files)
        assert md.endswith("**Files Modified**\n" + "".join(f"- `{path}`\n" for path in code_files))


def test_lite_subset():
    subset = json.loads((DATASET / "subsets" / "lite.json").read_text())
    assert list(subset) == ["name", "description", "stats", "tasks"]
    assert subset["name"] == "lite"
    entries = subset["tasks"]
    assert subset["stats"] == {
        "tasks": len(entries),
        "pairs": sum(len(entry["pairs"]) for entry in entries),
        "repos": len({entry["repo"] for entry in entries}),
    }
    assert {f"{entry['repo']}/task{entry['task_id']}" for entry in entries} == set(MAIN_TASKS)
    for entry in entries:
        documented = {(pair.a, pair.b) for pair in TASKS[f"{entry['repo']}/task{entry['task_id']}"].pairs}
        assert {tuple(pair) for pair in entry["pairs"]} <= documented


def test_documented_pairs_cover_the_required_cases():
    categories = {pair.category for _, pair in PAIRS}
    assert categories == {"conflict, union merge passes", "conflict, union merge fails", "clean merge, passes"}
    # `cooperbench validate` reports a gold pair that merges cleanly but fails as a dataset problem.
    assert all(pair.naive_conflict for _, pair in PAIRS if pair.failing)
    with pytest.raises(ValueError, match="a cleanly merging pair must pass both features' tests"):
        gen.Pair(3, 4, naive_conflict=False, failing=(3,))
    readme = (DATASET / "README.md").read_text()
    assert all(task.installs for task in INSTALL_TASKS.values()), "the install dataset's tasks install"
    for name, pair in PAIRS:
        if name in MAIN_TASKS:
            assert f"| `{name}` | f{pair.a}, f{pair.b} |" in readme and pair.category in readme
        else:
            assert f"f{pair.a}+f{pair.b}: {pair.category}" in (INSTALL_DATASET / "README.md").read_text()
    # every pair of every task is documented
    for task in TASKS.values():
        assert {(p.a, p.b) for p in task.pairs} == set(itertools.combinations(sorted(task.features), 2))


def test_documented_tuples_of_three_and_the_team3_subset():
    # The N-agent runs need a tuple of three that merges cleanly and passes, and one that conflicts.
    assert {group.category for _, group in GROUPS} >= {"clean merge, passes", "conflict, union merge passes"}
    readme = (DATASET / "README.md").read_text()
    for name, group in GROUPS:
        members = ", ".join(f"f{fid}" for fid in group.features)
        assert f"| `{name}` | {members} |" in readme
    subset = json.loads((DATASET / "subsets" / "team3.json").read_text())
    assert subset["stats"] == {"tasks": 1, "groups": 4, "group_size": 3, "repos": 1}
    listed = {(f"{e['repo']}/task{e['task_id']}", tuple(g)) for e in subset["tasks"] for g in e["groups"]}
    assert listed == {(name, group.features) for name, group in GROUPS if len(group.features) == 3}
    with pytest.raises(ValueError, match="a cleanly merging tuple must pass"):
        gen.Group((1, 2, 3), naive_conflict=False, failing=(1,))


@pytest.mark.parametrize("name", TASKS)
def test_setup_sh_clones_the_bundle_offline(name, tmp_path):
    task = TASKS[name]
    for _ in range(2):  # the second run takes the "already cloned" path
        result = subprocess.run(
            ["bash", str(task_dir(name) / "setup.sh")], cwd=tmp_path, env=ENV, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
        repo = tmp_path / task.repo_name
        assert git(repo, "rev-parse", "HEAD").stdout.strip() == base_commit(name)
        assert git(repo, "branch", "--show-current").stdout.strip() == f"{task.repo_name}_task{task.task_id}"
        assert git(repo, "status", "--porcelain").stdout == ""


@pytest.mark.parametrize(("name", "fid"), FEATURES, ids=[f"{n}-f{f}" for n, f in FEATURES])
def test_feature_tests_fail_on_base_and_pass_with_gold_patch(name, fid, tmp_path):
    repo = clone(name, tmp_path / "repo")
    feature = task_dir(name) / f"feature{fid}"
    assert_fails(*run_tests(name, repo, feature / "tests.patch"))
    assert_passes(*run_tests(name, repo, feature / "tests.patch", feature / "feature.patch"))
    assert git(repo, "status", "--porcelain").stdout == ""  # run_tests.sh cleaned up


@pytest.mark.parametrize("name", TASKS)
def test_combined_patch_passes_every_feature(name, tmp_path):
    repo = clone(name, tmp_path / "repo")
    for fid in TASKS[name].features:
        tests_patch = task_dir(name) / f"feature{fid}" / "tests.patch"
        assert_passes(*run_tests(name, repo, tests_patch, task_dir(name) / "combined.patch"))


@pytest.mark.parametrize(("name", "pair"), PAIRS, ids=[f"{n}-f{p.a}-f{p.b}" for n, p in PAIRS])
def test_pair_merges_as_documented(name, pair, tmp_path):
    repo = clone(name, tmp_path / "repo")
    folder = task_dir(name)
    conflicted, merged = merge_pair(
        repo, folder / f"feature{pair.a}" / "feature.patch", folder / f"feature{pair.b}" / "feature.patch"
    )
    assert conflicted == pair.naive_conflict
    assert "<<<<<<<" not in merged
    merged_patch = tmp_path / "merged.patch"
    merged_patch.write_text(merged)
    for fid in (pair.a, pair.b):
        outcome = run_tests(name, repo, folder / f"feature{fid}" / "tests.patch", merged_patch)
        (assert_fails if fid in pair.failing else assert_passes)(*outcome)


@pytest.mark.parametrize(
    ("name", "group"), GROUPS, ids=[f"{n}-" + "-".join(f"f{f}" for f in g.features) for n, g in GROUPS]
)
def test_tuple_merges_as_documented(name, group, tmp_path):
    repo = clone(name, tmp_path / "repo")
    folder = task_dir(name)
    conflicted, merged = merge_fold(repo, [folder / f"feature{fid}" / "feature.patch" for fid in group.features])
    assert conflicted == group.naive_conflict
    assert "<<<<<<<" not in merged
    merged_patch = tmp_path / "merged.patch"
    merged_patch.write_text(merged)
    for fid in group.features:
        outcome = run_tests(name, repo, folder / f"feature{fid}" / "tests.patch", merged_patch)
        (assert_fails if fid in group.failing else assert_passes)(*outcome)


def test_runner_sh_in_a_container_layout(tmp_path):
    """runner.sh with /workspace/repo and /patches mapped into a scratch folder."""
    name = next(iter(TASKS))
    repo = clone(name, tmp_path / "workspace" / "repo")
    patches = tmp_path / "patches"
    patches.mkdir()
    shutil.copy(task_dir(name) / "feature1" / "feature.patch", patches / "feature1.patch")
    shutil.copy(task_dir(name) / "feature1" / "tests.patch", patches / "tests1.patch")
    runner = (task_dir(name) / "runner.sh").read_text()
    runner = runner.replace("/workspace/repo", str(repo)).replace("/patches/", f"{patches}/")
    (tmp_path / "runner.sh").write_text(runner)
    bin_dir = tmp_path / "bin"  # `python` on PATH runs this interpreter (a wrapper keeps any venv)
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env = {**ENV, "PATH": f"{bin_dir}{os.pathsep}{ENV.get('PATH', '')}"}

    def runner_sh(*args: str):
        result = subprocess.run(["bash", str(tmp_path / "runner.sh"), *args], env=env, capture_output=True, text=True)
        return result.returncode, result.stdout + result.stderr

    rc, output = runner_sh("tests1.patch", "feature1.patch")
    assert_passes(rc, output)
    assert "tests/test_case.py::test_kebab_case" in output
    rc, output = runner_sh("tests1.patch")
    assert rc in (1, 2) and "Running tests..." in output, output
    assert git(repo, "status", "--porcelain", "--ignored").stdout == ""
