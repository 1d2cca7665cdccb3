"""Messaging between agents: the connector agents use, the buses behind it, and the ledger.

Agents talk through a :class:`MessagingConnector` opened on the messaging URL the harness
hands them (``comm_url``):

- ``redis://host:port/db#<namespace>``: a Redis server (the ``redis`` connector plugin);
- ``embedded://<namespace>``: an in-process bus for agents that are threads of the harness
  (the ``embedded`` connector plugin).

Each pair of a run gets its own namespace, and each agent its own credentials in it
(:class:`PairMessaging`): a message's ``from`` is the agent whose credentials sent it. Every
message, notice and status change is recorded in the namespace's ledger (:class:`Ledger`),
which the runner saves as ``conversation.json``. ``redis_available`` and ``choose_url``
decide between Redis and the embedded bus; :mod:`cooperbench.messaging.faults` injects
message faults; :mod:`cooperbench.messaging.endpoint` serves agents that run inside their
sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cooperbench.messaging._url import BusAddress, choose_url, open_bus, parse_url, with_namespace
from cooperbench.messaging.base import (
    HARNESS_SENDER,
    TERMINAL_STATES,
    Message,
    MessageBus,
    MessagingError,
    MessagingUsageError,
)
from cooperbench.messaging.connector import MessagingConnector
from cooperbench.messaging.embedded import EmbeddedBus
from cooperbench.messaging.faults import MessageFaults, parse_faults
from cooperbench.messaging.harness import PairMessaging, RunMessaging, cleanup_messaging
from cooperbench.messaging.ledger import CONVERSATION_FILE, Ledger, write_conversation

if TYPE_CHECKING:
    from cooperbench.messaging.redis_bus import RedisBus, redis_available

__all__ = [
    "CONVERSATION_FILE",
    "HARNESS_SENDER",
    "TERMINAL_STATES",
    "BusAddress",
    "EmbeddedBus",
    "Ledger",
    "Message",
    "MessageBus",
    "MessageFaults",
    "MessagingConnector",
    "MessagingError",
    "MessagingUsageError",
    "PairMessaging",
    "RedisBus",
    "RunMessaging",
    "choose_url",
    "cleanup_messaging",
    "open_bus",
    "parse_faults",
    "parse_url",
    "redis_available",
    "with_namespace",
    "write_conversation",
]


def __getattr__(name: str) -> Any:
    # redis-py takes about half a second to import; load it only when Redis is used.
    if name in ("RedisBus", "redis_available"):
        from cooperbench.messaging import redis_bus

        return getattr(redis_bus, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
