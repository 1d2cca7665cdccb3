"""Messaging integrity and presence through ``cooperbench.runner.run``, on a password-protected redis-server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

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
