"""The Redis bus (``redis://host:port/db#<namespace>``), on redis-py.

Keys of a namespace share the prefix ``cooperbench:{<namespace>}:``:

- ``seq``: the last ledger id handed out;
- ``m:<sender>:<recipient>:<id>``: one hash per message or notice;
- ``ev:<agent>:<id>``: one hash per status change of an agent;
- ``inbox:<agent>``: refs (``<sender>:<id>``) waiting for an agent, a list (not pub/sub) so a
  message sent before its recipient connects is kept, in order;
- ``d:<agent>``: the agent's delivery records (faults decided, when delivered, at which step);
- ``status:<agent>``: the agent's current state; ``config``: the namespace's agents and faults.

**Credentials.** The harness's own connection (the ``--redis`` URL) has full access.
:meth:`RedisBus.grant` creates, for one agent of one namespace, a Redis ACL user named
``cooperbench:{<namespace>}:<agent>`` with a random password, allowed only the commands the
bus uses and only on keys of its namespace: it writes only keys carrying its own name (so the
sender of a message, taken from its key, is never chosen by the sender), reads only messages
addressed to it, and may only append to teammates' inboxes. :meth:`RedisBus.purge` deletes
the namespace's keys and users. This isolates runs from each other only when the server's
``default`` user needs a password (``requirepass``); see :func:`open_access_warning`.

Because the ledger lives in Redis, messages sent by agents in other processes or
sandboxes are recorded too. Keys expire a week after they were last written (an inbox an agent
appended to may have no expiry until its owner receives); the harness deletes a pair's keys when
the pair ends, and ``cooperbench cleanup`` removes what a killed run left.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from cooperbench.messaging._url import REDIS_SCHEMES, parse_url, redact
from cooperbench.messaging.base import BusBase, Message, MessagingError, MessagingUsageError, parse_ref

__all__ = ["RedisBus", "acl_username", "open_access_warning", "redis_available"]

KEY_TTL_SECONDS = 7 * 24 * 3600
_SOCKET_TIMEOUT_SECONDS = 5.0
KEY_ROOT = "cooperbench:"
_AGENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
# What an agent's ACL user may run: connection basics and the bus's own commands, nothing that
# lists keys, inspects other clients or touches the server.
_AGENT_COMMANDS = (
    *("+ping", "+echo", "+hello", "+auth", "+select", "+quit", "+reset"),
    *("+client|setname", "+client|getname", "+client|id"),
    *("+incrby", "+hset", "+hget", "+hgetall", "+expire", "+del", "+rpush", "+blpop", "+lrange", "+llen"),
    *("+multi", "+exec", "+discard"),
)


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


def open_access_warning(url: str, timeout: float = 2.0) -> str | None:
    """A warning when the server at ``url`` lets clients in without a password, else ``None``.

    Per-agent credentials only keep runs apart when unauthenticated clients are refused: an
    open ``default`` user reads every key.
    """
    parts = urllib.parse.urlsplit(_location(url))
    anonymous = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    client = _client(anonymous, timeout=timeout, retries=0)
    try:
        client.exists(f"{KEY_ROOT}probe")
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()
    return (
        f"Redis at {redact(url)} accepts clients without a password, so anything that reaches it can read and "
        "write every run's messages; give the server a password (requirepass, or an ACL default user) and pass "
        "it in --redis (redis://:<password>@host:port) to keep runs apart"
    )


def _location(url: str) -> str:
    from cooperbench.errors import ConfigError

    address = parse_url(url)
    if address.scheme not in REDIS_SCHEMES:
        raise ConfigError(f"{url!r} is not a Redis URL; use redis://host:port/db#<namespace>")
    return address.location


def key_prefix(namespace: str) -> str:
    """``cooperbench:{<namespace>}:``, the prefix of every key (and ACL user) of a namespace."""
    return f"{KEY_ROOT}{{{namespace}}}:"


def acl_username(namespace: str, agent_id: str) -> str:
    """The ACL user of ``agent_id`` in ``namespace``."""
    return key_prefix(namespace) + agent_id


def _glob(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _message_fields(message: Message) -> dict[Any, str]:
    fields: dict[Any, str] = {
        "text": message.text,
        "sent_at": repr(message.sent_at),
        "broadcast": "1" if message.broadcast else "0",
        "kind": message.kind,
    }
    if message.sender_step is not None:
        fields["sender_step"] = str(message.sender_step)
    if message.event is not None:
        fields["event"] = json.dumps(message.event)
    return fields


def _message(message_id: int, sender: str, recipient: str | None, fields: dict[str, str]) -> Message:
    # Sender, recipient and id come from the key, which only the sender's credentials can write.
    return Message(
        id=message_id,
        sender=sender,
        recipient=recipient,
        text=fields.get("text", ""),
        sent_at=float(fields.get("sent_at", "0")),
        sender_step=int(fields["sender_step"]) if fields.get("sender_step", "").lstrip("-").isdigit() else None,
        broadcast=fields.get("broadcast") == "1",
        kind=fields.get("kind", "message"),
        event=json.loads(fields["event"]) if "event" in fields else None,
    )


class RedisBus(BusBase):
    """A :class:`~cooperbench.messaging.MessageBus` on a Redis server.

    Args:
        url: ``redis://host:port/db#<namespace>`` (or ``rediss://`` for TLS); with an agent's
            credentials (``redis://<user>:<password>@host...``, from :meth:`grant`) the bus
            acts only as that agent.
        socket_timeout: seconds before an unanswered command counts as Redis being gone.

    Raises:
        ConfigError: ``url`` is not a valid Redis URL.
    """

    def __init__(self, url: str, *, socket_timeout: float = _SOCKET_TIMEOUT_SECONDS) -> None:
        from cooperbench.errors import ConfigError

        self._init_base()
        address = parse_url(url)
        self.url = url
        self.namespace = address.namespace
        self._location = _location(url)
        try:
            self._redis = _client(self._location, timeout=socket_timeout, retries=3)
        except ValueError as exc:
            raise ConfigError(f"invalid Redis URL {redact(url)!r}: {exc}") from exc
        self._prefix = key_prefix(self.namespace)
        if address.username and address.username.startswith(self._prefix):
            self.identity = address.username[len(self._prefix) :]

    def _key(self, *parts: str | int) -> str:
        return self._prefix + ":".join(str(p) for p in parts)

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except redis.exceptions.NoPermissionError as exc:
            raise MessagingUsageError(
                f"refused by Redis at {redact(self.url)} while {action} in namespace {self.namespace!r}: "
                f"{str(exc).rstrip('.')} (these credentials are {self.identity or 'the harness'}'s)"
            ) from exc
        except redis.RedisError as exc:
            raise MessagingError(
                f"Redis at {redact(self.url)} failed while {action} in namespace {self.namespace!r}: "
                f"{type(exc).__name__}: {str(exc).rstrip('.')}. Check that redis-server is running and reachable there."
            ) from exc

    # -- credentials -----------------------------------------------------------------------

    def grant(self, agent_id: str) -> str:
        """Create ``agent_id``'s ACL user for this namespace; return its own URL.

        Raises:
            ConfigError: ``agent_id`` is not a plain id (letters, digits, ``.``, ``_``, ``-``).
            MessagingUsageError: this bus holds an agent's credentials.
            MessagingError: Redis refused to create the user (older than 7.0, or the
                ``--redis`` user may not manage ACLs).
        """
        from cooperbench.errors import ConfigError

        if self.identity is not None:
            raise MessagingUsageError(f"refused: {self.identity}'s credentials cannot grant credentials")
        if not _AGENT_ID.match(agent_id):
            raise ConfigError(f"agent id {agent_id!r} cannot name a Redis user; use letters, digits, '.', '_', '-'")
        password = secrets.token_urlsafe(24)
        p = _glob(self._prefix)
        me = _glob(agent_id)
        rules = [
            "reset",
            "on",
            f">{password}",
            "resetchannels",
            "-@all",
            *_AGENT_COMMANDS,
            f"%RW~{p}m:{me}:*",
            f"%R~{p}m:*:{me}:*",
            f"%RW~{p}ev:{me}:*",
            f"%RW~{p}inbox:{me}",
            f"%RW~{p}d:{me}",
            f"%RW~{p}status:{me}",
            f"%R~{p}status:*",
            f"%R~{p}config",
            f"(%W~{p}inbox:* +rpush)",
            f"(~{p}seq +incrby)",
        ]
        username = acl_username(self.namespace, agent_id)
        try:
            self._redis.execute_command("ACL", "SETUSER", username, *rules)
        except redis.RedisError as exc:
            raise MessagingError(
                f"Redis at {redact(self.url)} refused to create the ACL user of {agent_id} ({type(exc).__name__}: "
                f"{exc}); per-agent credentials need Redis 7.0 or newer and a --redis user allowed to run ACL SETUSER"
            ) from exc
        parts = urllib.parse.urlsplit(self._location)
        netloc = f"{urllib.parse.quote(username, safe='')}:{password}@{parts.netloc.rpartition('@')[2]}"
        return f"{urllib.parse.urlunsplit(parts._replace(netloc=netloc))}#{self.namespace}"

    def users(self) -> list[str]:
        """The ACL users granted in this namespace.

        Raises:
            MessagingError: the transport failed.
        """
        with self._errors("listing the namespace's users"):
            return [str(u) for u in self._redis.acl_users() if str(u).startswith(self._prefix)]

    # -- storage hooks ---------------------------------------------------------------------

    def _allocate_ids(self, count: int) -> int:
        with self._errors("allocating ledger ids"):
            if self.identity is not None:  # agents may only count up; the harness keeps the key's expiry
                return int(self._redis.incrby(self._key("seq"), count))
            pipe = self._redis.pipeline(transaction=True)
            pipe.incrby(self._key("seq"), count)
            pipe.expire(self._key("seq"), KEY_TTL_SECONDS)
            return int(pipe.execute()[0])

    def _store(self, messages: Sequence[Message]) -> None:
        sender = messages[0].sender if messages else "?"
        with self._errors(f"sending a message from {sender!r}"):
            pipe = self._redis.pipeline(transaction=True)
            for message in messages:
                if message.recipient is None:
                    key = self._key("ev", message.sender, message.id)
                else:
                    key = self._key("m", message.sender, message.recipient, message.id)
                pipe.hset(key, mapping=_message_fields(message))
                pipe.expire(key, KEY_TTL_SECONDS)
                if message.recipient is not None:
                    inbox = self._key("inbox", message.recipient)
                    pipe.rpush(inbox, message.ref)
                    if self.identity is None:  # agents may only append to others' inboxes; owners refresh theirs
                        pipe.expire(inbox, KEY_TTL_SECONDS)
            pipe.execute()

    def _pop_inbox(self, agent_id: str, wait: float) -> list[str]:
        inbox = self._key("inbox", agent_id)
        with self._errors(f"receiving messages for {agent_id!r}"):
            refs: list[str] = []
            if wait > 0:
                popped = self._redis.blpop([inbox], timeout=wait)
                if popped is not None:
                    refs.append(str(popped[1]))
            pipe = self._redis.pipeline(transaction=True)
            pipe.lrange(inbox, 0, -1)
            pipe.delete(inbox)
            rest, _ = pipe.execute()
            return refs + [str(r) for r in rest]

    def _load(self, agent_id: str, refs: Sequence[str]) -> dict[str, Message]:
        parsed = [(ref, parse_ref(ref)) for ref in refs]
        wanted = [(ref, p) for ref, p in parsed if p is not None]
        if not wanted:
            return {}
        with self._errors(f"reading messages for {agent_id!r}"):
            pipe = self._redis.pipeline(transaction=False)
            for _, (sender, number) in wanted:
                pipe.hgetall(self._key("m", sender, agent_id, number))
            replies = pipe.execute()
        return {
            ref: _message(number, sender, agent_id, fields)
            for (ref, (sender, number)), fields in zip(wanted, replies, strict=True)
            if fields
        }

    def _records(self, agent_id: str) -> dict[str, dict[str, Any]]:
        with self._errors(f"reading the delivery records of {agent_id!r}"):
            raw = self._redis.hgetall(self._key("d", agent_id))
        return {str(ref): json.loads(value) for ref, value in raw.items()}

    def _save_records(self, agent_id: str, records: dict[str, dict[str, Any]]) -> None:
        if not records:
            return
        key = self._key("d", agent_id)
        with self._errors(f"recording deliveries to {agent_id!r}"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(key, mapping={ref: json.dumps(rec) for ref, rec in records.items()})
            pipe.expire(key, KEY_TTL_SECONDS)
            pipe.expire(self._key("inbox", agent_id), KEY_TTL_SECONDS)
            pipe.execute()

    def _write_state(self, agent_id: str, state: dict[str, Any]) -> None:
        key = self._key("status", agent_id)
        with self._errors(f"recording the state of {agent_id!r}"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(key, "json", json.dumps(state))
            pipe.expire(key, KEY_TTL_SECONDS)
            pipe.execute()

    def _read_states(self, agent_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not agent_ids:
            return {}
        with self._errors("reading the agents' states"):
            pipe = self._redis.pipeline(transaction=False)
            for agent_id in agent_ids:
                pipe.hget(self._key("status", agent_id), "json")
            replies = pipe.execute()
        return {a: json.loads(r) for a, r in zip(agent_ids, replies, strict=True) if r}

    def _write_config(self, config: dict[str, Any]) -> None:
        key = self._key("config")
        with self._errors("writing the namespace's configuration"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(key, "json", json.dumps(config))
            pipe.expire(key, KEY_TTL_SECONDS)
            pipe.incrby(self._key("seq"), 0)  # exists with an expiry before agents, who cannot set one, count up
            pipe.expire(self._key("seq"), KEY_TTL_SECONDS)
            pipe.execute()

    def _read_config(self) -> dict[str, Any]:
        with self._errors("reading the namespace's configuration"):
            raw = self._redis.hget(self._key("config"), "json")
        return json.loads(raw) if raw else {}

    def _scan(self, pattern: str) -> list[str]:
        return [str(k) for k in self._redis.scan_iter(match=_glob(self._prefix) + pattern, count=500)]

    def _all_messages(self) -> list[Message]:
        with self._errors("reading the message ledger"):
            keys = self._scan("m:*") + self._scan("ev:*")
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(key)
            replies = pipe.execute()
        messages = []
        for key, fields in zip(keys, replies, strict=True):
            parts = key[len(self._prefix) :].split(":")
            if not fields or not parts[-1].isdigit():
                continue
            if parts[0] == "m" and len(parts) == 4:
                messages.append(_message(int(parts[3]), parts[1], parts[2], fields))
            elif parts[0] == "ev" and len(parts) == 3:
                messages.append(_message(int(parts[2]), parts[1], None, fields))
        return messages

    def _all_records(self) -> dict[str, dict[str, dict[str, Any]]]:
        with self._errors("reading the delivery records"):
            keys = self._scan("d:*")
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(key)
            replies = pipe.execute()
        return {
            key[len(self._prefix) + 2 :]: {ref: json.loads(v) for ref, v in fields.items()}
            for key, fields in zip(keys, replies, strict=True)
        }

    # -- life cycle ------------------------------------------------------------------------

    def purge(self) -> None:
        """See :meth:`MessageBus.purge`; also deletes the ACL users granted in the namespace."""
        if self.identity is not None:
            raise MessagingUsageError(f"refused: {self.identity}'s credentials cannot purge the namespace")
        with self._errors("deleting the namespace"):
            keys = self._scan("*")
            for start in range(0, len(keys), 500):
                self._redis.delete(*keys[start : start + 500])
        with contextlib.suppress(MessagingError, MessagingUsageError):  # no ACL support: no users to delete
            users = self.users()
            if users:
                with self._errors("deleting the namespace's users"):
                    self._redis.acl_deluser(*users)

    def close(self) -> None:
        """Stop blocking waits and close the connection pool. Idempotent."""
        super().close()
        self._redis.close()
