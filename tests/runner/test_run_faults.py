"""Faults of a whole `cooperbench run` process: signals, exit status, the run lock, bad requests.

Each test drives a real `cooperbench run` subprocess on the example dataset and the local backend.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "examples" / "dataset"
HERE = Path(__file__).resolve().parent


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(HERE), "COOPERBENCH_EXTERNAL_AGENTS": "cb_test_agents", **extra}


def _wait_for(condition, what: str, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit:.0f}s waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("first", [signal.SIGTERM, signal.SIGHUP], ids=["sigterm", "sighup"])
def test_sigterm_and_sighup_shut_down_like_ctrl_c_and_a_second_signal_is_never_silent(tmp_path, first):
    from cooperbench.backends.local.backend import LocalBackend

    run_name = f"signal-{first.name.lower()}-{os.getpid()}"
    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "out.txt"
    command = [sys.executable, "-m", "cooperbench", "run", "-n", run_name, "-a", "t_slow_cleanup", "--setting", "solo"]
    command += ["--dataset-dir", str(DATASET), "--log-dir", str(tmp_path / "logs"), "-r", "textkit_task", "-f", "1,2"]
    backend = LocalBackend()
    with out.open("w") as sink:
        proc = subprocess.Popen(command, env=_env(CB_TEST_MARKERS=str(markers)), stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: proc.poll() is not None or any("sandbox process" in r for r in backend.resources(run_name)),
                  "the agent's sandbox command")  # fmt: skip
        assert proc.poll() is None, out.read_text()
        proc.send_signal(first)
        _wait_for(lambda: (markers / "cleanup_started").exists(), "the run's cleanup")
        proc.send_signal(signal.SIGTERM)  # during the cleanup: said, and the cleanup goes on
        _wait_for(lambda: "would remove now:" in out.read_text(), "the second signal's answer")
        (markers / "cleanup_release").touch()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        left = backend.resources(run_name)
        backend.cleanup(run_name=run_name)
    text = out.read_text()
    assert proc.returncode == 128 + first.value, text
    assert f"{first.name} received: stopping run {run_name}" in text
    assert f"SIGTERM received again: cleanup of run '{run_name}' is still in progress" in text
    assert f"`cooperbench cleanup --run {run_name}` would remove now:" in text and "sandbox" in text
    assert "Interrupted" in text and "run the same command again to resume" in text and "Traceback" not in text
    assert left == [], left
    assert list((tmp_path / "logs" / run_name).rglob("result.json")) == []  # the unfinished pair is not done
    summary = json.loads((tmp_path / "logs" / run_name / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["interrupted_by"] == first.name
