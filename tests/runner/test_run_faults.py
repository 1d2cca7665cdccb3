"""Faults of a whole `cooperbench run` process: signals, exit status, the run lock, bad requests.

Each test drives a real `cooperbench run` subprocess on the example dataset and the local backend.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cooperbench.testing.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "examples" / "dataset"
HERE = Path(__file__).resolve().parent


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(HERE), "COOPERBENCH_EXTERNAL_AGENTS": "cb_test_agents", **extra}


def _start_interruptible_run(tmp_path: Path, run_name: str, agent: str) -> tuple[subprocess.Popen, Path, Path]:
    """A `cooperbench run` of one solo pair with ``agent``; returns the process, its markers folder, its output."""
    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "out.txt"
    command = [sys.executable, "-m", "cooperbench", "run", "-n", run_name, "-a", agent, "--setting", "solo"]
    command += ["--dataset-dir", str(DATASET), "--log-dir", str(tmp_path / "logs"), "-r", "textkit_task", "-f", "1,2"]
    with out.open("w") as sink:
        proc = subprocess.Popen(command, env=_env(CB_TEST_MARKERS=str(markers)), stdout=sink, stderr=subprocess.STDOUT)
    return proc, markers, out


def _second_answer(out: Path) -> str:
    """What the process printed after the second signal's notice."""
    _, _, after = out.read_text().partition(" received again: ")
    return after


def _end_and_list_leftovers(proc: subprocess.Popen, backend, run_name: str) -> list[str]:
    """What the run left once its process ended (killed when a step of the test failed); then removed."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    left = backend.resources(run_name)
    backend.cleanup(run_name=run_name)  # never leave anything for the next test, even when failing
    return left


def _wait_for_marker(proc: subprocess.Popen, path: Path, what: str) -> None:
    wait_for(lambda: proc.poll() is not None or path.exists(), what)
    assert proc.poll() is None, f"the run ended before {what}"


@pytest.mark.parametrize("first", [signal.SIGTERM, signal.SIGHUP], ids=["sigterm", "sighup"])
def test_sigterm_and_sighup_shut_down_like_ctrl_c_and_a_second_signal_is_never_silent(tmp_path, first):
    from cooperbench.backends.local.backend import LocalBackend

    run_name = f"signal-{first.name.lower()}-{os.getpid()}"
    backend = LocalBackend()
    proc, markers, out = _start_interruptible_run(tmp_path, run_name, "t_slow_cleanup")
    try:
        # The agent's sandbox is tracked (a run's processes show up while a sandbox is still being made,
        # before it is tracked: a signal then finds no sandbox to list, see the late-sandbox test below).
        _wait_for_marker(proc, markers / "sandbox_tracked", "the agent's sandbox was made")
        sandbox_id = (markers / "sandbox_tracked").read_text()
        proc.send_signal(first)
        _wait_for_marker(proc, markers / "cleanup_started", "the run's cleanup")
        proc.send_signal(signal.SIGTERM)  # during the cleanup: said, and the cleanup goes on
        wait_for(lambda: "run directory" in _second_answer(out), "the second signal's listing")
        listing = _second_answer(out)
        (markers / "cleanup_release").touch()
        proc.wait(timeout=120)
    finally:
        left = _end_and_list_leftovers(proc, backend, run_name)
    text = out.read_text()
    assert proc.returncode == 128 + first.value, text
    assert f"{first.name} received: stopping run {run_name}" in text
    assert f"SIGTERM received again: cleanup of run '{run_name}' is still in progress" in text
    assert f"`cooperbench cleanup --run {run_name}` would remove now:\n" in listing, text
    assert f": sandbox {sandbox_id} at " in listing, text  # the agent's sandbox, still there during the cleanup
    assert "would remove nothing" not in text, text
    assert "Interrupted" in text and "run the same command again to resume" in text and "Traceback" not in text
    assert left == [], left
    assert list((tmp_path / "logs" / run_name).rglob("result.json")) == []  # the unfinished pair is not done
    summary = json.loads((tmp_path / "logs" / run_name / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["interrupted_by"] == first.name


def test_a_sandbox_made_after_ctrl_c_is_removed_at_once_and_a_second_ctrl_c_says_nothing_is_left(tmp_path):
    from cooperbench.backends.local.backend import LocalBackend

    run_name = f"signal-late-{os.getpid()}"
    backend = LocalBackend()
    proc, markers, out = _start_interruptible_run(tmp_path, run_name, "t_late_sandbox")
    try:
        _wait_for_marker(proc, markers / "agent_started", "the agent's start")
        proc.send_signal(signal.SIGINT)
        _wait_for_marker(proc, markers / "cleanup_started", "the run's cleanup")
        # The agent makes its sandbox now: the run's shutdown has begun, so the sandbox goes as soon as it exists.
        wait_for(lambda: proc.poll() is not None or any(markers.glob("late_sandbox_*")), "the late sandbox")
        assert (markers / "late_sandbox_removed").exists(), sorted(p.name for p in markers.iterdir())
        late_id = (markers / "late_sandbox_removed").read_text()
        assert backend.resources(run_name) == []
        proc.send_signal(signal.SIGINT)  # a second Ctrl-C during the cleanup
        wait_for(lambda: "would remove" in _second_answer(out), "the second signal's listing")
        (markers / "cleanup_release").touch()
        proc.wait(timeout=120)
    finally:
        left = _end_and_list_leftovers(proc, backend, run_name)
    text = out.read_text()
    assert proc.returncode == 130, text
    assert f"SIGINT received again: cleanup of run '{run_name}' is still in progress" in text
    assert f"`cooperbench cleanup --run {run_name}` would remove nothing: the run holds nothing more" in text, text
    assert "would remove now:" not in text and late_id not in text, text
    assert "Interrupted" in text and "Traceback" not in text
    assert left == [], left


def _cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, umask: int | None = None):
    return subprocess.run(
        [sys.executable, "-m", "cooperbench", *args], capture_output=True, text=True, timeout=600, cwd=cwd,
        env=env or _env(), preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )  # fmt: skip


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_one_writer_per_run_name_and_a_resume_with_other_options_is_refused(tmp_path):
    import socket

    logs = tmp_path / "logs"
    folder = logs / "one"
    folder.mkdir(parents=True)
    stale = {"pid": _dead_pid(), "host": socket.gethostname(), "started_at": "2026-01-01T00:00:00+0000"}
    (folder / ".run.lock").write_text(json.dumps(stale))  # what a killed run leaves behind
    common = ["-n", "one", "--setting", "solo", "--dataset-dir", str(DATASET), "--log-dir", str(logs)]
    common += ["-r", "textkit_task", "-f", "1,2"]

    first = _cli("run", "-a", "oracle", *common, umask=0o002)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"took over the lock of run 'one' left by pid {stale['pid']}" in first.stdout
    assert [p for p in folder.rglob("*") if "lock" in p.name] == []  # no lock file is left in the run folder
    pdir = folder / "solo" / "textkit_task" / "1" / "f1_f2"
    result = json.loads((pdir / "result.json").read_text())
    assert result["outcome"] == "pass" and result["agents_outcome"] == "pending_eval"  # final, not pending_eval
    for name in ("result.json", "eval.json", "solo.patch"):
        assert (pdir / name).stat().st_mode & 0o777 == 0o664, name  # the umask's mode, not mkstemp's 0600
    assert (folder / "summary.json").stat().st_mode & 0o777 == 0o664

    other = _cli("run", "-a", "t_raiser", "-m", "other-model", *common)
    assert other.returncode == 2, other.stdout + other.stderr
    assert "was made with other options" in other.stderr and "Traceback" not in other.stderr
    assert "agent: 'oracle' in the run, 't_raiser' now" in other.stderr
    assert "model: 'vertex_ai/gemini-3-flash-preview' in the run, 'other-model' now" in other.stderr
    assert json.loads((pdir / "result.json").read_text()) == result  # nothing was touched

    # `cooperbench eval -n NAME` from elsewhere finds the run's dataset in its config.json
    regraded = _cli("eval", "-n", "one", "--log-dir", str(logs), "--force", cwd=tmp_path)
    assert regraded.returncode == 0, regraded.stdout + regraded.stderr
    assert "1 to evaluate" in regraded.stdout

    holder = subprocess.Popen(
        [sys.executable, "-m", "cooperbench", "run", "-a", "t_hanger", "--force", *common],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        from cooperbench.backends.local.backend import LocalBackend

        backend = LocalBackend()
        wait_for(lambda: holder.poll() is not None or any("sandbox process" in r for r in backend.resources("one")),
                  "the first run's sandbox")  # fmt: skip
        assert holder.poll() is None
        second = _cli("run", "-a", "t_hanger", "--force", *common)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"run 'one' is being run by pid {holder.pid} on host {socket.gethostname()}, started " in second.stderr
        assert "Traceback" not in second.stderr
        holder.send_signal(signal.SIGTERM)
        out, _ = holder.communicate(timeout=120)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert holder.returncode == 143, out
    assert [p for p in folder.rglob("*") if "lock" in p.name] == []
    assert json.loads((pdir / "result.json").read_text())["run_id"] == result["run_id"]  # the interrupted pair kept


def _read_only_dir(path: Path) -> Path:
    path.mkdir()
    if os.geteuid() == 0:  # root writes through modes: a read-only mount
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], check=True)
    else:
        path.chmod(0o555)
    return path


def test_requests_that_cannot_work_fail_before_any_pair_with_exit_status_2(tmp_path):
    readonly = _read_only_dir(tmp_path / "readonly")
    no_bwrap = tmp_path / "bin"  # a PATH holding git but no bwrap
    no_bwrap.mkdir()
    (no_bwrap / "git").symlink_to(subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip())
    base = ["run", "-a", "oracle", "--dataset-dir", str(DATASET), "-r", "textkit_task", "-f", "1,2"]
    logs = ["--log-dir", str(tmp_path / "logs")]
    cases = [
        ([*base, "--log-dir", str(readonly), "-n", "ro"], {}, f"cannot write the run folder {readonly}/ro"),
        ([*base, *logs, "-n", "x" * 300], {}, "run name is 300 characters long: at most 200"),
        ([*base, *logs, "--agent-timeout", "0"], {}, "--agent-timeout must be a number of seconds above 0"),
        ([*base, *logs, "-c", "many"], {}, "Invalid value for '-c' / '--concurrency'"),
        ([*base, *logs, "--backend", "docker"], {"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
         "backend 'docker' cannot work here: Cannot reach the Docker daemon at unix:///nonexistent/docker.sock"),
        ([*base, *logs], {"PATH": str(no_bwrap)}, "backend 'local' cannot work here: bubblewrap (`bwrap`) not found"),
    ]  # fmt: skip
    try:
        for args, env, message in cases:
            proc = _cli(*args, env=_env(**env))
            output = proc.stdout + proc.stderr
            assert proc.returncode == 2, (args, output)
            assert message in proc.stderr, (args, output)
            assert "Traceback" not in output, (args, output)
            assert not list(tmp_path.rglob("result.json")), args  # no pair started
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(readonly)], check=False)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"run_name": "two words"}, "holds whitespace or control characters (' ')"),
        ({"run_name": "bell\x07"}, "holds whitespace or control characters ('\\x07')"),
        ({"run_name": "tab\tname"}, "holds whitespace or control characters ('\\t')"),
        ({"agent_timeout": -5}, "--agent-timeout must be a number of seconds above 0"),
        ({"agent_timeout": float("nan")}, "--agent-timeout must be a number of seconds above 0"),
        ({"concurrency": "3"}, "option concurrency must be an integer, got str '3'"),
        ({"features": "1,2"}, "option features must be a list of feature ids"),
        ({"git_enabled": "yes"}, "option git_enabled must be true or false"),
    ],
)
def test_invalid_options_of_the_python_api_are_clear_errors_before_anything_is_written(tmp_path, options, message):
    from cooperbench.errors import ConfigError
    from cooperbench.runner import run

    with pytest.raises(ConfigError) as caught:
        run(**{"run_name": "r", "agent": "oracle", "dataset_dir": DATASET, "logs_dir": tmp_path, **options})
    assert message in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_disk_that_fills_mid_run_names_the_path_and_keeps_what_was_written(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("this test mounts a small tmpfs: it needs root (CI runs as root)")
    logs = tmp_path / "logs"
    logs.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(logs)], check=True)
    try:
        subset = tmp_path / "two.json"
        subset.write_text(json.dumps({"tasks": [{"repo": "textkit_task", "task_id": 1, "pairs": [[1, 2], [1, 3]]}]}))
        args = ["run", "-n", "full", "-a", "t_fill_disk", "--setting", "solo", "-s", str(subset), "-c", "1"]
        args += ["--dataset-dir", str(DATASET), "--log-dir", str(logs), "--no-auto-eval"]
        filler = logs / "filler.bin"
        env = _env(CB_TEST_FILL_ON="1,3", CB_TEST_FILL_PATH=str(filler))
        proc = _cli(*args, env=env)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 1, output
        assert "Error: cannot write the run's results: [Errno 28] No space left on device: " in proc.stderr, output
        assert str(logs / "full" / "solo" / "textkit_task" / "1" / "f1_f3") in proc.stderr, output
        assert "Traceback" not in output
        first = logs / "full" / "solo" / "textkit_task" / "1" / "f1_f2"
        assert json.loads((first / "result.json").read_text())["outcome"] == "pending_eval"  # intact
        assert not (first.parent / "f1_f3" / "result.json").exists()
        assert not list(logs.rglob("*.tmp"))
        for path in (logs / "full").rglob("*.json"):
            json.loads(path.read_text())

        filler.unlink()  # space again: the same command resumes and finishes
        again = _cli(*args, env=_env(CB_TEST_FILL_ON="0,0", CB_TEST_FILL_PATH=str(filler)))
        assert again.returncode == 0, again.stdout + again.stderr
        assert "1 already done" in again.stdout
        assert json.loads((first.parent / "f1_f3" / "result.json").read_text())["outcome"] == "pending_eval"
    finally:
        subprocess.run(["umount", "-l", str(logs)], check=False)


def test_an_evaluation_infra_error_is_evaluated_again_by_the_next_run(tmp_path, capsys):
    from cooperbench.runner import run

    options = {"agent": "oracle", "dataset_dir": DATASET, "logs_dir": tmp_path, "repo": "minicalc_task"}
    run("ev", features=[1, 2], **options)
    first = capsys.readouterr().out
    pdir = tmp_path / "ev" / "coop" / "minicalc_task" / "2" / "f1_f2"
    evaluation, result = (json.loads((pdir / n).read_text()) for n in ("eval.json", "result.json"))
    assert evaluation["outcome"] == result["outcome"] == "merge_conflict"  # result.json: final, not pending_eval
    assert "merge_conflict" in first and "the agents' patches conflict" in first  # the line carries its reason

    # The evaluation sandbox died last time: what `cooperbench run` recorded then.
    died = {**evaluation, "outcome": "infra_error", "error": "SandboxError: the evaluation sandbox died",
            "evaluated_at": "2000-01-01T00:00:00+00:00"}  # fmt: skip
    (pdir / "eval.json").write_text(json.dumps(died))
    (pdir / "result.json").write_text(json.dumps({**result, "outcome": "infra_error"}))
    run("ev", features=[1, 2], **options)
    again = capsys.readouterr().out
    assert "1 already done" in again and "messaging embedded" in again  # the run's messaging, not "off"
    evaluated = json.loads((pdir / "eval.json").read_text())
    assert evaluated["outcome"] == "merge_conflict" and evaluated["evaluated_at"] != died["evaluated_at"]
    kept = json.loads((pdir / "result.json").read_text())
    assert kept["run_id"] == result["run_id"] and kept["outcome"] == "merge_conflict"  # agents not run again
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert summary["outcomes"] == {"merge_conflict": 1} and summary["incomplete"] == []


def test_exit_status_is_1_when_a_selected_pair_is_left_without_a_result(tmp_path):
    import shutil

    dataset = tmp_path / "ds"
    shutil.copytree(DATASET, dataset)
    (dataset / "textkit_task" / "task1" / "repo.bundle").write_bytes(b"not a git bundle\n")  # its image cannot be made
    args = ["run", "-n", "inc", "-a", "oracle", "--dataset-dir", str(dataset), "--log-dir", str(tmp_path / "logs")]
    proc = _cli(*args, "-f", "1,2", "--no-auto-eval", "--attempts", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 pair(s) left without a result" in proc.stdout and "textkit_task/1/f1_f2" in proc.stdout
    summary = json.loads((tmp_path / "logs" / "inc" / "summary.json").read_text())
    assert summary["incomplete"] == ["textkit_task/1/f1_f2"] and summary["outcomes"]["pending_eval"] == 1
