"""Messaging integrity and presence through ``cooperbench.runner.run``, on a password-protected redis-server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from cooperbench.agents import AgentResult
from cooperbench.agents.registry import register
from cooperbench.messaging import MessagingConnector, MessagingUsageError, open_bus
from cooperbench.runner import run
from cooperbench.testing.redis_server import redis_server

DATASET = Path(__file__).resolve().parents[2] / "examples" / "dataset"
SEEN: dict[str, dict[str, Any]] = {}


@register("tm_impostor")
class ImpostorAgent:
    """agent1 tries to pass as agent2, then says hello and leaves; agent2 waits (up to 60 s) for a reply."""

    def run(self, task, image, *, agent_id="agent", agents=None, comm_url=None, config=None, **kwargs):
        seen = SEEN.setdefault(config["run"]["run_name"], {})
        seen[f"{agent_id}_url"] = comm_url
        if agent_id == "agent1":
            try:
                MessagingConnector("agent2", agents, comm_url)
                seen["connect_as_partner"] = "accepted"
            except MessagingUsageError as exc:
                seen["connect_as_partner"] = str(exc)
            bus = open_bus(comm_url)
            try:
                bus.post("agent2", ["agent1"], "forged")
                seen["post_as_partner"] = "accepted"
            except MessagingUsageError as exc:
                seen["post_as_partner"] = str(exc)
            finally:
                bus.close()
            with MessagingConnector(agent_id, agents, comm_url) as comm:
                comm.send("agent2", "hello, I am done already")
            return AgentResult(status="Submitted", patch="", steps=1)
        with MessagingConnector(agent_id, agents, comm_url) as comm:
            started = time.monotonic()
            got = comm.receive(block=True, timeout=60)
            while not any(m["kind"] == "notice" for m in got):
                got += comm.wait_for_reply(timeout=60, from_agent="agent1")
            seen["waited"] = time.monotonic() - started
            seen["received"] = got
        return AgentResult(status="Submitted", patch="", steps=1)


def test_agents_get_their_own_credentials_and_cannot_speak_for_the_partner(tmp_path: Path) -> None:
    with redis_server(password="admin-secret") as server:
        run(
            "impostor",
            agent="tm_impostor",
            dataset_dir=DATASET,
            logs_dir=tmp_path,
            repo="textkit_task",
            features=[1, 2],
            redis_url=server.url,
            auto_eval=False,
        )
        admin = redis.Redis.from_url(server.url, decode_responses=True)
        leftovers = admin.keys("cooperbench:*"), [u for u in admin.acl_users() if u.startswith("cooperbench:")]
        admin.close()
    seen = SEEN["impostor"]
    assert seen["agent1_url"] != seen["agent2_url"]
    assert "admin-secret" not in seen["agent1_url"] + seen["agent2_url"]
    assert seen["connect_as_partner"].startswith("refused")
    assert seen["post_as_partner"].startswith("refused")
    assert seen["waited"] < 30  # agent1 finishing ended the wait, not the 60 s timeout
    assert [m["kind"] for m in seen["received"]][-1] == "notice"
    pdir = tmp_path / "impostor" / "coop" / "textkit_task" / "1" / "f1_f2"
    ledger = json.loads((pdir / "conversation.json").read_text())
    messages = [(e["from"], e["to"], e["text"]) for e in ledger if e["kind"] == "message"]
    assert messages == [("agent1", "agent2", "hello, I am done already")]
    finished = [e for e in ledger if e["kind"] == "notice" and e["from"] == "cooperbench"]
    assert [(e["event"]["agent"], e["event"]["state"], e["to"]) for e in finished] == [
        ("agent1", "finished", "agent2"),
        ("agent2", "finished", "agent1"),
    ]
    assert json.loads((pdir / "result.json").read_text())["messages"] == 1
    assert leftovers == ([], [])  # the pair's keys and users, and the run's registration, are gone
    assert "admin-secret" not in (tmp_path / "impostor" / "config.json").read_text()


@register("tm_talker")
class TalkerAgent:
    """agent1 sends twelve numbered messages, one per step, and leaves; agent2 reads, a step at a time, until then."""

    def run(self, task, image, *, agent_id="agent", agents=None, comm_url=None, config=None, **kwargs):
        seen = SEEN.setdefault(config["run"]["run_name"], {})
        with MessagingConnector(agent_id, agents, comm_url) as comm:
            if agent_id == "agent1":
                for step in range(1, 13):
                    comm.set_step(step)
                    comm.send("agent2", f"note {step}")
                return AgentResult(status="Submitted", patch="", steps=12)
            got: list[str] = []
            step = 0
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                step += 1
                comm.set_step(step)
                got += [m["text"] for m in comm.receive() if m["kind"] == "message"]
                if comm.gone():
                    break
                time.sleep(0.05)
            for extra in range(1, 4):  # a few more steps: duplicates and delayed messages come due
                comm.set_step(step + extra)
                got += [m["text"] for m in comm.receive() if m["kind"] == "message"]
            seen["received"] = got
        return AgentResult(status="Submitted", patch="", steps=step + 3)


def talk(logs: Path, name: str | None, faults: str) -> Path:
    run(
        name,
        agent="tm_talker",
        dataset_dir=DATASET,
        logs_dir=logs,
        repo="textkit_task",
        features=[1, 2],
        redis_url="redis://127.0.0.1:9/0",  # nothing answers: the embedded bus
        messaging_faults=faults,
        auto_eval=False,
    )
    (folder,) = [p for p in logs.iterdir() if p.is_dir() and (name is None or p.name == name)]
    return folder


def faults_of(folder: Path) -> list[tuple[str, tuple[str, ...]]]:
    ledger = json.loads((folder / "coop" / "textkit_task" / "1" / "f1_f2" / "conversation.json").read_text())
    return [(e["text"], tuple(f["type"] for f in e["faults"])) for e in ledger if e["kind"] == "message"]


def test_with_drop_1_no_message_is_delivered_and_the_ledger_says_why(tmp_path: Path) -> None:
    folder = talk(tmp_path, "dropped", "drop=1")
    assert SEEN["dropped"]["received"] == []
    ledger = json.loads((folder / "coop" / "textkit_task" / "1" / "f1_f2" / "conversation.json").read_text())
    messages = [e for e in ledger if e["kind"] == "message"]
    assert len(messages) == 12
    for entry in messages:
        assert entry["delivered_at"] is None
        assert entry["faults"] == [{"type": "drop", "reason": "dropped by fault injection (drop=1,seed=0)"}]
    config = json.loads((folder / "config.json").read_text())
    assert config["messaging_faults"] == {"drop": 1.0, "delay": 0, "duplicate": 0.0, "seed": 0}


def test_two_runs_with_the_same_seed_inject_the_same_faults(tmp_path: Path) -> None:
    spec = "drop=0.3,duplicate=0.3,seed=5"
    first = talk(tmp_path / "a", None, spec)
    second = talk(tmp_path / "b", None, spec)
    assert first.name == second.name and "mf-drop0.3-duplicate0.3-seed5" in first.name
    assert faults_of(first) == faults_of(second)
    kinds = {f for _, f in faults_of(first)}
    assert {("drop",), ("duplicate",), ()} <= kinds
    received = SEEN[first.name]["received"]
    delivered = [text for text, f in faults_of(first) if f != ("drop",)]
    duplicated = [text for text, f in faults_of(first) if f == ("duplicate",)]
    assert sorted(received) == sorted(delivered + duplicated)
    other = talk(tmp_path / "c", None, "drop=0.3,duplicate=0.3,seed=6")
    assert other.name != first.name and faults_of(other) != faults_of(first)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--messaging-faults", "drop=2"], "--messaging-faults: drop=2 must be a probability between 0 and 1"),
        (["--messaging-faults", "drop=0.1", "--setting", "solo"], "--messaging-faults needs messaging between agents"),
        (["--messaging-faults", "drop=0.1", "--no-messaging"], "--messaging-faults needs messaging between agents"),
    ],
)
def test_bad_messaging_faults_are_refused_before_anything_runs(tmp_path: Path, args: list[str], message: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cooperbench", "run", "--agent", "nop", "--dataset-dir", str(DATASET),
         "--log-dir", str(tmp_path), "-r", "textkit_task", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode != 0
    assert message in out.stderr
    assert not list(tmp_path.iterdir())
