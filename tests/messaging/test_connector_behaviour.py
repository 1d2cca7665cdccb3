"""Behaviour every transport shares; each test runs on a real Redis and on the embedded bus."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from cooperbench.errors import ConfigError
from cooperbench.messaging import MessagingConnector, MessagingUsageError, open_bus

AGENTS = ["agent1", "agent2"]


def test_messages_arrive_in_send_order_with_sender_and_text(url: str) -> None:
    with MessagingConnector("agent1", AGENTS, url) as a1, MessagingConnector("agent2", AGENTS, url) as a2:
        for i in range(5):
            a1.send("agent2", f"message {i}")
        received = a2.receive()
    assert [m["text"] for m in received] == [f"message {i}" for i in range(5)]
    assert {(m["from"], m["to"]) for m in received} == {("agent1", "agent2")}
    assert all(isinstance(m["timestamp"], float) for m in received)


def test_receive_consumes_messages_and_returns_empty_when_none_wait(url: str) -> None:
    with MessagingConnector("agent1", AGENTS, url) as a1, MessagingConnector("agent2", AGENTS, url) as a2:
        assert a2.receive() == []
        a1.send("agent2", "once")
        assert [m["text"] for m in a2.receive()] == ["once"]
        assert a2.receive() == []


def test_message_sent_before_the_receiver_connects_is_delivered(url: str) -> None:
    with MessagingConnector("agent1", AGENTS, url) as a1:
        a1.send("agent2", "are you there yet?")
        a1.send("agent2", "second")
    with MessagingConnector("agent2", AGENTS, url) as a2:
        assert [m["text"] for m in a2.receive()] == ["are you there yet?", "second"]


def test_two_namespaces_never_see_each_others_messages(make_url: Callable[[str], str]) -> None:
    url_a, url_b = make_url("run-a"), make_url("run-b")
    with (
        MessagingConnector("agent1", AGENTS, url_a) as a1,
        MessagingConnector("agent2", AGENTS, url_a) as a2,
        MessagingConnector("agent1", AGENTS, url_b) as b1,
        MessagingConnector("agent2", AGENTS, url_b) as b2,
    ):
        a1.send("agent2", "for run a")
        b1.send("agent2", "for run b")
        assert [m["text"] for m in a2.receive()] == ["for run a"]
        assert [m["text"] for m in b2.receive()] == ["for run b"]


def test_broadcast_reaches_every_teammate_but_not_the_sender(url: str) -> None:
    team = ["agent1", "agent2", "agent3"]
    with (
        MessagingConnector("agent1", team, url) as a1,
        MessagingConnector("agent2", team, url) as a2,
        MessagingConnector("agent3", team, url) as a3,
    ):
        ids = a1.broadcast("standup in 5")
        assert len(ids) == 2
        assert [(m["from"], m["to"], m["text"]) for m in a2.receive()] == [("agent1", "agent2", "standup in 5")]
        assert [(m["from"], m["to"], m["text"]) for m in a3.receive()] == [("agent1", "agent3", "standup in 5")]
        assert a1.receive() == []


def test_peek_counts_pending_messages_without_consuming_them(url: str) -> None:
    with MessagingConnector("agent1", AGENTS, url) as a1, MessagingConnector("agent2", AGENTS, url) as a2:
        assert a2.peek() == 0
        a1.send("agent2", "one")
        a1.send("agent2", "two")
        assert a2.peek() == 2
        assert a2.peek() == 2
        assert len(a2.receive()) == 2
        assert a2.peek() == 0


def test_wait_for_reply_returns_as_soon_as_a_message_arrives_from_another_thread(url: str) -> None:
    with MessagingConnector("agent1", AGENTS, url) as a1, MessagingConnector("agent2", AGENTS, url) as a2:
        sender = threading.Timer(0.3, lambda: a1.send("agent2", "done with the API"))
        started = time.monotonic()
        sender.start()
        try:
            received = a2.wait_for_reply(timeout=20)
        finally:
            sender.join()
        elapsed = time.monotonic() - started
    assert [m["text"] for m in received] == ["done with the API"]
    assert 0.25 <= elapsed < 10


def test_blocking_receive_returns_empty_after_the_timeout(url: str) -> None:
    with MessagingConnector("agent2", AGENTS, url) as a2:
        started = time.monotonic()
        received = a2.receive(block=True, timeout=0.5)
        elapsed = time.monotonic() - started
    assert received == []
    assert 0.45 <= elapsed < 5


def test_blocking_receive_returns_waiting_messages_immediately(url: str) -> None:
    with MessagingConnector("agent1", AGENTS, url) as a1, MessagingConnector("agent2", AGENTS, url) as a2:
        a1.send("agent2", "already here")
        a1.send("agent2", "me too")
        started = time.monotonic()
        received = a2.receive(block=True, timeout=30)
    assert [m["text"] for m in received] == ["already here", "me too"]
    assert time.monotonic() - started < 5


def test_concurrent_senders_lose_nothing_and_keep_each_senders_order(url: str) -> None:
    team = ["agent1", "agent2", "agent3"]
    with MessagingConnector("agent3", team, url) as receiver:

        def send_all(agent_id: str) -> None:
            with MessagingConnector(agent_id, team, url) as comm:
                for i in range(30):
                    comm.send("agent3", f"{agent_id}-{i}")

        threads = [threading.Thread(target=send_all, args=(a,)) for a in ("agent1", "agent2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        received = receiver.receive()
    for agent_id in ("agent1", "agent2"):
        assert [m["text"] for m in received if m["from"] == agent_id] == [f"{agent_id}-{i}" for i in range(30)]
    assert len({m["id"] for m in received}) == 60


def test_sending_to_someone_outside_the_team_names_the_teammates(url: str) -> None:
    with MessagingConnector("agent1", AGENTS, url) as a1:
        with pytest.raises(MessagingUsageError, match=r"agent7.*agent2"):
            a1.send("agent7", "hello?")
        with pytest.raises(MessagingUsageError, match="not a teammate"):
            a1.send("agent1", "talking to myself")


def test_connector_for_an_agent_missing_from_agents_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="agent9"):
        MessagingConnector("agent9", AGENTS, url)


def test_negative_step_is_rejected(url: str) -> None:
    with MessagingConnector("agent1", AGENTS, url) as a1, pytest.raises(MessagingUsageError, match="step"):
        a1.set_step(-1)


def test_bus_connect_gives_connectors_sharing_the_bus(url: str) -> None:
    bus = open_bus(url)
    try:
        a1, a2 = bus.connect("agent1", AGENTS), bus.connect("agent2", AGENTS)
        a1.send("agent2", "via the bus")
        assert [m["text"] for m in a2.receive()] == ["via the bus"]
        assert a1.namespace == bus.namespace
        a1.close()  # a connector does not close a bus it did not open
        a2.send("agent1", "still open")
        assert [m["text"] for m in a1.receive()] == ["still open"]
    finally:
        bus.close()
