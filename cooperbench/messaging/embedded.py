"""The embedded bus: messaging between agents that are threads of one process (``embedded://<namespace>``).

Used when no Redis answers and every agent of the run lives in the harness process. A
process-wide registry maps namespaces to their inboxes and ledger, so every
``EmbeddedBus`` opened on the same URL in this process shares them.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Sequence

from cooperbench.messaging._url import parse_url
from cooperbench.messaging.base import BusBase, Message

__all__ = ["EmbeddedBus"]


class _Namespace:
    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.messages: list[Message] = []
        self.inboxes: dict[str, deque[Message]] = {}


_namespaces: dict[str, _Namespace] = {}
_registry_lock = threading.Lock()


def _namespace(name: str) -> _Namespace:
    with _registry_lock:
        return _namespaces.setdefault(name, _Namespace())


class EmbeddedBus(BusBase):
    """A :class:`~cooperbench.messaging.MessageBus` held in this process's memory.

    Args:
        url: ``embedded://<namespace>``.

    Raises:
        ConfigError: ``url`` is malformed.
    """

    def __init__(self, url: str) -> None:
        address = parse_url(url)
        self.url = url
        self.namespace = address.namespace

    @property
    def _ns(self) -> _Namespace:
        # Looked up each time so a bus opened before ``purge`` sees the fresh namespace after it.
        return _namespace(self.namespace)

    def post(self, sender: str, recipients: Sequence[str], text: str, *, step: int | None = None) -> list[Message]:
        """See :meth:`MessageBus.post`."""
        ns = self._ns
        now = time.time()
        posted = []
        with ns.changed:
            for recipient in recipients:
                message = Message(
                    id=len(ns.messages) + 1,
                    sender=sender,
                    recipient=recipient,
                    text=text,
                    sent_at=now,
                    sender_step=step,
                    broadcast=len(recipients) > 1,
                )
                ns.messages.append(message)
                ns.inboxes.setdefault(recipient, deque()).append(message)
                posted.append(dataclasses.replace(message))
            ns.changed.notify_all()
        return posted

    def take(
        self, agent_id: str, *, step: int | None = None, block: bool = False, timeout: float | None = None
    ) -> list[Message]:
        """See :meth:`MessageBus.take`."""
        ns = self._ns
        with ns.changed:
            inbox = ns.inboxes.setdefault(agent_id, deque())
            if block:
                ns.changed.wait_for(lambda: bool(inbox), timeout=timeout)
            now = time.time()
            delivered = []
            while inbox:
                message = inbox.popleft()
                message.delivered_at = now
                message.receiver_step = step
                delivered.append(dataclasses.replace(message))
        return delivered

    def pending(self, agent_id: str) -> int:
        """See :meth:`MessageBus.pending`."""
        ns = self._ns
        with ns.changed:
            return len(ns.inboxes.get(agent_id, ()))

    def ledger(self) -> list[Message]:
        """See :meth:`MessageBus.ledger`."""
        ns = self._ns
        with ns.changed:
            return [dataclasses.replace(m) for m in ns.messages]

    def purge(self) -> None:
        """See :meth:`MessageBus.purge`."""
        with _registry_lock:
            ns = _namespaces.pop(self.namespace, None)
        if ns is not None:
            with ns.changed:
                ns.messages.clear()
                ns.inboxes.clear()
