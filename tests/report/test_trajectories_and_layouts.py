"""Steps read from each trajectory format, git actions marked, N-agent and upstream folders read."""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path

from report_helpers import write_broken_and_empty_runs, write_config, write_pair

from cooperbench.report import report
from cooperbench.report._load import failing_tests
from cooperbench.report._trajectory import read_steps


def _act(command: str, t: float) -> dict:
    return {"role": "assistant", "content": None, "extra": {"actions": [{"command": command}], "timestamp": t}}


def _out(output: str, rc: int, t: float) -> dict:
    return {"role": "tool", "content": "...", "extra": {"raw_output": output, "returncode": rc, "timestamp": t}}


def test_mini_swe_agent_steps_have_times_commands_outputs_and_kinds() -> None:
    trajectory = {
        "trajectory_format": "mini-swe-agent-1.1",
        "messages": [
            {"role": "system", "content": "You are agent1"},
            _act("git push team agent1", 100.0),
            _out("pushed\n", 0, 101.5),
            {"role": "user", "content": "[Message from agent2]: hi", "extra": {"interrupt_type": "messages"}},
            _act("git fetch team && git merge team/agent2", 102.0),
            _out("x" * 5000, 1, 103.0),
            _act("send_message agent2 <<'MSG'\nok\nMSG", 104.0),
            _act("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", 105.0),
        ],
    }
    steps = read_steps(trajectory)
    assert [s["i"] for s in steps] == [1, 2, 3, 4]
    assert [s["kind"] for s in steps] == ["git push", "git fetch", "message", "submit"]
    assert (steps[0]["t"], steps[0]["t_end"], steps[0]["rc"], steps[0]["out"]) == (100.0, 101.5, 0, "pushed\n")
    assert steps[1]["rc"] == 1 and len(steps[1]["out"]) < 700 and steps[1]["out"].endswith("x")  # the tail, clipped


def test_openhands_events_and_plain_lists_and_unknown_formats() -> None:
    openhands = {
        "trajectory_format": "cooperbench-openhands-1",
        "events": [
            {"kind": "MessageEvent", "timestamp": "2026-01-01T00:00:00Z"},
            {"kind": "ActionEvent", "timestamp": "2026-01-01T00:00:01Z", "action": {"command": "ls"}},
            {
                "kind": "ObservationEvent",
                "timestamp": "2026-01-01T00:00:02Z",
                "observation": {"content": [{"text": "a.py"}], "exit_code": 0},
            },
        ],
    }
    (step,) = read_steps(openhands)
    assert step["text"] == "ls" and step["out"] == "a.py" and step["rc"] == 0
    assert step["t_end"] - step["t"] == 1.0

    def said(role: str, block: dict) -> dict:
        return {"type": role, "message": {"content": [block]}}

    bash = {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "coop-msg send agent2 hi"}}
    write = {"type": "tool_use", "id": "t2", "name": "Write", "input": {"file_path": "/tmp/p"}}
    answer = {"type": "tool_result", "tool_use_id": "t1", "content": "sent", "is_error": False}
    claude_code = {
        "trajectory_format": "cooperbench-claude-code-1",
        "events": [{"type": "system"}, said("assistant", bash), said("assistant", write), said("user", answer)],
    }
    steps = read_steps(claude_code)
    assert [(s["kind"], s["text"], s["out"], s["rc"]) for s in steps] == [
        ("message", "coop-msg send agent2 hi", "sent", 0),
        ("command", "Write /tmp/p", "", None),
    ]
    plain = read_steps([{"role": "tool", "content": "$ git apply f.patch"}, {"role": "user", "content": "x"}])
    assert [(s["text"], s["t"]) for s in plain] == [("git apply f.patch", None)]
    assert read_steps({"something": "else"}) == [] and read_steps(None) == []


def test_failing_test_names_from_each_runner() -> None:
    output = "\n".join(
        [
            "tests/test_a.py::test_one FAILED                       [ 50%]",
            "FAILED tests/test_a.py::test_one - AssertionError",
            "ERROR tests/test_b.py::test_setup",
            "--- FAIL: TestParse (0.00s)",
            "test parser::tests::rejects ... FAILED",
            "  ✕ renders the title (5 ms)",
            "PASSED tests/test_a.py::test_two",
        ]
    )
    assert failing_tests(output) == [
        "tests/test_a.py::test_one",
        "tests/test_b.py::test_setup",
        "TestParse",
        "parser::tests::rejects",
        "renders the title",
    ]


def _detail(files, key: str) -> dict:  # type: ignore[no-untyped-def]
    html = files.html.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="cb-pairs">(.*?)</script>', html, re.S)
    assert found
    return json.loads(gzip.decompress(base64.b64decode(json.loads(found.group(1))[key])))


def test_an_n_agent_pair_has_one_lane_and_one_test_result_per_agent(tmp_path: Path) -> None:
    run = tmp_path / "three"
    write_config(run, "coop")
    message = {"id": 1, "from": "agent3", "to": "agent1", "text": "hi", "sender_step": 1, "receiver_step": 2}
    write_pair(run, "coop", "f1_f2_f3", "pass", messages=[message])
    files = report([run], tmp_path / "out")
    (row,) = files.data["pairs"]
    assert row["agents"] == 3 and row["features"] == [1, 2, 3] and len(row["tests"]) == 3
    detail = _detail(files, row["key"])
    assert [a["id"] for a in detail["agents"]] == ["agent1", "agent2", "agent3"]
    assert [f["feature_id"] for f in detail["evaluation"]["features"]] == [1, 2, 3]
    assert detail["messages"][0]["from"] == "agent3"


def test_an_upstream_eval_record_without_outcome_is_decided_like_the_harness_does(tmp_path: Path) -> None:
    run = tmp_path / "upstream"
    pdir = write_pair(run, "coop", "f1_f2", "fail_tests")
    record = json.loads((pdir / "eval.json").read_text())
    del record["outcome"]
    record["merge"] = {"status": "conflicts", "strategy": "naive"}
    (pdir / "eval.json").write_text(json.dumps(record))
    files = report([run], tmp_path / "out")
    (row,) = files.data["pairs"]
    assert row["outcome"] == "merge_conflict" and row["merge"] == "conflicts"


def test_corrupt_files_and_empty_runs_still_report(tmp_path: Path) -> None:
    files = report(list(write_broken_and_empty_runs(tmp_path)), tmp_path / "out")
    (row,) = files.data["pairs"]
    assert row["outcome"] == "pending_eval"  # the result is kept; the evaluation is missing
    broken, nothing = files.data["runs"]
    assert broken["pending_eval"] == 1 and broken["pass_rate"]["counted"] == 0
    assert nothing["pairs"] == 0 and nothing["pass_rate"]["interval"] is None
    assert files.data["comparisons"][0]["common_pairs"] == 0
    assert "| broken |" in files.markdown.read_text()


def test_ledger_notices_and_status_entries_are_not_counted_as_messages(tmp_path: Path) -> None:
    run = tmp_path / "kinds"
    ledger = [
        {
            "id": 1,
            "kind": "message",
            "from": "agent1",
            "to": "agent2",
            "text": "hi",
            "sender_step": 1,
            "receiver_step": 2,
        },
        {"id": 2, "kind": "status", "from": "agent2", "to": None, "text": "agent2 has finished", "event": {}},
        {"id": 3, "kind": "notice", "from": "cooperbench", "to": "agent1", "text": "agent2 is gone"},
    ]
    write_pair(run, "coop", "f1_f2", "pass", messages=ledger)
    files = report([run], tmp_path / "out")
    (row,) = files.data["pairs"]
    assert row["messages"] == 1 and files.data["runs"][0]["messages"]["total"] == 1
    detail = _detail(files, row["key"])
    assert [m["id"] for m in detail["messages"]] == [1]
    assert [n["kind"] for n in detail["notices"]] == ["status", "notice"]
