"""Workspace templates of the ``local`` backend: history, task environments, git configuration."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cooperbench.backends import RunLabels
from cooperbench.backends.local import LocalBackend, LocalSandbox, _toolchains
from cooperbench.backends.local._toolchains import interpreters
from cooperbench.dataset import Task, load_task
from cooperbench.errors import SandboxError
from cooperbench.git_history import leak_probe_script
from cooperbench.testing.task_fixtures import (
    FutureHistoryTask,
    task_named_like_a_harness_dependency,
    task_with_future_history,
)


@pytest.fixture(scope="module")
def future_task(tmp_path_factory: pytest.TempPathFactory) -> FutureHistoryTask:
    return task_with_future_history(tmp_path_factory.mktemp("future-dataset"))


def _mirror_setup_sh(fixture: FutureHistoryTask, mirror_root: Path) -> None:
    """Make the task clone its repository from a URL (as real tasks do), redirected to a mirror."""
    task = fixture.task
    subprocess.run(["git", "clone", "-q", "--mirror", str(task.path / "repo.bundle"), str(mirror_root / "r.git")],
                   check=True)  # fmt: skip
    (task.path / "repo.bundle").unlink()
    setup = (task.path / "setup.sh").read_text()
    (task.path / "setup.sh").write_text(
        setup.replace('git clone "$TASK_DIR/repo.bundle"', "git clone https://git.invalid/r.git")
    )


@pytest.mark.parametrize("source", ["bundle", "setup.sh clone"])
def test_agent_sandbox_shows_no_history_past_the_base(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture = task_with_future_history(tmp_path / "dataset")
    if source != "bundle":
        mirror = tmp_path / "mirror"
        mirror.mkdir()
        _mirror_setup_sh(fixture, mirror)
        config = tmp_path / "gitconfig"
        config.write_text(f'[url "file://{mirror}/"]\n\tinsteadOf = https://git.invalid/\n')
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    box = backend.create_sandbox(backend.resolve_image(fixture.task), run=RunLabels("history"))
    try:
        assert box.exec("git rev-parse HEAD").output.strip() == fixture.base
        assert box.exec("git log --all --format=%H").output.split() == box.exec("git rev-list HEAD").output.split()
        everything = box.exec(
            "git log --all --format='%H %s'; git rev-list --all; git tag; git branch -a; git reflog; git remote -v;"
            " git stash list; git cat-file --batch-all-objects --batch-check='%(objectname)'"
        ).output
        for sha in fixture.future_commits:
            assert sha not in everything
        assert fixture.marker not in everything and fixture.tag not in everything and fixture.branch not in everything
        objects = box.exec("git cat-file --batch-all-objects --batch-check='%(objectname) %(objecttype)'").output
        assert all(box.exec(f"git merge-base --is-ancestor {line.split()[0]} HEAD").returncode == 0
                   for line in objects.splitlines() if line.endswith(" commit"))  # fmt: skip
        grep = box.exec(f"grep -r {fixture.marker} /workspace/repo; git log --all -p | grep -c {fixture.marker}")
        assert fixture.marker not in grep.output.replace(f"grep -c {fixture.marker}", "")
        probe = box.exec(leak_probe_script("/workspace/repo", fixture.base))
        assert probe.returncode == 0 and probe.output == "", probe.output
        assert box.exec("git status --porcelain").output == ""
    finally:
        box.cleanup()


@pytest.mark.parametrize("where", ["GIT_CONFIG_GLOBAL", "XDG_CONFIG_HOME", "GIT_CONFIG_SYSTEM"])
def test_setup_sh_clone_sees_the_users_effective_git_configuration(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture = task_with_future_history(tmp_path / "dataset")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _mirror_setup_sh(fixture, mirror)
    # The mirror entry sits in an included file, as users often keep them.
    (tmp_path / "mirrors.inc").write_text(f'[url "file://{mirror}/"]\n\tinsteadOf = https://git.invalid/\n')
    text = f"[include]\n\tpath = {tmp_path / 'mirrors.inc'}\n"
    if where == "GIT_CONFIG_GLOBAL":
        (tmp_path / "global").write_text(text)
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "global"))
    elif where == "XDG_CONFIG_HOME":
        (tmp_path / "xdg" / "git").mkdir(parents=True)
        (tmp_path / "xdg" / "git" / "config").write_text(text)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
        monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    else:
        (tmp_path / "system").write_text(text)
        monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(tmp_path / "system"))
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    box = backend.create_sandbox(backend.resolve_image(fixture.task), run=RunLabels("gitconfig"))
    try:
        assert box.exec("git rev-parse HEAD").output.strip() == fixture.base
        # Agents get the identity only, never the user's configuration (it may carry tokens).
        assert str(mirror) not in box.exec("git config --list --show-origin").output
    finally:
        box.cleanup()


def test_a_clone_that_no_configuration_redirects_names_the_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture = task_with_future_history(tmp_path / "dataset")
    _mirror_setup_sh(fixture, tmp_path)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "none"))
    with pytest.raises(SandboxError, match=r"(?s)setup.sh exited \d+ without leaving a git repository.*git.invalid"):
        LocalBackend(cache_dir=tmp_path / "cache").resolve_image(fixture.task)


def test_python_task_environment_is_the_tasks_own(tmp_path: Path) -> None:
    """No harness package is importable; pytest and pip are the venv's; the Python is the Dockerfile's."""
    task = task_with_future_history(tmp_path / "dataset").task
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    ref = backend.resolve_image(task)
    box = backend.create_sandbox(ref, run=RunLabels("own-env"))
    try:
        probe = box.exec(
            "cd / && python - <<'PY'\n"
            "import importlib.util, sys\n"
            "print(sys.version_info[:2] == (3, 11), sys.prefix, sys.base_prefix != sys.prefix)\n"
            "for name in ('cooperbench', 'typer', 'click', 'pydantic', 'filelock', 'redis', 'rich'):\n"
            "    print(name, importlib.util.find_spec(name) is not None)\n"
            "PY"
        ).output.split("\n")
        assert probe[0] == "True /workspace/.venv True", probe
        assert [line for line in probe[1:] if line.endswith("True")] == [], "no harness package is importable"
        assert not any(p.name.endswith(".pth") and "cooperbench" in p.name
                       for p in (backend.templates_dir / ref.split(":", 1)[1]).rglob("*.pth"))  # fmt: skip
        assert box.exec("python -m pytest --version").returncode == 0
        assert box.exec("pip --version").output.startswith("pip ")
        assert "/workspace/.venv/" in box.exec("pip --version").output
    finally:
        box.cleanup()
    meta = json.loads((backend.templates_dir / ref.split(":", 1)[1] / "meta.json").read_text())
    assert meta["provenance"]["python"]["requested"] == "3.11"
    assert meta["provenance"]["python"]["used"].startswith("3.11.")
    assert any(Path(p).is_dir() and (Path(p) / "bin").is_dir() for p in meta["ro_paths"]), "the interpreter prefix"


def test_missing_python_version_uses_the_nearest_and_records_it(tmp_path: Path) -> None:
    task = task_with_future_history(tmp_path / "dataset").task
    dockerfile = task.path / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("python:3.11-slim", "python:3.99-slim"))
    changed = load_task(task.path, task.repo)
    assert changed is not None
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    ref = backend.resolve_image(changed)
    meta = json.loads((backend.templates_dir / ref.split(":", 1)[1] / "meta.json").read_text())
    assert meta["provenance"]["python"]["requested"] == "3.99"
    assert meta["provenance"]["python"]["chosen"] == "nearest"
    newest = max(i.minor for i in interpreters())
    assert meta["provenance"]["python"]["used"].startswith(f"{newest[0]}.{newest[1]}.")


def test_a_missing_toolchain_is_named_with_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = task_with_future_history(tmp_path / "dataset").task
    dockerfile = task.path / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("python:3.11-slim", "golang:1.21-alpine"))
    changed = load_task(task.path, task.repo)
    assert changed is not None
    monkeypatch.setattr(_toolchains, "_EXTRA_DIRS", {})
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    _toolchains.find_tool.cache_clear()
    try:
        with pytest.raises(
            SandboxError, match=r"lacks `go` \(its Dockerfile's base image\): install Go .*--backend docker"
        ):
            LocalBackend(cache_dir=tmp_path / "cache").resolve_image(changed)
    finally:
        _toolchains.find_tool.cache_clear()


def _run_feature(
    box: LocalSandbox, task: Task, fid: int, *, gold: bool = True, env: dict[str, str] | None = None
) -> str:
    box.write_file("/patches/tests.patch", (task.path / f"feature{fid}" / "tests.patch").read_bytes())
    args = "tests.patch"
    if gold:
        box.write_file("/patches/feature.patch", (task.path / f"feature{fid}" / "feature.patch").read_bytes())
        args += " feature.patch"
    done = box.exec(f"runner.sh {args}", env=env)
    return f"exit={done.returncode}\n{done.output}"


@pytest.fixture(scope="module")
def click_task(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalBackend, Task, str]:
    root = tmp_path_factory.mktemp("click-dataset")
    task = task_named_like_a_harness_dependency(root)
    backend = LocalBackend(cache_dir=root / "cache")
    return backend, task, backend.resolve_image(task)


def test_a_package_named_like_a_harness_dependency_is_tested_from_the_repository(
    click_task: tuple[LocalBackend, Task, str],
) -> None:
    import click  # the harness's own (through typer): it lacks what the task's tests check

    assert not hasattr(click, "FROM_THE_REPOSITORY")
    backend, task, ref = click_task
    box = backend.create_sandbox(ref, run=RunLabels("click-named"))
    try:
        for fid in (1, 2):
            assert _run_feature(box, task, fid).startswith("exit=0"), "the gold patch passes: the repo's click is used"
            failed = _run_feature(box, task, fid, gold=False)
            assert failed.startswith("exit=1") and "has no attribute" in failed, failed[-800:]
        where = box.exec("cd / && python -c 'import click; print(click.__file__, click.__version__)'").output
        assert where.split() == ["/workspace/repo/src/click/__init__.py", "99.0"], where
    finally:
        box.cleanup()


def test_unchanged_installs_are_replayed_and_changed_ones_run(click_task: tuple[LocalBackend, Task, str]) -> None:
    backend, task, ref = click_task
    box = backend.create_sandbox(ref, run=RunLabels("replay"))
    try:
        out = _run_feature(box, task, 1)
        assert out.startswith("exit=0")
        for command in ("pip install -e .[test]", "pip install pytest pytest-xdist pytest_mock"):
            assert f"[cooperbench] `{command}` replayed (exit 0)" in out, out[-2000:]
        # pip's own output, as recorded, then the note that says it was replayed.
        assert "Successfully installed click-99.0\n[cooperbench] `pip install -e .[test]` replayed" in out
        # A patch that touches packaging runs the real install (and passes, as in the image).
        made = box.exec(
            "git apply /patches/feature.patch && sed -i 's/a CooperBench test fixture/changed/' pyproject.toml"
            " && git diff > /tmp/changed.patch && git checkout -q -- . && mv /tmp/changed.patch /patches/feature.patch"
        )
        assert made.returncode == 0, made.output
        changed = box.exec("runner.sh tests.patch feature.patch")
        assert changed.returncode == 0, changed.output[-2000:]
        assert "`pip install -e .[test]` replayed" not in changed.output
        assert "Successfully installed click-99.0" in changed.output
        # An environment the agent changed is not the recorded one either: the real pip runs.
        box.exec("pip uninstall -y -q pytest-mock")
        again = _run_feature(box, task, 2)
        assert again.startswith("exit=0") and "pytest_mock replayed" not in again
        assert "Successfully installed pytest-mock" in again or "Successfully installed pytest_mock" in again
        # And replay can be switched off.
        off = _run_feature(box, task, 2, env={"COOPERBENCH_INSTALL_MEMO": "off"})
        assert off.startswith("exit=0") and "replayed" not in off
    finally:
        box.cleanup()


def test_the_shared_task_environment_cannot_be_changed_from_a_sandbox(tmp_path: Path) -> None:
    """Sandboxes hard-link the venv (fast to create); writing, chmod-ing or chown-ing its files is refused."""
    task = task_with_future_history(tmp_path / "dataset").task
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    ref = backend.resolve_image(task)
    shared = backend.templates_dir / ref.split(":", 1)[1] / "shared" / ".venv"
    target = next(shared.glob("lib/python3*/site-packages/pytest/__init__.py"))
    before = target.read_bytes()
    box = backend.create_sandbox(ref, run=RunLabels("tamper"))
    other = backend.create_sandbox(ref, run=RunLabels("tamper"))
    try:
        inside = "/workspace/.venv/" + str(target.relative_to(shared))
        for attack in (f"echo 'raise SystemExit(3)' >> {inside}", f"chmod u+w {inside}", f"chown root {inside}",
                       f"truncate -s 0 {inside}"):  # fmt: skip
            assert box.exec(attack).returncode != 0, attack
        assert target.read_bytes() == before
        # Its own directories are its own: pip may replace and remove files, without touching the template.
        assert (
            box.exec(
                f"rm {inside} && echo 'X = 1' > {inside} && python -c 'import pytest; print(pytest.X)'"
            ).output.strip()
            == "1"
        )
        assert target.read_bytes() == before
        assert other.exec("python -m pytest --version").returncode == 0
    finally:
        box.cleanup()
        other.cleanup()
