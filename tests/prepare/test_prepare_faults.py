"""Faults during `cooperbench prepare`: Ctrl-C and kill -9 mid-fetch, a full or read-only disk, a corrupt
manifest. Each ends in a message naming what and where, keeps what was written, and the next run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cooperbench.prepare import PrepareError, check_dataset, prepare_dataset
from cooperbench.testing.fake_hub import read_tree

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dataset"
REPO_ID = "CodeConflict/cooperbench-dataset"


def _start(hub, tmp_path: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "COOPERBENCH_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf-home"), HF_HUB_DISABLE_PROGRESS_BARS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "cooperbench", "prepare"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_a_fetch_stopped_midway_resumes_without_fetching_anything_twice(tmp_path, hub, cli, content, sig):
    hub.commit(REPO_ID, EXAMPLE)
    hub.slow("*/resolve/*", 0.2)
    proc = _start(hub, tmp_path)
    deadline = time.monotonic() + 120

    def arrived() -> set[str]:
        return {rel for rel in read_tree(EXAMPLE) if (tmp_path / "dataset" / rel).exists()}

    while time.monotonic() < deadline and len(arrived()) < 3 and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the fetch ended before it could be interrupted"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, out + err
        assert "Interrupted" in err and "run `cooperbench prepare` again to resume" in err
        assert "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    first = set(hub.downloads())
    assert first and first != set(read_tree(EXAMPLE))
    assert not json.loads((tmp_path / "dataset" / ".cooperbench-manifest.json").read_text())["complete"]
    done = arrived()
    for rel in done:  # whatever arrived is whole (written to a temporary file, then renamed)
        assert (tmp_path / "dataset" / rel).read_bytes() == (EXAMPLE / rel).read_bytes()

    hub.clear_faults()
    hub.clear_requests()
    resumed = cli("prepare")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    again = hub.downloads()
    assert len(again) == len(set(again))
    # What the stopped run had finished is not fetched again; only a file it was still finishing (at most
    # one per download thread) may be. The exact no-refetch case is the failed-file test of test_prepare_hub.
    assert set(again) | done == set(read_tree(EXAMPLE))
    assert len(set(again) & done) <= 8 and len(again) < len(read_tree(EXAMPLE))
    assert content(tmp_path / "dataset") == read_tree(EXAMPLE)
    assert check_dataset(tmp_path / "dataset").ok


def _in_namespace(tmp_path: Path, script: str) -> None:
    subprocess.run(["unshare", "-rm", "sh", "-c", script], check=True, timeout=600, env={**os.environ})


def test_a_disk_that_fills_names_the_file_keeps_what_was_written_and_resumes(tmp_path):
    target = tmp_path / "disk"
    target.mkdir()
    py = sys.executable
    script = f"""
set -u
mount -t tmpfs -o size=96k tmpfs {target}
{py} -m cooperbench prepare --from {EXAMPLE} --dataset-dir {target}/ds > {tmp_path}/out1 2> {tmp_path}/err1
echo $? > {tmp_path}/rc1
ls -R {target}/ds > {tmp_path}/listing1
mount -o remount,size=4m {target}
{py} -m cooperbench prepare --from {EXAMPLE} --dataset-dir {target}/ds > {tmp_path}/out2 2> {tmp_path}/err2
echo $? > {tmp_path}/rc2
{py} -m cooperbench prepare --check --dataset-dir {target}/ds > {tmp_path}/out3 2>&1; echo $? > {tmp_path}/rc3
"""
    _in_namespace(tmp_path, script)
    err1 = (tmp_path / "err1").read_text()
    assert (tmp_path / "rc1").read_text().strip() == "2", err1
    assert "No space left on device" in err1 and f"{target}/ds" in err1 and "Traceback" not in err1
    assert "what was written is kept" in err1
    assert "task" in (tmp_path / "listing1").read_text()  # the first files stayed
    out2 = (tmp_path / "out2").read_text()
    assert (tmp_path / "rc2").read_text().strip() == "0", out2 + (tmp_path / "err2").read_text()
    reused = int(out2.split(" already in place")[0].rsplit(", ", 1)[-1])
    assert reused > 0  # the resumed run kept what fit the first time
    assert (tmp_path / "rc3").read_text().strip() == "0", (tmp_path / "out3").read_text()


def test_a_read_only_dataset_folder_is_a_clear_error(tmp_path):
    target = tmp_path / "ro"
    target.mkdir()
    script = f"""
mount -t tmpfs -o size=1m,ro tmpfs {target}
{sys.executable} -m cooperbench prepare --from {EXAMPLE} --dataset-dir {target}/ds > {tmp_path}/out 2> {tmp_path}/err
echo $? > {tmp_path}/rc
"""
    _in_namespace(tmp_path, script)
    err = (tmp_path / "err").read_text()
    assert (tmp_path / "rc").read_text().strip() == "2", err
    assert f"{target}/ds" in err and "Read-only file system" in err and "Traceback" not in err


def test_a_corrupt_manifest_is_named_by_check_and_rewritten_by_prepare(tmp_path):
    prepare_dataset(tmp_path / "ds", source=EXAMPLE)
    (tmp_path / "ds" / ".cooperbench-manifest.json").write_text("{oops")
    with pytest.raises(PrepareError, match=r"\.cooperbench-manifest\.json: unreadable manifest"):
        check_dataset(tmp_path / "ds")
    result = prepare_dataset(tmp_path / "ds", source=EXAMPLE)
    assert any("unreadable manifest" in note for note in result.notes)
    assert result.written == 0 and check_dataset(tmp_path / "ds").ok
