"""A fresh machine sets up with the README's commands (#10.14): which Python set-up takes, what it says
when there is no 3.12, and `cooperbench --version`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIND_PYTHON = ROOT / "scripts" / "find_python.sh"
PYENV = Path.home() / ".pyenv" / "versions"


def _python(minor: int) -> Path:
    found = sorted(PYENV.glob(f"3.{minor}.*/bin/python3.{minor}"))
    if not found:
        pytest.fail(f"pyenv has no Python 3.{minor} (bootstrap installs the workspace's pythons)")
    return found[-1]


def _os_release(tmp_path: Path, distro: str, version: str) -> Path:
    path = tmp_path / f"os-release-{distro}-{version}"
    path.write_text(f'ID={distro}\nVERSION_ID="{version}"\n')
    return path


def find_python(tmp_path: Path, *, pythons: dict[str, Path], uv: str, distro=("debian", "12"), **env: str):
    """scripts/find_python.sh on a PATH holding only ``pythons`` (name -> interpreter), with no pyenv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, target in pythons.items():
        (bin_dir / name).symlink_to(target)
    for tool in ("bash", "ls", "sort", "sed", "grep", "head", "dirname"):
        (bin_dir / tool).symlink_to(shutil.which(tool))  # type: ignore[arg-type]
    home = tmp_path / "home"  # no ~/.pyenv, no uv-managed Pythons
    home.mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", str(FIND_PYTHON)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={
            "PATH": str(bin_dir),
            "HOME": str(home),
            "UV": uv,
            "UV_HTTP_TIMEOUT": "10",
            "UV_PYTHON_INSTALL_DIR": str(tmp_path / "uv-pythons"),
            "COOPERBENCH_OS_RELEASE": str(_os_release(tmp_path, *distro)),
            **env,
        },
    )


def chosen(proc: subprocess.CompletedProcess[str]) -> tuple[str, Path]:
    mode, _, python = proc.stdout.strip().partition(" ")
    return mode, Path(python).resolve()


def _uv() -> str:
    return os.environ.get("UV") or shutil.which("uv") or __import__("uv").find_uv_bin()


def test_a_python_312_on_path_is_taken_for_the_whole_workspace(tmp_path):
    proc = find_python(tmp_path, pythons={"python3": _python(11), "python3.12": _python(12)}, uv=_uv())
    assert proc.returncode == 0, proc.stderr
    assert chosen(proc) == ("full", _python(12).resolve())


def test_without_312_and_without_downloads_the_system_python_is_used_and_the_hint_works_on_debian_12(tmp_path):
    proc = find_python(tmp_path, pythons={"python3": _python(11)}, uv=_uv(), UV_PYTHON_DOWNLOADS="never")
    assert proc.returncode == 0, proc.stderr
    assert chosen(proc) == ("partial", _python(11).resolve())
    assert "UV_PYTHON_DOWNLOADS=never forbids uv to download one" in proc.stderr
    assert "Using the system Python 3.11" in proc.stderr
    assert "uv python install 3.12" in proc.stderr
    assert "Debian 12 has no python3.12 package" in proc.stderr and "apt-get install python3.12" not in proc.stderr


def test_without_312_uv_is_asked_for_its_own_and_its_failure_is_said(tmp_path):
    # The real uv tries to download its managed Python 3.12; this machine reaches no download host.
    proc = find_python(
        tmp_path, pythons={"python3": _python(11)}, uv=_uv(), UV_PYTHON_INSTALL_DIR=str(tmp_path / "uvpy")
    )
    assert proc.returncode == 0, proc.stderr
    assert "asking uv for its managed Python 3.12" in proc.stderr
    mode, python = chosen(proc)
    if mode == "full":  # a machine that reaches uv's download host: its own Python 3.12
        assert python.is_relative_to(tmp_path / "uv-pythons")
    else:  # this workplace reaches no download host: said so, and the system Python is used
        assert (mode, python) == ("partial", _python(11).resolve())
        assert "uv could not download one" in proc.stderr


@pytest.mark.parametrize(
    ("distro", "hint"),
    [
        (("ubuntu", "24.04"), "sudo apt-get install python3.12 python3.12-venv"),
        (("ubuntu", "22.04"), "ppa:deadsnakes/ppa && sudo apt-get install python3.12"),
        (("debian", "12"), "pyenv install 3.12"),
    ],
)
def test_the_hint_names_a_command_that_works_on_that_system(tmp_path, distro, hint):
    proc = find_python(tmp_path, pythons={"python3": _python(10)}, uv="/nonexistent/uv", distro=distro)
    assert chosen(proc) == ("partial", _python(10).resolve())
    assert hint in proc.stderr


def test_no_python_310_at_all_fails_with_the_hint(tmp_path):
    proc = find_python(tmp_path, pythons={"python3": PYENV / "3.9.18" / "bin" / "python3.9"}, uv="/nonexistent/uv")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "no Python 3.10+ found" in proc.stderr and "uv python install 3.12" in proc.stderr


def test_a_partial_install_leaves_out_exactly_what_needs_a_newer_python():
    proc = subprocess.run(["bash", str(FIND_PYTHON), "--members", str(_python(11))], capture_output=True, text=True,
                          cwd=ROOT, check=True)  # fmt: skip
    lines = proc.stdout.splitlines()
    assert "leave cooperbench-agent-openhands (needs Python >= 3.12)" in lines
    assert {"install .", "install cooperbench-agent-miniswe", "install cooperbench-backend-docker"} <= set(lines)
    assert len([line for line in lines if line.startswith("leave ")]) == 1
    on_312 = subprocess.run(["bash", str(FIND_PYTHON), "--members", str(_python(12))], capture_output=True,
                            text=True, cwd=ROOT, check=True).stdout.splitlines()  # fmt: skip
    assert all(line.startswith("install ") for line in on_312) and len(on_312) == len(lines)


def test_version_prints_the_core_and_every_plugin_distribution():
    proc = subprocess.run([sys.executable, "-m", "cooperbench", "--version"], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"cooperbench {metadata.version('cooperbench')} (Python ")
    plugins = {
        ep.dist.name: ep.dist.version
        for ep in metadata.entry_points(group="cooperbench")
        if ep.dist is not None and ep.dist.name != "cooperbench"
    }
    assert "cooperbench-agent-miniswe" in plugins
    assert lines[1:] == [f"{name} {version}" for name, version in sorted(plugins.items())]
