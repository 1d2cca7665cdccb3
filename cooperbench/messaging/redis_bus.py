"""The Redis bus (``redis://host:port/db#<namespace>``), on redis-py.

Keys of a namespace share the prefix ``cooperbench:{<namespace>}:``:

- ``seq``: the last message id handed out;
- ``m:<id>``: one hash per message (the ledger record, updated at delivery);
- ``ledger``: message ids in send order;
- ``inbox:<agent>``: ids waiting for an agent, a list (not pub/sub) so a message sent
  before its recipient connects is kept, in order.

Because the ledger lives in Redis, messages sent by agents in other processes or
sandboxes are recorded too. Keys expire a week after the namespace's last message.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from cooperbench.messaging._url import REDIS_SCHEMES, parse_url, redact
from cooperbench.messaging.base import BusBase, Message, MessagingError

__all__ = ["RedisBus", "redis_available"]

KEY_TTL_SECONDS = 7 * 24 * 3600
# Blocking pops are cut into short slices so a dead server is noticed within a socket timeout.
_BLOCK_SLICE_SECONDS = 1.0
_SOCKET_TIMEOUT_SECONDS = 5.0


def _client(location: str, *, timeout: float, retries: int) -> redis.Redis:
    return redis.Redis.from_url(
        location,
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), retries),
    )


def redis_available(url: str, timeout: float = 0.5) -> bool:
    """Whether a Redis server answers ``PING`` at ``url`` (its namespace is ignored) within ``timeout`` seconds.

    Raises:
        ConfigError: ``url`` is not a ``redis://`` or ``rediss://`` URL.
    """
    location = _location(url)
    try:
        client = _client(location, timeout=timeout, retries=0)
    except ValueError:
        return False
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _location(url: str) -> str:
    from cooperbench.errors import ConfigError

    address = parse_url(url)
    if address.scheme not in REDIS_SCHEMES:
        raise ConfigError(f"{url!r} is not a Redis URL; use redis://host:port/db#<namespace>")
    return address.location


def _to_hash(message: Message) -> dict[Any, str]:
    fields: dict[Any, str] = {
        "id": str(message.id),
        "sender": message.sender,
        "recipient": message.recipient,
        "text": message.text,
        "sent_at": repr(message.sent_at),
        "broadcast": "1" if message.broadcast else "0",
    }
    if message.sender_step is not None:
        fields["sender_step"] = str(message.sender_step)
    return fields


def _from_hash(fields: dict[str, str]) -> Message:
    def optional_int(key: str) -> int | None:
        return int(fields[key]) if key in fields else None

    return Message(
        id=int(fields["id"]),
        sender=fields["sender"],
        recipient=fields["recipient"],
        text=fields["text"],
        sent_at=float(fields["sent_at"]),
        sender_step=optional_int("sender_step"),
        delivered_at=float(fields["delivered_at"]) if "delivered_at" in fields else None,
        receiver_step=optional_int("receiver_step"),
        broadcast=fields.get("broadcast") == "1",
    )


class RedisBus(BusBase):
    """A :class:`~cooperbench.messaging.MessageBus` on a Redis server.

    Args:
        url: ``redis://host:port/db#<namespace>`` (or ``rediss://`` for TLS).
        socket_timeout: seconds before an unanswered command counts as Redis being gone.

    Raises:
        ConfigError: ``url`` is not a valid Redis URL.
    """

    def __init__(self, url: str, *, socket_timeout: float = _SOCKET_TIMEOUT_SECONDS) -> None:
        from cooperbench.errors import ConfigError

        address = parse_url(url)
        self.url = url
        self.namespace = address.namespace
        try:
            self._redis = _client(_location(url), timeout=socket_timeout, retries=3)
        except ValueError as exc:
            raise ConfigError(f"invalid Redis URL {redact(url)!r}: {exc}") from exc
        self._prefix = f"cooperbench:{{{self.namespace}}}:"

    def _key(self, *parts: str | int) -> str:
        return self._prefix + ":".join(str(p) for p in parts)

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as exc:
            raise MessagingError(
                f"Redis at {redact(self.url)} failed while {action} in namespace {self.namespace!r}: "
                f"{type(exc).__name__}: {str(exc).rstrip('.')}. Check that redis-server is running and reachable there."
            ) from exc

    def post(self, sender: str, recipients: Sequence[str], text: str, *, step: int | None = None) -> list[Message]:
        """See :meth:`MessageBus.post`."""
        if not recipients:
            return []
        with self._errors(f"sending a message from {sender!r}"):
            last = int(self._redis.incrby(self._key("seq"), len(recipients)))
            now = time.time()
            messages = [
                Message(
                    id=last - len(recipients) + 1 + i,
                    sender=sender,
                    recipient=recipient,
                    text=text,
                    sent_at=now,
                    sender_step=step,
                    broadcast=len(recipients) > 1,
                )
                for i, recipient in enumerate(recipients)
            ]
            pipe = self._redis.pipeline(transaction=True)
            for message in messages:
                message_key, inbox = self._key("m", message.id), self._key("inbox", message.recipient)
                pipe.hset(message_key, mapping=_to_hash(message))
                pipe.rpush(self._key("ledger"), message.id)
                pipe.rpush(inbox, message.id)
                pipe.expire(message_key, KEY_TTL_SECONDS)
                pipe.expire(inbox, KEY_TTL_SECONDS)
            pipe.expire(self._key("ledger"), KEY_TTL_SECONDS)
            pipe.expire(self._key("seq"), KEY_TTL_SECONDS)
            pipe.execute()
        return messages

    def take(
        self, agent_id: str, *, step: int | None = None, block: bool = False, timeout: float | None = None
    ) -> list[Message]:
        """See :meth:`MessageBus.take`."""
        inbox = self._key("inbox", agent_id)
        with self._errors(f"receiving messages for {agent_id!r}"):
            ids: list[str] = []
            if block:
                deadline = None if timeout is None else time.monotonic() + timeout
                while True:
                    remaining = _BLOCK_SLICE_SECONDS if deadline is None else deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    popped = self._redis.blpop([inbox], timeout=min(remaining, _BLOCK_SLICE_SECONDS))
                    if popped is not None:
                        ids.append(str(popped[1]))
                        break
            pipe = self._redis.pipeline(transaction=True)
            pipe.lrange(inbox, 0, -1)
            pipe.delete(inbox)
            rest, _ = pipe.execute()
            ids.extend(rest)
            if not ids:
                return []
            delivered: dict[Any, str] = {"delivered_at": repr(time.time())}
            if step is not None:
                delivered["receiver_step"] = str(step)
            pipe = self._redis.pipeline(transaction=True)
            for message_id in ids:
                pipe.hset(self._key("m", message_id), mapping=delivered)
                pipe.hgetall(self._key("m", message_id))
            replies = pipe.execute()
        return [_from_hash(fields) for fields in replies[1::2]]

    def pending(self, agent_id: str) -> int:
        """See :meth:`MessageBus.pending`."""
        with self._errors(f"counting messages for {agent_id!r}"):
            return int(self._redis.llen(self._key("inbox", agent_id)))

    def ledger(self) -> list[Message]:
        """See :meth:`MessageBus.ledger`."""
        with self._errors("reading the message ledger"):
            ids = self._redis.lrange(self._key("ledger"), 0, -1)
            pipe = self._redis.pipeline(transaction=False)
            for message_id in ids:
                pipe.hgetall(self._key("m", str(message_id)))
            return [_from_hash(fields) for fields in pipe.execute() if fields]

    def purge(self) -> None:
        """See :meth:`MessageBus.purge`."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self._prefix) + "*"
        with self._errors("deleting the namespace"):
            keys = list(self._redis.scan_iter(match=pattern, count=500))
            for start in range(0, len(keys), 500):
                self._redis.delete(*keys[start : start + 500])

    def close(self) -> None:
        """Close the connection pool. Idempotent."""
        self._redis.close()
