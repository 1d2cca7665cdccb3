"""`cooperbench prepare` against a local server that speaks the Hub's download API (huggingface_hub's
own HF_ENDPOINT pointed at it): pinned revisions, resume, repair, errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from cooperbench.testing.fake_hub import read_tree

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dataset"
REPO_ID = "CodeConflict/cooperbench-dataset"


def manifest(folder: Path) -> dict:
    return json.loads((folder / ".cooperbench-manifest.json").read_text())


def test_prepare_fetches_the_dataset_pins_the_commit_and_checks_clean(tmp_path, hub, cli, content):
    commit = hub.commit(REPO_ID, EXAMPLE)
    proc = cli("prepare")  # the default: ./dataset from the Hub's main
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dataset = tmp_path / "dataset"
    assert content(dataset) == read_tree(EXAMPLE)
    assert (dataset / "textkit_task" / "task1" / "runner.sh").stat().st_mode & 0o100  # scripts executable
    recorded = manifest(dataset)
    assert recorded["complete"] is True
    assert recorded["source"] == {
        "kind": "hub",
        "repo_id": REPO_ID,
        "revision": "main",
        "commit": commit,
        "endpoint": hub.url,
    }
    assert set(recorded["files"]) == set(read_tree(EXAMPLE))
    assert f"commit {commit[:12]}" in proc.stdout
    assert "2 task(s), 9 feature(s), 16 pair(s)." in proc.stdout

    check = cli("prepare", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"OK: {len(recorded['files'])} files of dataset match the manifest" in check.stdout


def test_revision_is_pinned_kept_on_resume_and_moved_only_when_asked(tmp_path, hub, cli, content):
    first = hub.commit(REPO_ID, EXAMPLE)
    changed = dict(read_tree(EXAMPLE))
    del changed["subsets/team3.json"]
    changed["NEWS.md"] = b"second commit\n"
    second = hub.commit(REPO_ID, changed)
    hub.tag(REPO_ID, "v1", first)
    target = tmp_path / "ds"

    old = cli("prepare", "--dataset-dir", str(target), "--revision", "v1")
    assert old.returncode == 0, old.stderr
    assert content(target) == read_tree(EXAMPLE)
    assert manifest(target)["source"]["commit"] == first and manifest(target)["source"]["revision"] == "v1"

    (target / "my-notes.txt").write_text("mine\n")  # a file of the user's, never touched
    kept = cli("prepare", "--dataset-dir", str(target))
    assert kept.returncode == 0, kept.stderr
    assert manifest(target)["source"]["commit"] == first  # main moved on, the pin holds
    assert "kept the pinned commit" in kept.stdout and "--revision main" in kept.stdout

    moved = cli("prepare", "--dataset-dir", str(target), "--revision", "main")
    assert moved.returncode == 0, moved.stderr
    assert manifest(target)["source"]["commit"] == second
    assert not (target / "subsets" / "team3.json").exists()  # gone from the source: removed
    assert (target / "NEWS.md").read_bytes() == b"second commit\n"
    assert (target / "my-notes.txt").read_text() == "mine\n"
    assert "Removed 1 file(s)" in moved.stdout

    by_commit = cli("prepare", "--dataset-dir", str(tmp_path / "other"), "--revision", first)
    assert by_commit.returncode == 0 and content(tmp_path / "other") == read_tree(EXAMPLE)


def test_an_interrupted_fetch_resumes_without_fetching_again_what_it_has(tmp_path, hub, cli, content):
    hub.commit(REPO_ID, EXAMPLE)
    broken = "textkit_task/task1/feature3/tests.patch"
    hub.fail(f"*/resolve/*/{broken}", status=403)
    failed = cli("prepare")
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "cannot fetch CodeConflict/cooperbench-dataset" in failed.stderr and "Traceback" not in failed.stderr
    got_first = set(hub.downloads())
    assert broken not in got_first and got_first  # the others arrived
    unfinished = cli("prepare", "--check")
    assert unfinished.returncode == 2 and "did not finish" in unfinished.stderr

    hub.clear_faults()
    hub.clear_requests()
    resumed = cli("prepare")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    got_second = set(hub.downloads())
    assert broken in got_second
    assert not got_first & got_second  # nothing fetched twice
    assert got_first | got_second == set(read_tree(EXAMPLE))
    assert content(tmp_path / "dataset") == read_tree(EXAMPLE)


def test_check_names_every_file_that_differs_and_prepare_repairs_them(tmp_path, hub, cli, content):
    hub.commit(REPO_ID, EXAMPLE)
    assert cli("prepare").returncode == 0
    dataset = tmp_path / "dataset"
    changed = "minicalc_task/task2/feature5/tests.patch"
    missing = "textkit_task/task1/runner.sh"
    (dataset / changed).write_bytes((dataset / changed).read_bytes().replace(b"25.0", b"26.0"))
    (dataset / missing).unlink()
    # Same size and modification time: huggingface_hub's own bookkeeping sees no change, the blob ids do.
    sneaky = "textkit_task/task1/feature1/feature.md"
    before = (dataset / sneaky).stat()
    (dataset / sneaky).write_bytes((dataset / sneaky).read_bytes().replace(b"kebab", b"KEBAB"))
    os.utime(dataset / sneaky, ns=(before.st_atime_ns, before.st_mtime_ns))
    (dataset / "textkit_task" / "task1" / "stray.txt").write_text("x")

    check = cli("prepare", "--check")
    assert check.returncode == 1
    assert check.stdout.splitlines() == [
        f"changed  {changed}",
        f"changed  {sneaky}",
        f"missing  {missing}",
        "extra    textkit_task/task1/stray.txt",
    ]
    assert "2 changed, 1 missing, 1 extra" in check.stderr and "`cooperbench prepare` restores" in check.stderr

    hub.clear_requests()
    repaired = cli("prepare")
    assert repaired.returncode == 0, repaired.stderr
    assert sorted(hub.downloads()) == sorted([changed, missing, sneaky])  # only what differed
    assert f"fetching {sneaky} again: its bytes differ from the Hub's" in repaired.stdout
    assert content(dataset) == {**read_tree(EXAMPLE), "textkit_task/task1/stray.txt": b"x"}
    (dataset / "textkit_task" / "task1" / "stray.txt").unlink()
    assert cli("prepare", "--check").returncode == 0


def test_hub_errors_say_what_and_where(tmp_path, hub, cli):
    hub.commit(REPO_ID, EXAMPLE)
    no_repo = cli("prepare", "--repo-id", "CodeConflict/nope")
    assert no_repo.returncode == 2
    assert "CodeConflict/nope" in no_repo.stderr and "not found or not accessible" in no_repo.stderr
    no_rev = cli("prepare", "--revision", "v9")
    assert no_rev.returncode == 2 and "revision 'v9' not found" in no_rev.stderr
    offline = cli("prepare", "--dataset-dir", "x", HF_ENDPOINT="http://127.0.0.1:9")
    assert offline.returncode == 2
    assert "cannot fetch" in offline.stderr and "--from PATH" in offline.stderr
    for proc in (no_repo, no_rev, offline):
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "dataset").exists()  # nothing was created for a fetch that could not start


def test_a_folder_prepare_did_not_write_is_not_written_into_without_force(tmp_path, hub, cli):
    hub.commit(REPO_ID, EXAMPLE)
    target = tmp_path / "dataset"
    target.mkdir()
    (target / "thesis.tex").write_text("precious\n")
    refused = cli("prepare")
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert sorted(p.name for p in target.iterdir()) == ["thesis.tex"]
    forced = cli("prepare", "--force")
    assert forced.returncode == 0, forced.stderr
    assert (target / "thesis.tex").read_text() == "precious\n"
    check = cli("prepare", "--check")
    assert check.returncode == 1 and check.stdout.splitlines() == ["extra    thesis.tex"]


def test_a_folder_upstreams_prepare_fetched_into_is_resumed(tmp_path, hub, cli):
    # upstream's `cooperbench prepare` is a snapshot_download into ./dataset: its bookkeeping is reused.
    hub.commit(REPO_ID, EXAMPLE)
    assert cli("prepare").returncode == 0
    (tmp_path / "dataset" / ".cooperbench-manifest.json").unlink()
    shutil.rmtree(tmp_path / "dataset" / "subsets")
    hub.clear_requests()
    again = cli("prepare")
    assert again.returncode == 0, again.stderr
    assert sorted(hub.downloads()) == ["subsets/lite.json", "subsets/team3.json"]


def test_the_fake_hub_serves_a_folder_from_the_command_line(tmp_path, cli, content):

    server = subprocess.Popen(
        [sys.executable, "-m", "cooperbench.testing.fake_hub", str(EXAMPLE)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline(), server.stdout.readline()]
        endpoint = lines[1].split()[0].removeprefix("HF_ENDPOINT=")
        proc = cli("prepare", "--dataset-dir", "served", HF_ENDPOINT=endpoint)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert content(tmp_path / "served") == read_tree(EXAMPLE)
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0
