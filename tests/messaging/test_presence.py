"""Presence: waits end when teammates are gone, teammates are told, a waiting sender shows as blocked."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from cooperbench.messaging import MessagingUsageError, PairMessaging

AGENTS = ["agent1", "agent2"]
TEAM3 = ["agent1", "agent2", "agent3"]


@pytest.fixture
def pair(open_pair: Callable[..., PairMessaging]) -> Callable[..., PairMessaging]:
    return lambda agents=AGENTS: open_pair(tuple(agents))


def test_a_teammate_that_finishes_ends_the_partners_waiting_send_within_a_second(pair) -> None:
    pm = pair()
    a1 = pm.connect("agent1")
    finisher = threading.Timer(0.5, pm.agent_done, args=("agent2", "finished", "Submitted"))
    started = time.monotonic()
    finisher.start()
    try:
        replies = a1.send_and_wait("agent2", "did you rename parse()?", timeout=60)
    finally:
        finisher.join()
    waited = time.monotonic() - started
    assert waited < 1.5  # 0.5 s until agent2 finishes, then at once: not the 60 s timeout
    (notice,) = replies
    assert (notice["kind"], notice["from"], notice["event"]["state"]) == ("notice", "cooperbench", "finished")
    assert "agent2 has finished (Submitted)" in notice["text"]
    assert a1.peers() == {"agent2": {"state": "finished", "since": pytest.approx(time.time(), abs=30),
                                     "step": None, "detail": "Submitted"}}  # fmt: skip
    a1.close()


def test_waiting_for_a_teammate_that_is_already_gone_returns_at_once(pair) -> None:
    pm = pair()
    pm.agent_done("agent2", "failed", "RuntimeError: boom")
    with pm.connect("agent1") as a1:
        assert [n["event"]["state"] for n in a1.receive()] == ["failed"]  # the notice, read earlier
        started = time.monotonic()
        assert a1.wait_for_reply(timeout=60, from_agent="agent2") == []
        assert a1.receive(block=True, timeout=60) == []
        assert time.monotonic() - started < 1.0
        assert a1.gone() == ["agent2"]


def test_a_blocking_receive_waits_while_any_teammate_is_still_working(pair) -> None:
    pm = pair(TEAM3)
    pm.agent_done("agent2", "finished")
    with pm.connect("agent1") as a1, pm.connect("agent3") as a3:
        a1.receive()
        threading.Timer(0.5, lambda: a3.send("agent1", "still here")).start()
        received = a1.receive(block=True, timeout=30)
    assert [m["text"] for m in received] == ["still here"]


def test_every_teammate_is_told_when_an_agent_finishes_fails_or_is_killed(pair) -> None:
    pm = pair(TEAM3)
    pm.agent_done("agent1", "killed", "agent exceeded its wall-time limit of 60 s")
    pm.agent_done("agent2", "failed", "TypeError: x")
    with pm.connect("agent3") as a3:
        notices = a3.receive()
    assert [(n["from"], n["event"]["agent"], n["event"]["state"]) for n in notices] == [
        ("cooperbench", "agent1", "killed"),
        ("cooperbench", "agent2", "failed"),
    ]
    assert "stopped by the harness (agent exceeded its wall-time limit of 60 s)" in notices[0]["text"]
    ledger = pm.ledger()
    statuses = [(e["from"], e["event"]["state"]) for e in ledger if e["kind"] == "status"]
    assert statuses == [("agent1", "killed"), ("agent2", "failed")]
    notice_targets = [(e["event"]["agent"], e["to"]) for e in ledger if e["kind"] == "notice"]
    assert notice_targets == [("agent1", "agent2"), ("agent1", "agent3"), ("agent2", "agent1"), ("agent2", "agent3")]


def test_the_first_terminal_state_is_final(pair) -> None:
    pm = pair()
    pm.agent_done("agent2", "killed", "timeout")
    pm.agent_done("agent2", "finished", "Submitted")  # the thread ended after the harness killed it
    with pm.connect("agent1") as a1:
        assert a1.peers()["agent2"]["state"] == "killed"
        assert len(a1.receive()) == 1


def test_a_waiting_sender_shows_as_blocked_to_the_recipient(pair) -> None:
    pm = pair()
    a1, a2 = pm.connect("agent1"), pm.connect("agent2")
    a1.set_step(4)
    waiter = threading.Thread(target=a1.send_and_wait, args=("agent2", "which file is yours?", 30))
    waiter.start()
    try:
        deadline = time.monotonic() + 20
        while a2.peers()["agent1"]["state"] != "blocked" and time.monotonic() < deadline:
            time.sleep(0.02)
        status = a2.peers()["agent1"]
        assert (status["state"], status["waiting_for"], status["step"]) == ("blocked", ["agent2"], 4)
        received = a2.receive()
        assert [(m["kind"], m["from"]) for m in received] == [("message", "agent1"), ("notice", "agent1")]
        assert received[1]["text"] == "agent1 is blocked waiting for a reply from agent2."
        a2.send("agent1", "models.py")
    finally:
        waiter.join(20)
    assert a2.peers()["agent1"]["state"] == "running"
    kinds = [(e["kind"], e["from"], (e.get("event") or {}).get("state")) for e in pm.ledger()]
    assert kinds == [
        ("message", "agent1", None),
        ("status", "agent1", "blocked"),
        ("notice", "agent1", "blocked"),
        ("message", "agent2", None),
        ("status", "agent1", "running"),
    ]
    a1.close()
    a2.close()


def test_waiting_for_someone_outside_the_team_is_a_usage_error(pair) -> None:
    pm = pair()
    with pm.connect("agent1") as a1, pytest.raises(MessagingUsageError, match="agent7"):
        a1.wait_for_reply(1, from_agent="agent7")


def test_closing_the_pair_ends_waits_within_a_second(pair) -> None:
    pm = pair()
    a1 = pm.connect("agent1")
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(a1.receive(block=True, timeout=60)))
    waiter.start()
    time.sleep(0.2)
    started = time.monotonic()
    a1.bus.interrupt()  # what the endpoint and the harness do when a pair ends
    waiter.join(10)
    assert not waiter.is_alive() and time.monotonic() - started < 2.0
    assert result == [[]]
