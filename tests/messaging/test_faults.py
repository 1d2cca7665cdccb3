"""Message fault injection: drop, delay (in receiver steps), duplicate, seeded; every fault in the ledger."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cooperbench.errors import ConfigError
from cooperbench.messaging import MessageFaults, PairMessaging, parse_faults

AGENTS = ["agent1", "agent2"]


@pytest.fixture
def faulty(open_pair: Callable[..., PairMessaging]) -> Callable[[MessageFaults], PairMessaging]:
    return lambda faults: open_pair(faults=faults)


def test_parse_faults_reads_every_key_in_any_order() -> None:
    assert parse_faults("drop=0.2,delay=3,duplicate=0.05,seed=7") == MessageFaults(0.2, 3, 0.05, 7)
    assert parse_faults(" seed=1 , drop=1 ") == MessageFaults(drop=1.0, seed=1)
    assert parse_faults(None) is None and parse_faults("") is None
    assert parse_faults("drop=0.5") == MessageFaults(drop=0.5, seed=0)  # the default seed: a resumed run matches
    assert MessageFaults(0.2, 3, 0.05, 7).spec() == "drop=0.2,delay=3,duplicate=0.05,seed=7"
    assert MessageFaults(drop=1, seed=3).spec() == "drop=1,seed=3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("drop=2", "drop=2 must be a probability between 0 and 1"),
        ("drop=x", "drop='x' is not a number"),
        ("delay=-1", "delay=-1 must be >= 0"),
        ("delay=1.5", "delay='1.5' is not a whole number"),
        ("lose=0.1", "unknown fault 'lose'; expected one of drop, delay, duplicate, seed"),
        ("drop", "'drop' is not key=value"),
        ("drop=0.1,drop=0.2", "'drop' is given twice"),
    ],
)
def test_malformed_faults_are_config_errors_naming_the_option(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_faults(text)
    assert str(caught.value).startswith("--messaging-faults: ") and message in str(caught.value)


@given(seed=st.integers(0, 2**31 - 1), position=st.integers(1, 500))
def test_decisions_depend_only_on_seed_sender_recipient_and_position(seed: int, position: int) -> None:
    faults = MessageFaults(drop=0.3, duplicate=0.3, seed=seed)
    assert faults.decide("agent1", "agent2", position) == MessageFaults(0.3, 0, 0.3, seed).decide(
        "agent1", "agent2", position
    )
    dropped, duplicated = faults.decide("agent1", "agent2", position)
    assert not (dropped and duplicated)


def test_with_drop_1_nothing_is_delivered_and_the_ledger_says_why(faulty) -> None:
    pm = faulty(MessageFaults(drop=1.0, seed=7))
    with pm.connect("agent1") as a1, pm.connect("agent2") as a2:
        a1.send("agent2", "one")
        a1.broadcast("two")
        a2.send("agent1", "three")
        assert a2.receive() == [] and a1.receive() == []
        assert a2.peek() == 0
    ledger = pm.ledger()
    assert [e["text"] for e in ledger] == ["one", "two", "three"]
    for entry in ledger:
        assert entry["delivered_at"] is None
        assert entry["faults"] == [{"type": "drop", "reason": "dropped by fault injection (drop=1,seed=7)"}]


def test_notices_from_the_harness_are_never_faulted(faulty) -> None:
    pm = faulty(MessageFaults(drop=1.0, seed=7))
    pm.agent_done("agent2", "finished", "Submitted")
    with pm.connect("agent1") as a1:
        assert [m["kind"] for m in a1.receive()] == ["notice"]


def _pattern(pm: PairMessaging, count: int = 40) -> list[tuple[str, ...]]:
    with pm.connect("agent1") as a1, pm.connect("agent2") as a2:
        for i in range(count):
            a2.set_step(i)
            a1.send("agent2", f"m{i}")
            a2.receive()
        for step in range(count, count + 3):
            a2.set_step(step)
            a2.receive()
    return [tuple(f["type"] for f in e["faults"]) for e in pm.ledger()]


def test_the_same_seed_injects_the_same_faults(faulty) -> None:
    spec = "drop=0.3,duplicate=0.3,seed=11"
    first, second = _pattern(faulty(parse_faults(spec))), _pattern(faulty(parse_faults(spec)))
    assert first == second
    assert {("drop",), ("duplicate",), ()} <= set(first)  # 40 messages at 30%: every kind occurs
    other = _pattern(faulty(parse_faults("drop=0.3,duplicate=0.3,seed=12")))
    assert other != first


def test_delay_holds_a_message_for_that_many_receiver_steps(faulty) -> None:
    pm = faulty(MessageFaults(delay=3, seed=1))
    with pm.connect("agent1") as a1, pm.connect("agent2") as a2:
        a2.set_step(10)
        a1.send("agent2", "late news")
        assert a2.receive() == []  # seen at step 10, held until step 13
        for step in (11, 12):
            a2.set_step(step)
            assert a2.receive() == []
        a2.set_step(13)
        assert [m["text"] for m in a2.receive()] == ["late news"]
    (entry,) = pm.ledger()
    assert entry["receiver_step"] == 13
    assert entry["faults"] == [{"type": "delay", "steps": 3, "held_at_step": 10, "release_step": 13}]


def test_delay_counts_receive_calls_when_the_agent_reports_no_steps(faulty) -> None:
    pm = faulty(MessageFaults(delay=2, seed=1))
    with pm.connect("agent1") as a1, pm.connect("agent2") as a2:
        a1.send("agent2", "x")
        assert a2.receive() == []
        assert a2.receive() == []
        assert [m["text"] for m in a2.receive()] == ["x"]


def test_a_duplicated_message_is_delivered_again_one_receiver_step_later(faulty) -> None:
    pm = faulty(MessageFaults(duplicate=1.0, seed=1))
    with pm.connect("agent1") as a1, pm.connect("agent2") as a2:
        a2.set_step(1)
        a1.send("agent2", "twice")
        first = a2.receive()
        assert a2.receive() == []  # same step: not yet
        a2.set_step(2)
        second = a2.receive()
        assert a2.receive() == []
    assert [m["text"] for m in first] == ["twice"] and [m["text"] for m in second] == ["twice"]
    assert first[0]["id"] == second[0]["id"]
    (entry,) = pm.ledger()
    assert entry["receiver_step"] == 1
    (dup,) = entry["faults"]
    assert (dup["type"], dup["receiver_step"]) == ("duplicate", 2) and dup["delivered_at"] is not None
