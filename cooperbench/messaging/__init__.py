"""Messaging between agents: the connector agents use, the buses behind it, and the ledger.

Agents talk through a :class:`MessagingConnector` opened on the messaging URL the harness
hands them (``comm_url``):

- ``redis://host:port/db#<namespace>``: a Redis server (the ``redis`` connector plugin);
- ``embedded://<namespace>``: an in-process bus for agents that are threads of the harness
  (the ``embedded`` connector plugin).

Each pair of a run gets its own namespace. Every message is recorded in the namespace's
ledger (:class:`Ledger`), which the runner saves as ``conversation.json`` with
:func:`write_conversation`. ``redis_available`` and ``choose_url`` decide between Redis
and the embedded bus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cooperbench.messaging._url import BusAddress, choose_url, open_bus, parse_url, with_namespace
from cooperbench.messaging.base import Message, MessageBus, MessagingError, MessagingUsageError
from cooperbench.messaging.connector import MessagingConnector
from cooperbench.messaging.embedded import EmbeddedBus
from cooperbench.messaging.ledger import CONVERSATION_FILE, Ledger, write_conversation

if TYPE_CHECKING:
    from cooperbench.messaging.redis_bus import RedisBus, redis_available

__all__ = [
    "CONVERSATION_FILE",
    "BusAddress",
    "EmbeddedBus",
    "Ledger",
    "Message",
    "MessageBus",
    "MessagingConnector",
    "MessagingError",
    "MessagingUsageError",
    "RedisBus",
    "choose_url",
    "open_bus",
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
