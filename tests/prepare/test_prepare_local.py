"""`cooperbench prepare --from PATH`: a folder, a tarball, a git checkout; and `--check` on what was imported."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from cooperbench.prepare import check_dataset, prepare_dataset
from cooperbench.testing.fake_hub import read_tree

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dataset"
GIT_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}


def manifest(folder: Path) -> dict:
    return json.loads((folder / ".cooperbench-manifest.json").read_text())


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True).stdout


def test_prepare_from_a_folder_then_check_catches_a_changed_file(tmp_path, cli, content):
    proc = cli("prepare", "--from", str(EXAMPLE), "--dataset-dir", "ds")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    target = tmp_path / "ds"
    assert content(target) == read_tree(EXAMPLE)
    assert os.access(target / "minicalc_task" / "task2" / "setup.sh", os.X_OK)
    assert manifest(target)["source"] == {"kind": "folder", "path": str(EXAMPLE)}
    assert "2 task(s), 9 feature(s), 16 pair(s)." in proc.stdout
    assert cli("prepare", "--check", "--dataset-dir", "ds").returncode == 0

    patch = target / "textkit_task" / "task1" / "feature1" / "tests.patch"
    patch.write_bytes(patch.read_bytes() + b"\n")
    check = cli("prepare", "--check", "--dataset-dir", "ds")
    assert check.returncode == 1
    assert check.stdout.splitlines() == ["changed  textkit_task/task1/feature1/tests.patch"]
    assert f"`cooperbench prepare --from {EXAMPLE}` restores" in check.stderr

    as_json = cli("prepare", "--check", "--json", "--dataset-dir", "ds")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["changed"] == ["textkit_task/task1/feature1/tests.patch"]
    assert report["missing"] == [] and report["extra"] == [] and report["source"]["kind"] == "folder"

    again = cli("prepare", "--from", str(EXAMPLE), "--dataset-dir", "ds")
    assert again.returncode == 0, again.stderr
    assert f"1 written, {len(read_tree(EXAMPLE)) - 1} already in place" in again.stdout  # resumable: only what differs
    assert cli("prepare", "--check", "--dataset-dir", "ds").returncode == 0


def _tarball(path: Path, top: str, *, extra: list[tarfile.TarInfo] = ()) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(EXAMPLE, arcname=f"{top}/dataset")
        tar.add(EXAMPLE.parents[1] / "README.md", arcname=f"{top}/README.md")
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def test_prepare_from_a_github_style_tarball_finds_the_dataset_folder(tmp_path, content):
    link = tarfile.TarInfo("CooperBench-main/dataset/escape")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive = _tarball(tmp_path / "CooperBench-main.tar.gz", "CooperBench-main", extra=[link])
    result = prepare_dataset(tmp_path / "ds", source=archive)
    assert content(tmp_path / "ds") == read_tree(EXAMPLE)  # README.md of the repository stays out
    assert result.skipped == ["CooperBench-main/dataset/escape"]
    source = manifest(tmp_path / "ds")["source"]
    assert source["kind"] == "tarball" and source["subfolder"] == "CooperBench-main/dataset"
    assert len(source["sha256"]) == 64
    assert os.access(tmp_path / "ds" / "textkit_task" / "task1" / "run_tests.sh", os.X_OK)
    assert check_dataset(tmp_path / "ds").ok


def test_prepare_from_a_zip(tmp_path, content):
    archive = tmp_path / "ds.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for rel in read_tree(EXAMPLE):
            zf.write(EXAMPLE / rel, rel)
    prepare_dataset(tmp_path / "ds", source=archive)
    assert content(tmp_path / "ds") == read_tree(EXAMPLE)


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt"])
def test_a_tarball_member_outside_the_archive_is_refused(tmp_path, name):
    info = tarfile.TarInfo(name)
    info.size = 1
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(EXAMPLE, arcname="dataset")
        tar.addfile(info, io.BytesIO(b"x"))
    from cooperbench.prepare import PrepareError

    with pytest.raises(PrepareError, match="points outside the archive"):
        prepare_dataset(tmp_path / "ds", source=archive)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "ds").exists()


def test_prepare_from_a_git_checkout_pins_the_commit(tmp_path, content):
    checkout = tmp_path / "CooperBench"
    shutil.copytree(EXAMPLE, checkout / "dataset")
    git(checkout, "init", "-q", "-b", "main")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "dataset v1")
    git(checkout, "tag", "v1")
    first = git(checkout, "rev-parse", "HEAD").strip()
    (checkout / "dataset" / "subsets" / "team3.json").unlink()
    git(checkout, "commit", "-q", "-am", "drop team3")
    (checkout / "dataset" / "subsets" / "lite.json").write_text("{}")  # uncommitted: not imported

    result = prepare_dataset(tmp_path / "ds", source=checkout)
    assert content(tmp_path / "ds") == {k: v for k, v in read_tree(EXAMPLE).items() if k != "subsets/team3.json"}
    source = manifest(tmp_path / "ds")["source"]
    assert source["kind"] == "git" and source["revision"] == "HEAD" and source["subfolder"] == "dataset"
    assert source["commit"] == git(checkout, "rev-parse", "HEAD").strip()
    assert any("uncommitted changes" in note for note in result.notes)

    prepare_dataset(tmp_path / "ds", source=checkout, revision="v1")
    assert content(tmp_path / "ds") == read_tree(EXAMPLE)
    assert manifest(tmp_path / "ds")["source"]["commit"] == first

    git(tmp_path, "clone", "-q", "--bare", str(checkout), "mirror.git")  # a bare mirror works the same
    result = prepare_dataset(tmp_path / "from-mirror", source=tmp_path / "mirror.git", revision="v1")
    assert content(tmp_path / "from-mirror") == read_tree(EXAMPLE) and not result.notes


def test_a_git_checkout_of_lfs_pointers_is_refused_with_the_fix(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(EXAMPLE, source)
    (source / "textkit_task" / "task1" / "repo.bundle").write_bytes(
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 12345\n"
    )
    from cooperbench.prepare import PrepareError

    with pytest.raises(PrepareError, match="git lfs pull"):
        prepare_dataset(tmp_path / "ds", source=source)


def test_an_existing_dataset_folder_is_recorded_in_place(tmp_path):
    shutil.copytree(EXAMPLE, tmp_path / "ds")
    result = prepare_dataset(tmp_path / "ds", source=tmp_path / "ds")
    assert result.written == 0 and result.reused == len(read_tree(EXAMPLE))
    assert check_dataset(tmp_path / "ds").ok


def test_bad_sources_and_options(tmp_path, cli):
    assert "not found" in cli("prepare", "--from", str(tmp_path / "absent")).stderr
    (tmp_path / "notes.txt").write_text("hi")
    assert "not a folder, a git checkout or a tarball" in cli("prepare", "--from", str(tmp_path / "notes.txt")).stderr
    (tmp_path / "empty").mkdir()
    assert "no CooperBench dataset found" in cli("prepare", "--from", str(tmp_path / "empty")).stderr
    with_revision = cli("prepare", "--from", str(EXAMPLE), "--revision", "x")
    assert "--revision applies to the Hub and to git" in with_revision.stderr
    assert "does not apply to --from" in cli("prepare", "--from", str(EXAMPLE), "--repo-id", "a/b").stderr
    assert "takes no --from" in cli("prepare", "--check", "--from", str(EXAMPLE)).stderr
    no_manifest = cli("prepare", "--check", "--dataset-dir", str(EXAMPLE))
    assert no_manifest.returncode == 2 and "no manifest" in no_manifest.stderr
    assert not (tmp_path / "dataset").exists()


def test_a_dataset_with_problems_is_prepared_and_its_problems_listed(tmp_path, cli):
    source = tmp_path / "src"
    shutil.copytree(EXAMPLE, source)
    (source / "textkit_task" / "task1" / "feature2").rename(source / "textkit_task" / "task1" / "feature02")
    proc = cli("prepare", "--from", str(source), "--dataset-dir", "ds")
    assert proc.returncode == 0, proc.stderr
    assert "3 pair(s) have dataset problems" in proc.stderr
    assert "feature02: a feature folder must be named feature<N>: rename it to feature2" in proc.stderr
