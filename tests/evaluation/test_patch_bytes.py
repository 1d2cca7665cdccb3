"""Patches are bytes: a Latin-1 source file and binary files survive byte for byte, from the
sandbox's working tree into ``agent<i>.patch`` and through the evaluation.

The task is the example ``textkit`` task with one more base commit holding a Latin-1 module and
a binary file; its feature 1 rewrites both (Latin-1 context lines, a binary delta) and its tests
compare the files' exact bytes, so any lossy hop (text decoded with replacement characters)
makes the patch fail to apply or the tests fail.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cooperbench.backends.base import RunLabels
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.backends.local import LocalBackend
from cooperbench.dataset import Pair, load_task
from cooperbench.evaluation.merge import MergeEvaluator
from cooperbench.patches import base_commit, patch_bytes, patch_text, working_tree_patch

from .conftest import EXAMPLES

LATIN1_BASE = "# -*- coding: latin-1 -*-\nGREETING = 'caf\xe9'\n".encode("latin-1")
LATIN1_NEW = "# -*- coding: latin-1 -*-\nGREETING = 'd\xe9j\xe0 vu, na\xefve'\nSIGN = '\xa7'\n".encode("latin-1")
BINARY_BASE = bytes(range(256)) * 8
BINARY_NEW = hashlib.sha512(b"cooperbench").digest() * 40 + b"\x00\xff\x00"
NEW_BINARY = bytes(reversed(range(256))) + b"\x00" * 64

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "core.autocrlf=false"]


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode("utf-8", "surrogateescape")


def write_changes(root: Path) -> None:
    """Feature 1's change: the Latin-1 module and the binary file rewritten, a new binary file."""
    (root / "textkit" / "legacy.py").write_bytes(LATIN1_NEW)
    (root / "assets" / "logo.bin").write_bytes(BINARY_NEW)
    (root / "assets" / "new.bin").write_bytes(NEW_BINARY)


TESTS = f'''import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_latin1_module_is_exact():
    assert (ROOT / "textkit" / "legacy.py").read_bytes() == {LATIN1_NEW!r}


def test_the_binary_files_are_exact():
    digest = hashlib.sha256((ROOT / "assets" / "logo.bin").read_bytes()).hexdigest()
    assert digest == "{hashlib.sha256(BINARY_NEW).hexdigest()}"
    assert (ROOT / "assets" / "new.bin").read_bytes() == {NEW_BINARY!r}
'''


@pytest.fixture(scope="module")
def bytes_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset with ``bytes_task/task1``: textkit plus a Latin-1 module and a binary file at its base."""
    root = tmp_path_factory.mktemp("bytes-dataset")
    task = root / "bytes_task" / "task1"
    shutil.copytree(EXAMPLES / "textkit_task" / "task1", task)
    work = tmp_path_factory.mktemp("bytes-repo") / "repo"
    git(work.parent, "clone", "-q", str(task / "repo.bundle"), str(work))
    old_base = re.search(r'BASE_COMMIT="([0-9a-f]{40})"', (task / "setup.sh").read_text()).group(1)  # type: ignore[union-attr]
    git(work, "checkout", "-q", "-B", "main", old_base)
    (work / "assets").mkdir()
    (work / "textkit" / "legacy.py").write_bytes(LATIN1_BASE)
    (work / "assets" / "logo.bin").write_bytes(BINARY_BASE)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "legacy module and a binary asset")
    base = git(work, "rev-parse", "HEAD").strip()
    (task / "repo.bundle").unlink()
    git(work, "bundle", "create", "-q", str(task / "repo.bundle"), "main")
    for name in ("setup.sh", "Dockerfile"):
        (task / name).write_text((task / name).read_text().replace(old_base, base))
    # feature 1: its gold patch is git's own diff of the change; its tests check the bytes
    write_changes(work)
    git(work, "add", "-A")
    (task / "feature1" / "feature.patch").write_bytes(patch_bytes(git(work, "diff", "--cached", "--binary", "HEAD")))
    git(work, "reset", "-q", "--hard", "HEAD")
    git(work, "clean", "-fdq")
    (work / "tests" / "test_bytes.py").write_text(TESTS)
    git(work, "add", "-A")
    (task / "feature1" / "tests.patch").write_text(git(work, "diff", "--cached", "HEAD"))
    git(work, "reset", "-q", "--hard", "HEAD")
    git(work, "clean", "-fdq")
    shutil.rmtree(task / "feature2")
    shutil.rmtree(task / "feature4")
    (task / "combined.patch").unlink()
    return root


@given(data=st.binary(max_size=512))
def test_patch_text_and_patch_bytes_round_trip_any_bytes(data: bytes) -> None:
    assert patch_bytes(patch_text(data)) == data
    assert patch_bytes(data) == data and patch_bytes(None) == b""


def test_the_working_tree_patch_of_a_sandbox_is_byte_exact(bytes_task: Path, tmp_path: Path) -> None:
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    task = load_task(bytes_task / "bytes_task" / "task1", "bytes_task")
    assert task is not None
    with SandboxEnvironment(backend.resolve_image(task), backend=backend) as env:
        base = base_commit(env)
        env.sandbox.write_file("/workspace/repo/textkit/legacy.py", LATIN1_NEW)
        env.sandbox.write_file("/workspace/repo/assets/logo.bin", BINARY_NEW)
        env.sandbox.write_file("/workspace/repo/assets/new.bin", NEW_BINARY)
        patch = working_tree_patch(env, base)
    data = patch_bytes(patch)
    assert b"GREETING = 'd\xe9j\xe0 vu" in data and b"\xef\xbf\xbd" not in data  # Latin-1 bytes, no U+FFFD
    assert data.count(b"GIT binary patch") == 2
    # applying it to the base reproduces every byte
    work = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(task.path / "repo.bundle"), str(work))
    git(work, "checkout", "-q", base)
    proc = subprocess.run([*GIT, "apply", "-"], cwd=work, input=data, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert (work / "textkit" / "legacy.py").read_bytes() == LATIN1_NEW
    assert (work / "assets" / "logo.bin").read_bytes() == BINARY_NEW
    assert (work / "assets" / "new.bin").read_bytes() == NEW_BINARY


def test_non_utf8_and_binary_patches_survive_the_runner_and_the_evaluation(bytes_task: Path, tmp_path: Path) -> None:
    from cooperbench.runner import run

    logs = tmp_path / "logs"
    for policy_run in ("bytes-run",):
        run(
            policy_run,
            agent="oracle",
            repo="bytes_task",
            features=[1, 3],
            dataset_dir=bytes_task,
            logs_dir=logs,
            messaging_enabled=False,
            concurrency=1,
            eval_concurrency=1,
        )
    pair = logs / "bytes-run" / "coop" / "bytes_task" / "1" / "f1_f3"
    written = (pair / "agent1.patch").read_bytes()
    assert b"\xe9" in written and b"\xef\xbf\xbd" not in written and written.count(b"GIT binary patch") == 2
    result = json.loads((pair / "result.json").read_text())
    assert result["agents"]["agent1"]["patch_bytes"] == len(written)
    evaluation = json.loads((pair / "eval.json").read_text())
    assert evaluation["outcome"] == "pass", evaluation
    assert evaluation["feature1"]["tests_passed"] == 2  # both byte checks ran and passed


def test_a_corrupted_copy_of_the_same_patch_is_caught_not_passed(bytes_task: Path, tmp_path: Path) -> None:
    """What the lossy pipeline used to do (bytes replaced by U+FFFD): the evaluation must not pass it."""
    task = load_task(bytes_task / "bytes_task" / "task1", "bytes_task")
    assert task is not None
    gold = task.feature_file(1, "feature.patch").read_bytes()
    lossy = gold.decode("utf-8", "replace")
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    record = MergeEvaluator().evaluate_pair(
        Pair("bytes_task", 1, (1, 3), task), "solo", {"solo": lossy}, backend, RunLabels("evaltest-lossy")
    )
    assert record["outcome"] in ("apply_failed", "fail_tests") and not record["both_passed"]
    exact = MergeEvaluator().evaluate_pair(
        Pair("bytes_task", 1, (1, 3), task), "coop", {"agent1": gold, "agent2": ""}, backend, RunLabels("evaltest-ok")
    )
    assert exact["feature1"]["passed"], exact["feature1"]["test_output"][-2000:]
