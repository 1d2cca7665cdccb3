"""The message ledger and conversation.json, on both transports."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from cooperbench.messaging import CONVERSATION_FILE, Ledger, MessagingConnector, open_bus, write_conversation

AGENTS = ["agent1", "agent2"]


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def test_ledger_holds_every_message_in_send_order_with_both_steps_and_delivery_time(url: str) -> None:
    with MessagingConnector("agent1", AGENTS, url) as a1, MessagingConnector("agent2", AGENTS, url) as a2:
        a1.set_step(3)
        a1.send("agent2", "I take models.py")
        a2.set_step(5)
        a2.receive()
        a2.send("agent1", "ok, I take views.py")
        a1.set_step(7)
        a1.send("agent2", "merged?")  # never received

        entries = Ledger.read(url)

    assert [(e["id"], e["from"], e["to"], e["text"]) for e in entries] == [
        (1, "agent1", "agent2", "I take models.py"),
        (2, "agent2", "agent1", "ok, I take views.py"),
        (3, "agent1", "agent2", "merged?"),
    ]
    first, second, third = entries
    assert (first["sender_step"], first["receiver_step"]) == (3, 5)
    assert first["delivered_at"] is not None and _time(first["delivered_at"]) >= _time(first["sent_at"])
    # Not received yet: no delivery recorded.
    assert (second["sender_step"], second["delivered_at"], second["receiver_step"]) == (5, None, None)
    assert (third["sender_step"], third["delivered_at"], third["receiver_step"]) == (7, None, None)
    assert _time(first["sent_at"]) <= _time(second["sent_at"]) <= _time(third["sent_at"])
    assert set(first) == {
        "id", "kind", "from", "to", "text", "sent_at", "delivered_at", "sender_step", "receiver_step", "broadcast",
        "faults",
    }  # fmt: skip
    assert (first["kind"], first["faults"]) == ("message", [])


def test_steps_are_none_when_nobody_sets_them(url: str) -> None:
    with MessagingConnector("agent1", AGENTS, url) as a1, MessagingConnector("agent2", AGENTS, url) as a2:
        a1.send("agent2", "hi")
        a2.receive()
    (entry,) = Ledger.read(url)
    assert entry["sender_step"] is None and entry["receiver_step"] is None
    assert entry["delivered_at"] is not None


def test_a_broadcast_is_one_ledger_entry_per_recipient(url: str) -> None:
    team = ["agent1", "agent2", "agent3"]
    with MessagingConnector("agent1", team, url) as a1, MessagingConnector("agent3", team, url) as a3:
        a1.broadcast("hello all")
        a3.receive()
    entries = Ledger.read(url)
    assert [(e["to"], e["broadcast"], e["delivered_at"] is not None) for e in entries] == [
        ("agent2", True, False),
        ("agent3", True, True),
    ]


def test_write_conversation_saves_the_ledger_atomically_as_a_json_list(url: str, tmp_path: Path) -> None:
    with MessagingConnector("agent1", AGENTS, url) as a1, MessagingConnector("agent2", AGENTS, url) as a2:
        a1.send("agent2", "one")
        a2.send("agent1", "two")
        a1.receive()
    pair_dir = tmp_path / "coop" / "repo" / "1" / "f1_f2"
    path = write_conversation(pair_dir, url)
    assert path == pair_dir / CONVERSATION_FILE
    saved = json.loads(path.read_text())
    assert saved == Ledger.read(url)
    assert [m["text"] for m in saved] == ["one", "two"]
    assert [p.name for p in pair_dir.iterdir()] == [CONVERSATION_FILE]  # no temp file left behind


def test_an_empty_namespace_has_an_empty_ledger(url: str, tmp_path: Path) -> None:
    assert Ledger.read(url) == []
    assert json.loads(write_conversation(tmp_path, url).read_text()) == []


def test_purge_forgets_the_namespace(url: str) -> None:
    with MessagingConnector("agent1", AGENTS, url) as a1:
        a1.send("agent2", "soon gone")
    bus = open_bus(url)
    bus.purge()
    bus.close()
    assert Ledger.read(url) == []
    with MessagingConnector("agent2", AGENTS, url) as a2:
        assert a2.peek() == 0
        a2.send("agent1", "fresh start")
    assert [e["id"] for e in Ledger.read(url)] == [1]


def test_ledger_of_a_bare_namespace_reads_the_embedded_bus() -> None:
    namespace = "test:bare-namespace"
    with MessagingConnector("agent1", AGENTS, f"embedded://{namespace}") as a1:
        a1.send("agent2", "hi")
        try:
            assert [e["text"] for e in Ledger.read(namespace)] == ["hi"]
        finally:
            a1.bus.purge()
