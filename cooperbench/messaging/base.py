"""The messaging contract: the :class:`MessageBus` a connector plugin provides, and the :class:`Message` record.

A bus is one *namespace* of one transport (a Redis server, the in-process embedded bus, or
whatever a plugin registers with ``cooperbench_register_connectors``). The runner gives
every pair of a run its own namespace, so two pairs, or two concurrent runs, never see each
other's messages. Agents talk through a :class:`~cooperbench.messaging.MessagingConnector`
obtained with :meth:`MessageBus.connect`; the bus itself keeps the *ledger*: every message
posted in the namespace, in send order, with the sender's and receiver's steps and the
moment it was delivered. The harness writes ``conversation.json`` from that ledger.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from cooperbench.errors import CooperBenchError, InfraError

if TYPE_CHECKING:
    from cooperbench.messaging.connector import MessagingConnector

__all__ = ["BusBase", "Message", "MessageBus", "MessagingError", "MessagingUsageError", "iso_time"]


class MessagingError(InfraError):
    """The message transport (Redis, ...) failed or went away; the message names it and its URL."""


class MessagingUsageError(CooperBenchError, ValueError):
    """A connector was used wrongly: a message to an agent that is not a teammate, a negative step."""


def iso_time(timestamp: float | None) -> str | None:
    """Seconds since the epoch as an ISO 8601 UTC string (``None`` stays ``None``)."""
    if timestamp is None:
        return None
    return _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Message:
    """One message between two agents, as the ledger records it.

    Attributes:
        id: position in the namespace's ledger, starting at 1, in send order.
        sender: the sending agent's id.
        recipient: the receiving agent's id (a broadcast is one message per recipient).
        text: the message body.
        sent_at: seconds since the epoch when it was posted.
        sender_step: the sender's step when it sent (``None`` if the sender never set one).
        delivered_at: seconds since the epoch when ``receive`` handed it over, else ``None``.
        receiver_step: the receiver's step at delivery, else ``None``.
        broadcast: whether it was sent with ``broadcast``.
    """

    id: int
    sender: str
    recipient: str
    text: str
    sent_at: float
    sender_step: int | None = None
    delivered_at: float | None = None
    receiver_step: int | None = None
    broadcast: bool = False

    def as_received(self) -> dict[str, Any]:
        """The dict ``MessagingConnector.receive`` returns: ``from, to, text, timestamp`` (and ``id``)."""
        return {"id": self.id, "from": self.sender, "to": self.recipient, "text": self.text, "timestamp": self.sent_at}

    def as_ledger_entry(self) -> dict[str, Any]:
        """The entry written to ``conversation.json`` (times as ISO 8601 UTC strings)."""
        return {
            "id": self.id,
            "from": self.sender,
            "to": self.recipient,
            "text": self.text,
            "sent_at": iso_time(self.sent_at),
            "delivered_at": iso_time(self.delivered_at),
            "sender_step": self.sender_step,
            "receiver_step": self.receiver_step,
            "broadcast": self.broadcast,
        }


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


class BusBase:
    """Shared behaviour of the built-in buses: ``connect`` and the context-manager protocol."""

    url: str
    namespace: str

    def connect(self, agent_id: str, agents: Sequence[str]) -> MessagingConnector:
        """Return the connector of ``agent_id`` on this bus (see :meth:`MessageBus.connect`)."""
        from cooperbench.messaging.connector import MessagingConnector

        return MessagingConnector(agent_id, agents, self.url, bus=cast("MessageBus", self))

    def close(self) -> None:
        """Nothing to release by default."""

    def __enter__(self) -> BusBase:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
