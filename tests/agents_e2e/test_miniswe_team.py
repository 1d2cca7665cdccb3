"""The ``team`` setting with three scripted ``mini_swe_agent`` teammates: task list, requests, scratchpad, presence.

``run(setting="team")`` on the ``local`` backend and the example dataset; the model is the LLM
test server reached through LiteLLM. The agents reach the task list and requests with
``coop-msg`` in their sandboxes, like a model would.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import DATASET, MODEL, NO_REDIS, has_asked, held, message_text

from cooperbench.runner import run
from cooperbench.testing.llm_server import LLMTestServer, RecordedRequest, bash

REPO, TASK = "textkit_task", 1
C = "/run/cooperbench/messaging/coop-msg"
SUBMIT = bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")


def config(server: LLMTestServer) -> dict[str, Any]:
    return {
        "agent": {"check_model": False, "step_limit": 10, "trajectory_save_interval": 0},
        "model": {"api_base": server.base_url, "api_key": "x", "num_retries": 1, "retry_min_wait": 0.01},
    }


def tool_output(request: RecordedRequest) -> str:
    """The output of the command before this request (the last tool message)."""
    return [message_text(m) for m in request.messages if m.get("role") == "tool"][-1]


def all_text(request: RecordedRequest) -> str:
    return "\n".join(message_text(m) for m in request.messages)


def at(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(entry["sent_at"]).timestamp()


def test_a_team_claims_finishes_and_asks_through_the_harness_and_the_ledger_has_it_all(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COOPERBENCH_CACHE_DIR", str(cache_dir))
    logs = tmp_path / "logs"
    with LLMTestServer({"agent1": [], "agent2": [], "agent3": []}) as server:
        server.add(
            bash(f"{C} task claim 3 && {C} team"),
            bash(f"{C} request agent3 interface 'Which function do you add?'"),
            held(
                bash("cat /workspace/shared/agent2.txt"),
                lambda: has_asked(server, "agent3", 4)() and has_asked(server, "agent2", 2)(),
            ),
            bash(f"{C} task done 3 integrated"),
            # agent2 submits as soon as it sees agent1 blocked: the wait ends when agent2 finishes
            bash("send_message --wait --timeout 60 agent2 'are you done?'"),
            SUBMIT,
            route="agent1",
        )
        server.add(
            bash(f"{C} task claim 1 && echo 'agent2 notes' > /workspace/shared/agent2.txt"),
            bash(f"{C} task done 1 feature two is done"),
            bash(f"until {C} peers | grep -q 'agent1: blocked'; do sleep 0.05; done; echo saw agent1 blocked"),
            SUBMIT,
            route="agent2",
        )
        server.add(
            held(bash(f"{C} task claim 2 && {C} task claim 1; echo claimed"), has_asked(server, "agent2", 2)),
            held(bash(f"{C} requests"), has_asked(server, "agent1", 3)),
            bash(f"{C} respond r1 'I add slugify max_length'"),
            bash(f"{C} task update 2 blocked waiting for the lead"),
            held(SUBMIT, has_asked(server, "agent1", 6)),  # after the lead's wait for agent2
            route="agent3",
        )
        run(
            "team",
            setting="team",
            agent="mini_swe_agent",
            model_name=MODEL,
            config=config(server),
            dataset_dir=DATASET,
            logs_dir=logs,
            repo=REPO,
            task_id=TASK,
            features=[1, 2, 3],
            redis_url=NO_REDIS,
            auto_eval=False,
        )
        requests = {a: server.requests_for(a) for a in ("agent1", "agent2", "agent3")}

    pdir = logs / "team" / "team" / REPO / str(TASK) / "f1_f2_f3"
    result = json.loads((pdir / "result.json").read_text())
    assert result["setting"] == "team" and result["lead_agent"] == "agent1"
    assert {a: r["team_role"] for a, r in result["agents"].items()} == {
        "agent1": "lead",
        "agent2": "member",
        "agent3": "member",
    }
    assert all(r["status"] == "Submitted" for r in result["agents"].values()), result["agents"]
    assert result["team"]["features"] == dict.fromkeys(("task_list", "scratchpad", "protocol", "auto_refresh"), True)
    metrics = result["team"]["metrics"]
    assert (metrics["tasks_total"], metrics["tasks_done"], metrics["tasks_unowned"]) == (3, 2, 0), (
        pdir / "tasks.json"
    ).read_text()
    assert metrics["claims_per_agent"] == {"agent1": 1, "agent2": 1, "agent3": 1}
    assert metrics["updates_per_agent"] == {"agent1": 1, "agent2": 1, "agent3": 1}
    assert metrics["time_to_first_claim_s"] >= 0
    assert metrics["requests_per_agent"] == {"agent1": 1, "agent2": 0, "agent3": 0}
    assert metrics["requests_answered"] == 1

    # the prompts: roles, and the seeded task list shown before the first step
    first = {a: all_text(r[0]) for a, r in requests.items()}
    assert "Your role: team lead" in first["agent1"] and "Your role: team member" in first["agent2"]
    assert "#1 [open] unclaimed, for agent2 (yours): Implement feature 2" in first["agent2"]
    assert "#3 [open] unclaimed, for agent1 (yours): Integrate and submit" in first["agent1"]
    # what the commands answered
    assert "the team's lead" in tool_output(requests["agent1"][1])
    assert "task 1 is agent2's already" in tool_output(requests["agent3"][1])  # claims are exclusive
    assert "r1 from agent1 (interface): Which function do you add?" in tool_output(requests["agent3"][2])
    assert "[response to r1] I add slugify max_length" in all_text(requests["agent1"][3])
    assert "agent2 notes" in tool_output(requests["agent1"][3])  # the scratchpad is shared
    assert (pdir / "scratchpad" / "agent2.txt").read_text() == "agent2 notes\n"
    # auto-refresh: after agent2 finished its task, the lead's next step shows it
    refreshed = "#1 [done] agent2: Implement feature 2 - note: feature two is done"
    assert any(refreshed in all_text(r) for r in requests["agent1"])
    assert "[Notice from cooperbench]: agent2 has finished" in tool_output(requests["agent1"][5])

    # the ledger: every task-list event (with steps) and every message, in order
    ledger = json.loads((pdir / "conversation.json").read_text())
    tasks = [(e["from"], e["event"]["action"], e["event"]["task_id"]) for e in ledger if e["kind"] == "task"]
    assert tasks[:3] == [("cooperbench", "create", 1), ("cooperbench", "create", 2), ("cooperbench", "create", 3)]
    assert sorted(tasks[3:]) == [
        ("agent1", "claim", 3),
        ("agent1", "done", 3),
        ("agent2", "claim", 1),
        ("agent2", "done", 1),
        ("agent3", "claim", 2),
        ("agent3", "update", 2),
    ]
    entries = {(e["from"], e["event"]["action"]): e for e in ledger if e["kind"] == "task"}
    assert entries[("agent2", "claim")]["sender_step"] == 1 and entries[("agent2", "claim")]["sent_at"]
    assert (
        entries[("agent1", "done")]["sender_step"] == 4 and entries[("agent1", "done")]["event"]["note"] == "integrated"
    )
    assert entries[("agent3", "update")]["event"]["status"] == "blocked"
    request = next(e for e in ledger if (e.get("event") or {}).get("team") == "request")
    assert (request["from"], request["to"], request["sender_step"]) == ("agent1", "agent3", 2)
    assert request["event"] == {"team": "request", "request_id": "r1", "request_type": "interface"}
    response = next(e for e in ledger if (e.get("event") or {}).get("team") == "response")
    assert (response["from"], response["to"], response["sender_step"]) == ("agent3", "agent1", 3)
    assert response["receiver_step"] == 4 and response["event"]["request_id"] == "r1"  # shown before step 4
    record = json.loads((pdir / "tasks.json").read_text())
    assert [t["owner"] for t in record["tasks"]] == ["agent2", "agent3", "agent1"]
    assert [e["action"] for e in record["events"]].count("claim") == 3

    # presence: agent1 waited for agent2, which finished; the wait ended within a second of it
    status = [e for e in ledger if e["kind"] == "status"]
    blocked = next(
        e for e in status if e["event"] == {"agent": "agent1", "state": "blocked", "waiting_for": ["agent2"]}
    )
    finished = next(e for e in status if e["event"]["agent"] == "agent2" and e["event"]["state"] == "finished")
    resumed = next(
        e for e in status if e["id"] > blocked["id"] and e["event"] == {"agent": "agent1", "state": "running"}
    )
    assert at(blocked) <= at(finished) <= at(resumed) < at(finished) + 1.0
    notices = [e for e in ledger if e["kind"] == "notice"]
    notice = next(e for e in notices if e["to"] == "agent1" and e["event"]["state"] == "finished")
    assert notice["from"] == "cooperbench" and notice["event"]["agent"] == "agent2"
    assert any(e["to"] == "agent2" and e["event"]["state"] == "blocked" for e in notices)  # shown as blocked

    config_json = json.loads((logs / "team" / "config.json").read_text())
    assert config_json["setting"] == "team" and config_json["team_features"]["task_list"] is True


PROBE = f"{C} task list; {C} requests; ls /workspace/shared && echo SCRATCHPAD-IS-THERE"


@pytest.mark.parametrize("piece", ["task_list", "scratchpad", "protocol", "auto_refresh"])
def test_each_team_no_flag_removes_its_piece_and_only_it(
    piece: str, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COOPERBENCH_CACHE_DIR", str(cache_dir))
    logs = tmp_path / "logs"
    flag = "team-no-" + piece.replace("_", "-")
    with LLMTestServer({"agent1": [bash(PROBE), SUBMIT], "agent2": [SUBMIT]}) as server:
        run(
            setting="team",
            agent="mini_swe_agent",
            model_name=MODEL,
            config=config(server),
            dataset_dir=DATASET,
            logs_dir=logs,
            repo=REPO,
            task_id=TASK,
            features=[1, 2],
            redis_url=NO_REDIS,
            auto_eval=False,
            team_features={piece: False},
        )
        first, second = server.requests_for("agent1")[:2]
    (run_dir,) = logs.iterdir()  # the generated name carries the flag
    assert flag in run_dir.name.split("_"), run_dir.name
    assert json.loads((run_dir / "config.json").read_text())["team_features"][piece] is False
    pdir = run_dir / "team" / REPO / str(TASK) / "f1_f2"
    result = json.loads((pdir / "result.json").read_text())
    assert result["team"]["features"] == {
        p: p != piece for p in ("task_list", "scratchpad", "protocol", "auto_refresh")
    }
    output, prompt = tool_output(second), all_text(first)
    ledger = json.loads((pdir / "conversation.json").read_text())
    off = f"switched off in this run (--{flag})"

    task_list_on = piece != "task_list"
    assert ("#2 [open] unclaimed, for agent1 (yours)" in output) is task_list_on
    assert ("The team's task list" in prompt) is task_list_on
    assert ("tasks_total" in result["team"]["metrics"]) is task_list_on
    assert any(e["kind"] == "task" for e in ledger) is task_list_on
    assert ("SCRATCHPAD-IS-THERE" in output) is (piece != "scratchpad")
    assert (pdir / "scratchpad").exists() is (piece != "scratchpad")
    assert ("No open requests." in output) is (piece != "protocol")
    assert ("requests_per_agent" in result["team"]["metrics"]) is (piece != "protocol")
    # auto-refresh: the list is shown before the first step (needs the task list itself)
    assert ("[Team task list]" in prompt) is (piece not in ("auto_refresh", "task_list"))
    if piece in ("task_list", "protocol"):  # the command says why
        assert off in output
