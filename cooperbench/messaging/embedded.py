"""The embedded bus: messaging between agents that are threads of one process (``embedded://<namespace>``).

Used when no Redis answers and every agent of the run lives in the harness process. A
process-wide registry maps namespaces to their inboxes and ledger, so every
``EmbeddedBus`` opened on the same URL in this process shares them.

``embedded://agent1:<token>@<namespace>`` is agent1's own URL, issued by :meth:`EmbeddedBus.grant`:
a bus opened on it sends and receives only as agent1.
"""

from __future__ import annotations

import copy
import dataclasses
import secrets
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from cooperbench.messaging._url import parse_url
from cooperbench.messaging.base import BusBase, Message, MessagingError, MessagingUsageError

__all__ = ["EmbeddedBus"]


class _Namespace:
    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.seq = 0
        self.messages: dict[tuple[str | None, str], Message] = {}
        self.inboxes: dict[str, deque[str]] = {}
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.config: dict[str, Any] = {}
        self.grants: dict[str, str] = {}  # agent id -> token


_namespaces: dict[str, _Namespace] = {}
_registry_lock = threading.Lock()


def _namespace(name: str) -> _Namespace:
    with _registry_lock:
        return _namespaces.setdefault(name, _Namespace())


class EmbeddedBus(BusBase):
    """A :class:`~cooperbench.messaging.MessageBus` held in this process's memory.

    Args:
        url: ``embedded://<namespace>``, or an agent's own ``embedded://<agent>:<token>@<namespace>``.

    Raises:
        ConfigError: ``url`` is malformed.
        MessagingError: the URL's credentials are not (or no longer) valid for the namespace.
    """

    def __init__(self, url: str) -> None:
        self._init_base()
        address = parse_url(url)
        self.url = url
        self.namespace = address.namespace
        if address.username is not None:
            ns = self._ns
            with ns.changed:
                token = ns.grants.get(address.username)
            if token is None or not secrets.compare_digest(token, address.password or ""):
                raise MessagingError(
                    f"embedded bus: the credentials of {address.username!r} are not valid in namespace "
                    f"{self.namespace!r} (they end with the pair they were issued for)"
                )
            self.identity = address.username

    @property
    def _ns(self) -> _Namespace:
        # Looked up each time so a bus opened before ``purge`` sees the fresh namespace after it.
        return _namespace(self.namespace)

    def grant(self, agent_id: str) -> str:
        """Issue ``agent_id``'s own URL: a bus opened on it posts and receives only as ``agent_id``.

        Raises:
            MessagingUsageError: this bus holds an agent's credentials (only the harness grants).
        """
        if self.identity is not None:
            raise MessagingUsageError(f"refused: {self.identity}'s credentials cannot grant credentials")
        ns = self._ns
        with ns.changed:
            token = ns.grants.setdefault(agent_id, secrets.token_urlsafe(18))
        return f"embedded://{agent_id}:{token}@{self.namespace}"

    # -- storage hooks ---------------------------------------------------------------------

    def _allocate_ids(self, count: int) -> int:
        ns = self._ns
        with ns.changed:
            ns.seq += count
            return ns.seq

    def _store(self, messages: Sequence[Message]) -> None:
        ns = self._ns
        with ns.changed:
            for message in messages:
                ns.messages[(message.recipient, message.ref)] = dataclasses.replace(message)
                if message.recipient is not None:
                    ns.inboxes.setdefault(message.recipient, deque()).append(message.ref)
            ns.changed.notify_all()

    def _pop_inbox(self, agent_id: str, wait: float) -> list[str]:
        ns = self._ns
        with ns.changed:
            inbox = ns.inboxes.setdefault(agent_id, deque())
            if wait > 0 and not inbox:
                ns.changed.wait_for(lambda: bool(inbox) or self._closing.is_set(), timeout=wait)
            refs = list(inbox)
            inbox.clear()
            return refs

    def _load(self, agent_id: str, refs: Sequence[str]) -> dict[str, Message]:
        ns = self._ns
        with ns.changed:
            found = {ref: ns.messages.get((agent_id, ref)) for ref in refs}
        return {ref: dataclasses.replace(m) for ref, m in found.items() if m is not None}

    def _records(self, agent_id: str) -> dict[str, dict[str, Any]]:
        ns = self._ns
        with ns.changed:
            return copy.deepcopy(ns.records.get(agent_id, {}))

    def _save_records(self, agent_id: str, records: dict[str, dict[str, Any]]) -> None:
        ns = self._ns
        with ns.changed:
            ns.records.setdefault(agent_id, {}).update(copy.deepcopy(records))

    def _write_state(self, agent_id: str, state: dict[str, Any]) -> None:
        ns = self._ns
        with ns.changed:
            ns.states[agent_id] = dict(state)
            ns.changed.notify_all()

    def _read_states(self, agent_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        ns = self._ns
        with ns.changed:
            return {a: dict(ns.states[a]) for a in agent_ids if a in ns.states}

    def _write_config(self, config: dict[str, Any]) -> None:
        ns = self._ns
        with ns.changed:
            ns.config = copy.deepcopy(config)

    def _read_config(self) -> dict[str, Any]:
        ns = self._ns
        with ns.changed:
            return copy.deepcopy(ns.config)

    def _all_messages(self) -> list[Message]:
        ns = self._ns
        with ns.changed:
            return [dataclasses.replace(m) for m in ns.messages.values()]

    def _all_records(self) -> dict[str, dict[str, dict[str, Any]]]:
        ns = self._ns
        with ns.changed:
            return copy.deepcopy(ns.records)

    # -- life cycle ------------------------------------------------------------------------

    def interrupt(self) -> None:
        """End every blocking wait on this bus at once."""
        super().interrupt()
        ns = self._ns
        with ns.changed:
            ns.changed.notify_all()

    def purge(self) -> None:
        """See :meth:`MessageBus.purge`; the credentials granted in the namespace end too."""
        if self.identity is not None:
            raise MessagingUsageError(f"refused: {self.identity}'s credentials cannot purge the namespace")
        with _registry_lock:
            ns = _namespaces.pop(self.namespace, None)
        if ns is not None:
            with ns.changed:
                ns.messages.clear()
                ns.inboxes.clear()
                ns.records.clear()
                ns.grants.clear()
                ns.changed.notify_all()
