"""The messaging contract: the :class:`MessageBus` a connector plugin provides, and the :class:`Message` record.

A bus is one *namespace* of one transport (a Redis server, the in-process embedded bus, or
whatever a plugin registers with ``cooperbench_register_connectors``). The runner gives
every pair of a run its own namespace, so two pairs, or two concurrent runs, never see each
other's messages. Agents talk through a :class:`~cooperbench.messaging.MessagingConnector`
obtained with :meth:`MessageBus.connect`; the bus itself keeps the *ledger*: every message
posted in the namespace, in send order, with the sender's and receiver's steps and the
moment it was delivered. The harness writes ``conversation.json`` from that ledger.

The built-in buses (:class:`BusBase`) add what the harness needs to keep a run honest:

- **identity**: a bus opened on an agent's own URL (:meth:`BusBase.grant`) can post only as
  that agent; the ``from`` of a message is never chosen by the sender;
- **presence**: every agent has a state (``running``, ``blocked`` while it waits for a reply,
  and ``finished``, ``failed`` or ``killed`` when it is gone); a wait ends as soon as the
  agents it waits for are gone, and teammates are told through notices from ``cooperbench``;
- **fault injection** (:mod:`cooperbench.messaging.faults`), applied at delivery.

Ledger entries have a ``kind``: ``message`` (between agents), ``notice`` (delivered to an
agent, from the harness or about a teammate's state) and ``status`` (an agent's state change).
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from cooperbench.errors import CooperBenchError, InfraError

if TYPE_CHECKING:
    from cooperbench.messaging.connector import MessagingConnector
    from cooperbench.messaging.faults import MessageFaults

__all__ = [
    "HARNESS_SENDER",
    "TERMINAL_STATES",
    "BusBase",
    "Message",
    "MessageBus",
    "MessagingError",
    "MessagingUsageError",
    "iso_time",
]

HARNESS_SENDER = "cooperbench"
"""The ``from`` of notices the harness itself sends (a teammate finished, failed, was killed)."""

STATES = ("running", "blocked", "finished", "failed", "killed")
TERMINAL_STATES = frozenset({"finished", "failed", "killed"})

# Blocking waits are cut into slices so a closed bus, or a dead server, is noticed quickly.
WAIT_SLICE_SECONDS = 1.0


class MessagingError(InfraError):
    """The message transport (Redis, ...) failed or went away; the message names it and its URL."""


class MessagingUsageError(CooperBenchError, ValueError):
    """A connector was used wrongly: a message to an agent that is not a teammate, a negative step,
    or an attempt to send as another agent than the one the credentials belong to."""


def iso_time(timestamp: float | None) -> str | None:
    """Seconds since the epoch as an ISO 8601 UTC string (``None`` stays ``None``)."""
    if timestamp is None:
        return None
    return _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Message:
    """One ledger entry: a message between two agents, a notice, or a status change.

    Attributes:
        id: position in the namespace's ledger, starting at 1, in send order.
        sender: the sending agent's id (``cooperbench`` for the harness's notices).
        recipient: the receiving agent's id (a broadcast is one message per recipient);
            ``None`` for a status change, which nobody receives.
        text: the message body.
        sent_at: seconds since the epoch when it was posted.
        sender_step: the sender's step when it sent (``None`` if the sender never set one).
        delivered_at: seconds since the epoch when ``receive`` handed it over, else ``None``.
        receiver_step: the receiver's step at delivery, else ``None``.
        broadcast: whether it was sent with ``broadcast``.
        kind: ``message``, ``notice`` or ``status``.
        event: structured details of a notice or status change (``agent``, ``state``, ...).
        faults: the faults injected into this message (see :mod:`cooperbench.messaging.faults`).
    """

    id: int
    sender: str
    recipient: str | None
    text: str
    sent_at: float
    sender_step: int | None = None
    delivered_at: float | None = None
    receiver_step: int | None = None
    broadcast: bool = False
    kind: str = "message"
    event: dict[str, Any] | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """``<sender>:<id>``, how an inbox names the message."""
        return f"{self.sender}:{self.id}"

    def as_received(self) -> dict[str, Any]:
        """The dict ``MessagingConnector.receive`` returns: ``from, to, text, timestamp`` (and ``id``, ``kind``)."""
        received = {
            "id": self.id,
            "from": self.sender,
            "to": self.recipient,
            "text": self.text,
            "timestamp": self.sent_at,
            "kind": self.kind,
        }
        if self.event is not None:
            received["event"] = dict(self.event)
        return received

    def as_ledger_entry(self) -> dict[str, Any]:
        """The entry written to ``conversation.json`` (times as ISO 8601 UTC strings)."""
        entry = {
            "id": self.id,
            "kind": self.kind,
            "from": self.sender,
            "to": self.recipient,
            "text": self.text,
            "sent_at": iso_time(self.sent_at),
            "delivered_at": iso_time(self.delivered_at),
            "sender_step": self.sender_step,
            "receiver_step": self.receiver_step,
            "broadcast": self.broadcast,
            "faults": [_iso_fault(f) for f in self.faults],
        }
        if self.event is not None:
            entry["event"] = dict(self.event)
        return entry


def _iso_fault(fault: dict[str, Any]) -> dict[str, Any]:
    out = dict(fault)
    if "delivered_at" in out:
        out["delivered_at"] = iso_time(out["delivered_at"])
    return out


@runtime_checkable
class MessageBus(Protocol):
    """One namespace of a message transport; what a ``connector`` plugin registers.

    A registered class is instantiated as ``cls(url)`` where ``url`` names the transport and
    the namespace (``redis://host:6379/0#<namespace>``, ``embedded://<namespace>``; the URL
    scheme is the plugin's name). Two buses on the same URL, in any processes the transport
    reaches, share the namespace. A bus is safe to use from several threads.

    Recipients' inboxes are queues, not subscriptions: a message posted before its recipient
    connects is delivered when it first receives, and each recipient gets its messages in
    the order they were posted.

    Attributes:
        url: the URL the bus was opened with.
        namespace: the namespace part of ``url``.
    """

    url: str
    namespace: str

    def connect(self, agent_id: str, agents: Sequence[str]) -> MessagingConnector:
        """Return the connector agent ``agent_id`` (one of ``agents``) talks through.

        Raises:
            ConfigError: ``agent_id`` is not one of ``agents``.
        """
        ...

    def post(self, sender: str, recipients: Sequence[str], text: str, *, step: int | None = None) -> list[Message]:
        """Append one message per recipient to the ledger and to each recipient's inbox, atomically.

        Args:
            sender: the sending agent.
            recipients: the receiving agents (several for a broadcast).
            text: the message body.
            step: the sender's current step, recorded in the ledger.

        Returns:
            The posted messages, with their ledger ids.

        Raises:
            MessagingError: the transport failed.
        """
        ...

    def take(
        self, agent_id: str, *, step: int | None = None, block: bool = False, timeout: float | None = None
    ) -> list[Message]:
        """Remove and return every message waiting for ``agent_id``, oldest first, marking them delivered.

        Args:
            agent_id: the receiving agent.
            step: the receiver's current step, recorded in the ledger with the delivery time.
            block: wait until at least one message is there (or ``timeout`` passes).
            timeout: with ``block``, the longest wait in seconds; ``None`` waits for ever.

        Returns:
            The delivered messages; empty when none arrived in time.

        Raises:
            MessagingError: the transport failed.
        """
        ...

    def pending(self, agent_id: str) -> int:
        """How many messages wait for ``agent_id``, without consuming them.

        Raises:
            MessagingError: the transport failed.
        """
        ...

    def ledger(self) -> list[Message]:
        """Every message posted in the namespace, in send order, with delivery details so far.

        Raises:
            MessagingError: the transport failed.
        """
        ...

    def purge(self) -> None:
        """Forget every message and inbox of the namespace (after its ledger is saved).

        Raises:
            MessagingError: the transport failed.
        """
        ...

    def close(self) -> None:
        """Release connections. Idempotent; the namespace's messages stay on the transport."""
        ...


def parse_ref(ref: str) -> tuple[str, int] | None:
    """``agent1:12`` → ``("agent1", 12)``; ``None`` for anything else (a forged or garbled inbox entry)."""
    sender, sep, number = ref.rpartition(":")
    if not sep or not sender or not number.isdigit():
        return None
    return sender, int(number)


class BusBase:
    """What the built-in buses share: identity, presence, fault injection and delivery bookkeeping.

    A subclass stores things; this class decides what happens. Storage hooks (all of which a
    subclass implements) work on:

    - messages, one per recipient, named by ``ref`` (``<sender>:<id>``); status changes have
      no recipient;
    - one inbox per agent: the refs posted to it and not yet taken;
    - one *delivery record* per (recipient, ref), written only by the recipient: the faults
      decided for it and when it was delivered;
    - one state per agent, and the namespace's configuration (its agents, its faults).

    Attributes:
        identity: the agent whose credentials opened this bus; ``None`` for a full-access
            bus (the harness's own), which may post as anyone, notices included.
    """

    url: str
    namespace: str
    identity: str | None = None

    def _init_base(self) -> None:
        self._closing = threading.Event()
        self._take_locks: dict[str, threading.Lock] = {}
        self._clocks: dict[str, int] = {}
        self._config_cache: dict[str, Any] | None = None
        self._guard = threading.Lock()

    # -- storage hooks ---------------------------------------------------------------------

    def _allocate_ids(self, count: int) -> int:
        """Reserve ``count`` consecutive ledger ids; return the last."""
        raise NotImplementedError

    def _store(self, messages: Sequence[Message]) -> None:
        """Save messages and push the refs of those with a recipient into its inbox, atomically."""
        raise NotImplementedError

    def _pop_inbox(self, agent_id: str, wait: float) -> list[str]:
        """Take every ref in the agent's inbox; with ``wait > 0`` wait up to that long for the first."""
        raise NotImplementedError

    def _load(self, agent_id: str, refs: Sequence[str]) -> dict[str, Message]:
        """The messages addressed to ``agent_id`` among ``refs`` (others are left out)."""
        raise NotImplementedError

    def _records(self, agent_id: str) -> dict[str, dict[str, Any]]:
        """The agent's delivery records, by ref."""
        raise NotImplementedError

    def _save_records(self, agent_id: str, records: dict[str, dict[str, Any]]) -> None:
        raise NotImplementedError

    def _write_state(self, agent_id: str, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _read_states(self, agent_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The recorded states of those agents that have one."""
        raise NotImplementedError

    def _write_config(self, config: dict[str, Any]) -> None:
        raise NotImplementedError

    def _read_config(self) -> dict[str, Any]:
        raise NotImplementedError

    def _all_messages(self) -> list[Message]:
        """Every stored message and status change (without delivery details)."""
        raise NotImplementedError

    def _all_records(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every agent's delivery records."""
        raise NotImplementedError

    # -- identity --------------------------------------------------------------------------

    def _check_sender(self, sender: str) -> None:
        if self.identity is not None and sender != self.identity:
            raise MessagingUsageError(
                f"refused: this connection holds {self.identity}'s credentials, so it sends only as "
                f"{self.identity}, not as {sender!r}"
            )

    def _check_reader(self, agent_id: str) -> None:
        if self.identity is not None and agent_id != self.identity:
            raise MessagingUsageError(
                f"refused: this connection holds {self.identity}'s credentials; it cannot read {agent_id}'s messages"
            )

    # -- configuration ---------------------------------------------------------------------

    def configure(self, *, agents: Sequence[str] | None = None, faults: MessageFaults | None = None) -> None:
        """Record the namespace's agents and the faults to inject (harness side, full access only).

        Raises:
            MessagingUsageError: the bus holds an agent's credentials.
            MessagingError: the transport failed.
        """
        if self.identity is not None:
            raise MessagingUsageError(f"refused: {self.identity}'s credentials cannot configure the namespace")
        config = dict(self._read_config())
        if agents is not None:
            config["agents"] = list(agents)
        if faults is not None:
            config["faults"] = faults.as_dict()
        self._write_config(config)
        self._config_cache = config

    def _config(self) -> dict[str, Any]:
        if self._config_cache is None:
            self._config_cache = self._read_config()
        return self._config_cache

    def _faults(self) -> MessageFaults | None:
        from cooperbench.messaging.faults import MessageFaults

        data = self._config().get("faults")
        faults = MessageFaults.from_dict(data) if data else None
        return faults if faults is not None and faults.active else None

    # -- sending ---------------------------------------------------------------------------

    def post(
        self,
        sender: str,
        recipients: Sequence[str],
        text: str,
        *,
        step: int | None = None,
        kind: str = "message",
        event: dict[str, Any] | None = None,
    ) -> list[Message]:
        """See :meth:`MessageBus.post`. ``kind``/``event`` mark notices (``sender`` ``cooperbench`` needs full access).

        Raises:
            MessagingUsageError: the credentials are another agent's.
            MessagingError: the transport failed.
        """
        self._check_sender(sender)
        if not recipients:
            return []
        last = self._allocate_ids(len(recipients))
        now = time.time()
        messages = [
            Message(
                id=last - len(recipients) + 1 + i,
                sender=sender,
                recipient=recipient,
                text=text,
                sent_at=now,
                sender_step=step,
                broadcast=len(recipients) > 1 and kind == "message",
                kind=kind,
                event=event,
            )
            for i, recipient in enumerate(recipients)
        ]
        self._store(messages)
        return messages

    def record(
        self, sender: str, text: str, *, event: dict[str, Any], step: int | None = None, kind: str = "task"
    ) -> Message:
        """Add an entry nobody receives to the ledger (the team's task-list events; harness side only).

        Raises:
            MessagingUsageError: the bus holds an agent's credentials.
            MessagingError: the transport failed.
        """
        if self.identity is not None:
            raise MessagingUsageError(f"refused: {self.identity}'s credentials cannot write the ledger's records")
        message = Message(
            id=self._allocate_ids(1),
            sender=sender,
            recipient=None,
            text=text,
            sent_at=time.time(),
            sender_step=step,
            kind=kind,
            event=dict(event),
        )
        self._store([message])
        return message

    # -- presence --------------------------------------------------------------------------

    def statuses(self, agents: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
        """The current state of every configured agent and of ``agents``.

        Returns:
            ``{agent: {"state", "since", "step", "waiting_for", "detail"}}``; an agent that
            never reported a state is ``{"state": "running"}``.

        Raises:
            MessagingError: the transport failed.
        """
        ids = list(dict.fromkeys([*self._config().get("agents", []), *agents]))
        states: dict[str, dict[str, Any]] = {a: {"state": "running"} for a in ids}
        states.update(self._read_states(ids))
        return states

    def set_status(
        self,
        agent_id: str,
        state: str,
        *,
        detail: str | None = None,
        waiting_for: Collection[str] = (),
        step: int | None = None,
        notify: Collection[str] = (),
    ) -> bool:
        """Record ``agent_id``'s state, as a ledger status entry, and tell ``notify`` with a notice.

        A terminal state (``finished``, ``failed``, ``killed``) is final: later calls are
        ignored and return ``False``. Only the harness (full access) sets terminal states or
        speaks for another agent.

        Returns:
            Whether the state was recorded.

        Raises:
            MessagingUsageError: an unknown state, or credentials that are not ``agent_id``'s or
                that try to set a terminal state.
            MessagingError: the transport failed.
        """
        if state not in STATES:
            raise MessagingUsageError(f"unknown agent state {state!r}; expected one of {', '.join(STATES)}")
        self._check_sender(agent_id)
        if state in TERMINAL_STATES and self.identity is not None:
            raise MessagingUsageError(f"refused: only the harness marks {agent_id} {state}")
        current = self._read_states([agent_id]).get(agent_id, {})
        if current.get("state") in TERMINAL_STATES:
            return False
        now = time.time()
        record: dict[str, Any] = {"state": state, "since": now, "step": step}
        if waiting_for:
            record["waiting_for"] = list(waiting_for)
        if detail:
            record["detail"] = detail
        self._write_state(agent_id, record)
        text = _describe_state(agent_id, state, list(waiting_for), detail)
        event = {"agent": agent_id, **{k: v for k, v in record.items() if k not in ("since", "step")}}
        self._store(
            [
                Message(
                    id=self._allocate_ids(1),
                    sender=agent_id,
                    recipient=None,
                    text=text,
                    sent_at=now,
                    sender_step=step,
                    kind="status",
                    event=event,
                )
            ]
        )
        targets = [a for a in notify if a != agent_id]
        if targets:
            sender = HARNESS_SENDER if state in TERMINAL_STATES else agent_id
            self.post(sender, targets, text, step=step if sender == agent_id else None, kind="notice", event=event)
        return True

    # -- receiving -------------------------------------------------------------------------

    def _lock_for(self, agent_id: str) -> threading.Lock:
        with self._guard:
            return self._take_locks.setdefault(agent_id, threading.Lock())

    def take(
        self,
        agent_id: str,
        *,
        step: int | None = None,
        block: bool = False,
        timeout: float | None = None,
        awaited: Collection[str] | None = None,
    ) -> list[Message]:
        """See :meth:`MessageBus.take`.

        Args:
            awaited: with ``block``, the agents whose messages are awaited: the wait ends as
                soon as all of them are finished, failed or killed (default: every other
                agent of the namespace the harness configured, if any).

        Raises:
            MessagingUsageError: the credentials are another agent's.
            MessagingError: the transport failed.
        """
        self._check_reader(agent_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock_for(agent_id):
            clock = self._tick(agent_id, step)
            delivered = self._deliver(agent_id, step, clock, wait=0.0)
            while block and not delivered and not self._all_gone(agent_id, awaited):
                remaining = None if deadline is None else deadline - time.monotonic()
                if self._closing.is_set() or (remaining is not None and remaining <= 0):
                    break
                wait = WAIT_SLICE_SECONDS if remaining is None else min(remaining, WAIT_SLICE_SECONDS)
                delivered = self._deliver(agent_id, step, clock, wait=wait)
            return delivered

    def pending(self, agent_id: str) -> int:
        """See :meth:`MessageBus.pending`: messages a ``take`` now would deliver."""
        self._check_reader(agent_id)
        with self._lock_for(agent_id):
            records = self._ingest(agent_id, self._clocks.get(agent_id, 0), wait=0.0)
            clock = self._clocks.get(agent_id, 0)
            return sum(1 for rec in records.values() for _ in _due_copies(rec, clock))

    def peers_gone(self, agent_id: str, awaited: Collection[str] | None = None) -> bool:
        """Whether every awaited agent (default: every other configured agent) is finished, failed or killed."""
        return self._all_gone(agent_id, awaited)

    def _all_gone(self, agent_id: str, awaited: Collection[str] | None) -> bool:
        states = self.statuses(list(awaited or ()))
        targets = list(awaited) if awaited is not None else [a for a in states if a != agent_id]
        return bool(targets) and all(states.get(a, {}).get("state") in TERMINAL_STATES for a in targets)

    def _tick(self, agent_id: str, step: int | None) -> int:
        # Delays count the receiver's steps; an agent that never reports one counts its receive calls.
        if step is not None:
            self._clocks[agent_id] = step
        else:
            self._clocks[agent_id] = self._clocks.get(agent_id, 0) + 1
        return self._clocks[agent_id]

    def _ingest(self, agent_id: str, clock: int, *, wait: float) -> dict[str, dict[str, Any]]:
        """Move the inbox into delivery records, deciding each new message's faults."""
        refs = self._pop_inbox(agent_id, wait)
        records = self._records(agent_id)
        fresh = [r for r in dict.fromkeys(refs) if r not in records and parse_ref(r) is not None]
        if not fresh:
            return records
        messages = self._load(agent_id, fresh)
        faults = self._faults()
        added: dict[str, dict[str, Any]] = {}
        for ref in fresh:
            message = messages.get(ref)
            if message is None:  # not addressed to this agent: a forged or garbled inbox entry
                continue
            record: dict[str, Any] = {"sender": message.sender, "kind": message.kind, "state": "ready", "faults": []}
            if message.kind == "message" and faults is not None:
                position = 1 + sum(
                    1
                    for r in (*records.values(), *added.values())
                    if r["sender"] == message.sender and r["kind"] == "message"
                )
                record["position"] = position
                dropped, duplicated = faults.decide(message.sender, agent_id, position)
                if dropped:
                    record["state"] = "dropped"
                    record["faults"].append({"type": "drop", "reason": f"dropped by fault injection ({faults.spec()})"})
                else:
                    if faults.delay:
                        record["state"] = "held"
                        record["release_step"] = clock + faults.delay
                        record["faults"].append(
                            {
                                "type": "delay",
                                "steps": faults.delay,
                                "held_at_step": clock,
                                "release_step": clock + faults.delay,
                            }
                        )
                    if duplicated:
                        record["faults"].append({"type": "duplicate", "delivered_at": None, "receiver_step": None})
            added[ref] = record
        if added:
            self._save_records(agent_id, added)
            records.update(added)
        return records

    def _deliver(self, agent_id: str, step: int | None, clock: int, *, wait: float) -> list[Message]:
        records = self._ingest(agent_id, clock, wait=wait)
        due: list[tuple[str, str]] = [(ref, copy) for ref, rec in records.items() for copy in _due_copies(rec, clock)]
        if not due:
            return []
        messages = self._load(agent_id, list(dict.fromkeys(ref for ref, _ in due)))
        now = time.time()
        changed: dict[str, dict[str, Any]] = {}
        delivered: list[Message] = []
        for ref, copy in sorted(due, key=lambda d: (parse_ref(d[0]) or ("", 0))[1]):
            rec = changed.setdefault(ref, records[ref])
            message = messages.get(ref)
            if copy == "original":
                rec["state"] = "delivered"
                rec["delivered_at"], rec["receiver_step"] = now, step
                rec["delivered_clock"] = clock
            else:
                dup = next(f for f in rec["faults"] if f["type"] == "duplicate")
                dup["delivered_at"], dup["receiver_step"] = now, step
            if message is not None:
                message.delivered_at, message.receiver_step = now, step
                delivered.append(message)
        self._save_records(agent_id, changed)
        return delivered

    # -- the ledger ------------------------------------------------------------------------

    def ledger(self) -> list[Message]:
        """See :meth:`MessageBus.ledger`: messages, notices and status changes, by id, with delivery details."""
        records = self._all_records()
        entries = []
        for message in self._all_messages():
            if message.recipient is not None:
                rec = records.get(message.recipient, {}).get(message.ref)
                if rec is not None:
                    message.delivered_at = rec.get("delivered_at")
                    message.receiver_step = rec.get("receiver_step")
                    message.faults = list(rec.get("faults", []))
            entries.append(message)
        return sorted(entries, key=lambda m: m.id)

    # -- life cycle ------------------------------------------------------------------------

    def connect(self, agent_id: str, agents: Sequence[str]) -> MessagingConnector:
        """Return the connector of ``agent_id`` on this bus (see :meth:`MessageBus.connect`)."""
        from cooperbench.messaging.connector import MessagingConnector

        return MessagingConnector(agent_id, agents, self.url, bus=cast("MessageBus", self))

    def interrupt(self) -> None:
        """End every blocking wait on this bus within a second (used when the harness shuts a pair down)."""
        self._closing.set()

    def close(self) -> None:
        """Stop blocking waits; subclasses also release connections."""
        self.interrupt()

    def __enter__(self) -> BusBase:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _due_copies(record: dict[str, Any], clock: int) -> list[str]:
    """Which copies of a recorded message are due now: ``original`` and/or ``duplicate``."""
    copies = []
    state = record["state"]
    if state == "ready" or (state == "held" and clock >= record.get("release_step", 0)):
        copies.append("original")
    elif state == "delivered":
        dup = next((f for f in record.get("faults", ()) if f["type"] == "duplicate"), None)
        if dup is not None and dup.get("delivered_at") is None and clock > record.get("delivered_clock", clock):
            copies.append("duplicate")
    return copies


def _describe_state(agent_id: str, state: str, waiting_for: list[str], detail: str | None) -> str:
    if state == "blocked":
        whom = ", ".join(waiting_for) if waiting_for else "a message"
        return f"{agent_id} is blocked waiting for a reply from {whom}."
    if state == "running":
        return f"{agent_id} is working again."
    suffix = f" ({detail})" if detail else ""
    return {
        "finished": f"{agent_id} has finished{suffix}; it will not read or answer messages any more.",
        "failed": f"{agent_id} has failed{suffix}; it will not read or answer messages any more.",
        "killed": f"{agent_id} was stopped by the harness{suffix}; it will not read or answer messages any more.",
    }[state]
