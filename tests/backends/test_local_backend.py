"""The ``local`` backend beyond the conformance suite: host protection, venvs, templates, errors."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cooperbench.backends import RunLabels, get_backend
from cooperbench.backends.local import LocalBackend, LocalSandbox
from cooperbench.dataset import Task, load_task
from cooperbench.errors import ConfigError, SandboxError


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(cache_dir=tmp_path / "cache")


@pytest.fixture
def sandbox(backend: LocalBackend, example_task: Task) -> Iterator[LocalSandbox]:
    box = backend.create_sandbox(backend.resolve_image(example_task), run=RunLabels("local-tests"))
    yield box
    box.cleanup()


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A host directory outside /tmp (which sandboxes replace with their own), so sandboxes see it."""
    path = Path(tempfile.mkdtemp(prefix="cooperbench-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def copy_task(task: Task, dest: Path) -> Task:
    shutil.copytree(task.path, dest / task.repo / task.path.name)
    loaded = load_task(dest / task.repo / task.path.name, task.repo)
    assert loaded is not None
    return loaded


def test_missing_bwrap_is_a_sandbox_error_naming_the_install_command(
    backend: LocalBackend, example_task: Task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = backend.resolve_image(example_task)
    monkeypatch.setenv("PATH", str(tmp_path / "bin-without-bwrap"))
    with pytest.raises(SandboxError, match=r"bubblewrap \(`bwrap`\) not found on PATH.*apt-get install bubblewrap"):
        backend.resolve_image(example_task)
    with pytest.raises(SandboxError, match="apt-get install bubblewrap"):
        backend.create_sandbox(ref, run=RunLabels("no-bwrap"))
    assert backend.resources("no-bwrap") == []


def test_unknown_backend_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no_such_option"):
        get_backend("local", no_such_option=1)


def test_upstream_image_name_works_once_resolved_and_unknown_names_explain_the_fix(
    backend: LocalBackend, example_task: Task
) -> None:
    with pytest.raises(SandboxError, match=r"cannot resolve image .*Call backend.resolve_image\(task\) first"):
        backend.create_sandbox(example_task.image_name(), run=RunLabels("names"))
    backend.resolve_image(example_task)
    box = backend.create_sandbox(example_task.image_name(), run=RunLabels("names"))
    try:
        assert box.exec("git status --porcelain && echo clean").output.strip() == "clean"
    finally:
        box.cleanup()


def test_template_is_built_once_per_task_content(backend: LocalBackend, example_task: Task, tmp_path: Path) -> None:
    task = copy_task(example_task, tmp_path / "dataset")
    ref = backend.resolve_image(task)
    meta = backend.templates_dir / ref.split(":", 1)[1] / "meta.json"
    built_at = json.loads(meta.read_text())["built_at"]
    assert backend.resolve_image(task) == ref
    assert json.loads(meta.read_text())["built_at"] == built_at, "a cached template is not rebuilt"
    (task.path / "runner.sh").write_text((task.path / "runner.sh").read_text() + "\n# changed\n")
    changed = load_task(task.path, task.repo)
    assert changed is not None and backend.resolve_image(changed) != ref, "new task content, new template"


def test_commands_cannot_write_the_host(sandbox: LocalSandbox, backend: LocalBackend, host_dir: Path) -> None:
    victim = host_dir / "victim.txt"
    victim.write_text("original\n")
    result = sandbox.exec("touch /usr/cb-probe")
    assert result.returncode != 0 and "Read-only file system" in result.output
    seen = sandbox.exec(f"cat {victim}; echo more >> {victim}; ls {host_dir}")
    assert "original" not in seen.output, "a host directory outside the allowlist does not exist inside"
    assert victim.read_text() == "original\n" and not Path("/usr/cb-probe").exists()
    with pytest.raises(SandboxError, match="cannot write /etc/cb-probe"):
        sandbox.write_file("/etc/cb-probe", "x")
    # A symlink planted inside cannot redirect the harness's own writes onto the host.
    sandbox.exec(f"ln -s {victim} /patches/evil.patch")
    with pytest.raises(SandboxError):
        sandbox.write_file("/patches/evil.patch", "overwritten\n")
    assert victim.read_text() == "original\n"


def test_cache_and_container_engine_sockets_are_hidden(host_dir: Path, example_task: Task) -> None:
    # A comma cannot be spelled in overlayfs options: this cache takes the fallback, a copy of the template.
    backend = LocalBackend(cache_dir=host_dir / "cache,copied")
    box = backend.create_sandbox(backend.resolve_image(example_task), run=RunLabels("hidden"))
    try:
        assert (host_dir / "cache,copied" / "runs").is_dir()
        assert _mount_types(box.root) == [] and (box.root / "workspace" / "repo" / ".git").is_dir()
        assert box.exec("git status --porcelain && ls /workspace/.venv/bin/python").returncode == 0
        listing = box.exec(f"ls -A {backend.cache_dir} 2>&1")
        assert "templates" not in listing.output and "runs" not in listing.output, "the cache is not visible"
        for sock in ("/run/docker.sock", "/var/run/docker.sock"):
            if os.path.exists(sock):
                assert box.exec(f"test -S {sock}").returncode != 0, f"{sock} is masked"
    finally:
        box.cleanup()


def test_processes_end_with_their_command(sandbox: LocalSandbox) -> None:
    assert sandbox.exec("sleep 300 & echo started").output.strip() == "started"
    assert _bwrap_pids(sandbox.root) == [], "a background process does not outlive its exec"


def _wheel(name: str) -> bytes:
    """A minimal pure-Python wheel, built by hand (no setuptools needed)."""
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},sha256={hashlib.sha256(data).hexdigest()},{len(data)}\n" for path, data in files.items())
    files[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return buffer.getvalue()


def _mount_types(path: Path) -> list[str]:
    """Filesystem types of the mounts at or below ``path`` on the host."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split(" - ")[1].split()[0] for line in lines if (line.split()[4] + "/").startswith(f"{path}/")]


def _tree(path: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry below ``path`` with its mode, size and modification time (any write changes one)."""
    return {
        str(p.relative_to(path)): (st.st_mode, st.st_size, st.st_mtime_ns) for p in path.rglob("*") if (st := p.lstat())
    }


def test_python_task_has_a_venv_that_pip_installs_into(
    sandbox: LocalSandbox, backend: LocalBackend, example_task: Task
) -> None:
    template = backend.templates_dir / backend.resolve_image(example_task).split(":", 1)[1]
    before = _tree(template)
    if os.geteuid() == 0:  # as root (as CI runs) the workspace is an overlay of the template, not a copy
        assert _mount_types(sandbox.root) == ["overlay"]
    assert sandbox.exec("python -c 'import sys; print(sys.prefix)'").output.strip() == "/workspace/.venv"
    assert sandbox.exec("git clean -fdxq && python -m pytest --version").returncode == 0, "pytest survives git clean"
    sandbox.write_file("/tmp/cbprobe-1.0-py3-none-any.whl", _wheel("cbprobe"))
    install = sandbox.exec("pip install --no-index --no-deps /tmp/cbprobe-1.0-py3-none-any.whl")
    assert install.returncode == 0, install.output
    where = sandbox.exec("cd / && python -c 'import cbprobe; print(cbprobe.__file__, cbprobe.VALUE)'").output
    assert where.startswith("/workspace/.venv/lib/") and where.split()[1] == "42", where
    assert importlib.util.find_spec("cbprobe") is None, "the harness's interpreter is untouched"
    edit = sandbox.exec("rm -rf /workspace/.venv/bin/pip* && echo changed > README.md && git status --porcelain")
    assert edit.returncode == 0 and edit.output.split() == ["M", "README.md"], edit.output
    # Directories of the template can be renamed (as in a copy): git mv, a package moved aside.
    moved = sandbox.exec("git mv tests tests_moved && mv /workspace/.venv/lib /workspace/.venv/lib2 && ls")
    assert moved.returncode == 0 and "tests_moved" in moved.output.split(), moved.output
    other = backend.create_sandbox(backend.resolve_image(example_task), run=RunLabels("local-tests"))
    try:
        assert other.exec("python -c 'import cbprobe'").returncode != 0, "another sandbox has its own venv"
        assert other.exec("git status --porcelain && ls /workspace/.venv/bin/pip").returncode == 0
    finally:
        other.cleanup()
    assert _tree(template) == before, "no change inside a sandbox reaches its template"
    sandbox.cleanup()
    assert _mount_types(sandbox.root) == [] and not sandbox.root.exists(), "cleanup detaches and deletes the workspace"


def test_a_cache_reached_through_a_symlink_is_unmounted_and_its_run_reused(tmp_path: Path, example_task: Task) -> None:
    # /proc/self/mountinfo names mounts by their real path: a cache whose path holds a symlink
    # (~/.cache linked to another disk) once left every overlay mounted and its directory behind,
    # and the run's next sandbox failed ("cannot create the run directory: Directory not empty").
    real = tmp_path / "real-cache"
    real.mkdir()
    (tmp_path / "linked-cache").symlink_to(real)
    linked = LocalBackend(cache_dir=tmp_path / "linked-cache")
    image = linked.resolve_image(example_task)
    run = RunLabels("symlinked-cache")
    try:
        for _ in range(2):
            box = linked.create_sandbox(image, run=run, purpose="eval")
            if os.geteuid() == 0:  # as root (as CI runs) the workspace is an overlay mount
                assert _mount_types(real / "runs") == ["overlay"]
            assert box.exec("git status --porcelain").returncode == 0
            box.cleanup()
            assert _mount_types(real / "runs") == [], "cleanup detaches the workspace mount"
            assert not box.root.exists(), "cleanup deletes the sandbox"
        assert list((real / "runs").iterdir()) == [], "the run's directory goes with its last sandbox"
    finally:
        linked.cleanup()


def test_setup_sh_is_used_without_a_bundle_and_honours_insteadof_mirrors(
    tmp_path: Path, host_dir: Path, example_task: Task, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = host_dir / "mirror" / "tiny.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(example_task.path / "repo.bundle"), str(mirror)], check=True)
    home = host_dir / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f'[url "file://{mirror.parent}/"]\n\tinsteadOf = https://git.invalid/\n')
    monkeypatch.setenv("HOME", str(home))
    task = copy_task(example_task, tmp_path / "dataset")
    (task.path / "repo.bundle").unlink()
    setup = (task.path / "setup.sh").read_text()
    setup = setup.replace('git clone "$TASK_DIR/repo.bundle"', "git clone https://git.invalid/tiny.git")
    (task.path / "setup.sh").write_text(setup)
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    box = backend.create_sandbox(backend.resolve_image(task), run=RunLabels("setup-sh"))
    try:
        base = setup.split('BASE_COMMIT="', 1)[1].split('"', 1)[0]
        assert box.exec("git rev-parse HEAD").output.strip() == base
        assert box.exec("git status --porcelain; git remote").output == ""
        assert box.exec("ls -A /workspace").output.split() == [".cooperbench", ".venv", "bin", "home", "repo"]
    finally:
        box.cleanup()


def test_setup_sh_that_leaves_no_repository_is_explained(tmp_path: Path, example_task: Task) -> None:
    task = copy_task(example_task, tmp_path / "dataset")
    (task.path / "repo.bundle").unlink()
    (task.path / "setup.sh").write_text('#!/bin/bash\nBASE_COMMIT="0123456789abcdef"\necho nothing cloned\nexit 3\n')
    with pytest.raises(SandboxError, match=r"(?s)setup.sh exited 3 without leaving a git repository.*nothing cloned"):
        LocalBackend(cache_dir=tmp_path / "cache").resolve_image(task)


BUILDER = """
import sys
from pathlib import Path
from cooperbench.backends.local import LocalBackend
from cooperbench.dataset import load_task
print(LocalBackend().resolve_image(load_task(Path(sys.argv[1]), sys.argv[2])))
"""


def test_concurrent_template_builds_from_two_processes_make_one_template(tmp_path: Path, example_task: Task) -> None:
    env = {**os.environ, "COOPERBENCH_CACHE_DIR": str(tmp_path / "cache")}
    argv = [sys.executable, "-c", BUILDER, str(example_task.path), example_task.repo]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    refs = {proc.communicate(timeout=300)[0].strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    assert len(refs) == 1
    templates = sorted(p.name for p in (tmp_path / "cache" / "templates").iterdir())
    key = refs.pop().split(":", 1)[1]
    assert templates == [key, f"{key}.lock"], "one template, no half-built leftovers"
    backend = LocalBackend(cache_dir=tmp_path / "cache")
    box = backend.create_sandbox(f"local-template:{key}", run=RunLabels("built"))
    try:
        assert box.exec("git status --porcelain && git rev-parse HEAD").returncode == 0
    finally:
        box.cleanup()


HOLDER = """
import sys, threading, time
from pathlib import Path
from cooperbench.backends import RunLabels
from cooperbench.backends.local import LocalBackend
from cooperbench.dataset import load_task
backend = LocalBackend()
ref = backend.resolve_image(load_task(Path(sys.argv[1]), sys.argv[2]))
run = RunLabels(sys.argv[3])
boxes = [backend.create_sandbox(ref, run=run) for _ in range(2)]
backend.create_git_server(run=run)
for box in boxes:
    threading.Thread(target=box.exec, args=("sleep 1000",), daemon=True).start()
print(boxes[0].root.parent.parent, flush=True)
time.sleep(1000)
"""


def _bwrap_pids(path: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"bwrap") and any(str(path).encode() in a for a in argv):
            pids.append(int(proc.name))
    return pids


def _hold_sandboxes(tmp_path: Path, task: Task, run_name: str) -> tuple[subprocess.Popen[str], Path]:
    env = {**os.environ, "COOPERBENCH_CACHE_DIR": str(tmp_path / "cache")}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(task.path), task.repo, run_name], env=env, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    run_dir = Path(holder.stdout.readline().strip())
    assert run_dir.is_dir(), "the holder reports its run directory"
    return holder, run_dir


def test_kill_9_then_cli_cleanup_leaves_no_process_or_workspace(tmp_path: Path, example_task: Task) -> None:
    holder, run_dir = _hold_sandboxes(tmp_path, example_task, "crashed-run")
    kept, kept_dir = _hold_sandboxes(tmp_path, example_task, "other-run")
    try:
        holder.kill()
        holder.wait()
        env = {**os.environ, "COOPERBENCH_CACHE_DIR": str(tmp_path / "cache")}
        done = subprocess.run(
            [sys.executable, "-m", "cooperbench", "cleanup", "--run", "crashed-run", "--backend", "local"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "sandbox agent-" in done.stdout and "run directory" in done.stdout
        assert not run_dir.exists() and _mount_types(run_dir) == [], "no workspace of the run remains"
        assert _bwrap_pids(run_dir) == [], "no bwrap process of the run remains"
        assert kept_dir.is_dir() and kept.poll() is None, "another run is untouched"
    finally:
        kept.kill()
        kept.wait()
        LocalBackend(cache_dir=tmp_path / "cache").cleanup()
    assert _bwrap_pids(kept_dir) == []


def test_stale_only_sweeps_dead_owners_and_spares_live_ones(tmp_path: Path, example_task: Task) -> None:
    dead, dead_dir = _hold_sandboxes(tmp_path, example_task, "same-name")
    live, live_dir = _hold_sandboxes(tmp_path, example_task, "same-name")
    try:
        dead.kill()
        dead.wait()
        removed = LocalBackend(cache_dir=tmp_path / "cache").cleanup(run_name="same-name", stale_only=True)
        assert removed and all(dead_dir.name.rsplit("--", 1)[1] in item for item in removed)
        assert not dead_dir.exists() and live_dir.is_dir()
    finally:
        live.kill()
        live.wait()
        LocalBackend(cache_dir=tmp_path / "cache").cleanup()


def test_network_option_false_cuts_the_network(tmp_path: Path, example_task: Task) -> None:
    backend = LocalBackend(cache_dir=tmp_path / "cache", network=False)
    box = backend.create_sandbox(backend.resolve_image(example_task), run=RunLabels("offline"))
    try:
        interfaces = [line.split(":")[0].strip() for line in box.exec("cat /proc/net/dev").output.splitlines()[2:]]
        assert interfaces == ["lo"], "only the loopback device exists"
    finally:
        box.cleanup()


def test_team_remote_takes_pushes_but_not_hooks_or_config(backend: LocalBackend, example_task: Task) -> None:
    # A file:// push runs receive-pack in the pusher's sandbox with the remote's hooks and config:
    # a hook planted by one agent would run in its teammate's sandbox.
    identity = {
        "GIT_AUTHOR_NAME": "a",
        "GIT_AUTHOR_EMAIL": "a@x",
        "GIT_COMMITTER_NAME": "a",
        "GIT_COMMITTER_EMAIL": "a@x",
    }
    run = RunLabels("team-remote")
    server = backend.create_git_server(run=run)
    box = backend.create_sandbox(backend.resolve_image(example_task), run=run, mounts=server.mounts)
    try:
        repo = server.url.removeprefix("file://")
        pushed = box.exec(
            f"git checkout -qb agent1 && git commit -q --allow-empty -m one && git push -q {server.url} agent1",
            env=identity,
        )
        assert pushed.returncode == 0, pushed.output
        for attempt in (f"echo evil > {repo}/hooks/post-update", f"git -C {repo} config core.hooksPath /tmp"):
            assert box.exec(attempt).returncode != 0, f"{attempt!r} must fail"
        assert not (server.path / "hooks" / "post-update").exists()
        assert "hooksPath" not in (server.path / "config").read_text()
    finally:
        box.cleanup()
        server.cleanup()
