"""The harness's side of messaging: one :class:`RunMessaging` per run, one :class:`PairMessaging` per pair.

The runner opens a :class:`RunMessaging` on the run's transport (Redis, or the embedded bus)
and, for each pair, a :class:`PairMessaging`, which

- opens the pair's namespace with the harness's full-access connection and records its
  agents and the run's message faults;
- issues every agent its own messaging URL (:meth:`PairMessaging.agent_url`): a Redis ACL
  user, or an embedded-bus token, that sends only as that agent and reads only its messages;
- serves, for agents whose process lives in their sandbox, a per-agent endpoint
  (:mod:`cooperbench.messaging.endpoint`) to mount there;
- tells teammates when an agent finished, failed or was killed (:meth:`PairMessaging.agent_done`);
- returns the ledger, then deletes the namespace's keys and credentials (:meth:`PairMessaging.close`).

``cooperbench cleanup`` calls :func:`cleanup_messaging` for what a killed run left on Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cooperbench.messaging._url import REDIS_SCHEMES, open_bus, parse_url, redact, with_namespace
from cooperbench.messaging.base import TERMINAL_STATES, BusBase, MessageBus, MessagingError

if TYPE_CHECKING:
    from cooperbench.messaging.connector import MessagingConnector
    from cooperbench.messaging.endpoint import MessagingEndpoint
    from cooperbench.messaging.faults import MessageFaults

__all__ = ["PairMessaging", "RunMessaging", "cleanup_messaging", "pair_namespace"]

RUNS_KEY = "cooperbench:runs"
_RUN_NAMESPACE = re.compile(
    r"^(?P<run>.+):(?P<run_id>[0-9a-f]{12}):(?P<pair>[^:]*):(?P<attempt>\d+)(?::r(?P<repeat>\d+))?$"
)


def pair_namespace(run_name: str, run_id: str, pair_key: str, attempt: int, repeat: int | None = None) -> str:
    """The namespace of one attempt of one pair of a run (``<run>:<run_id>:<pair>:<attempt>[:r<repeat>]``)."""
    return f"{run_name}:{run_id}:{pair_key}:{attempt}" + (f":r{repeat}" if repeat else "")


def _proc_start(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass
class RunMessaging:
    """Messaging for one run of the harness.

    Args:
        transport_url: the transport without namespace (``redis://...`` or ``embedded://``),
            with the harness's own (full-access) credentials.
        run_name: the run's name.
        run_id: the run's id (unique per invocation).
        faults: message faults to inject, or ``None``.

    Attributes:
        warnings: things the user should know (an open Redis server), for the console.
    """

    transport_url: str
    run_name: str
    run_id: str
    faults: MessageFaults | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def is_redis(self) -> bool:
        return parse_url(self.transport_url).scheme in REDIS_SCHEMES

    def open(self) -> RunMessaging:
        """Register the run on Redis (so ``cooperbench cleanup`` can tell a live run from a dead one).

        Raises:
            MessagingError: Redis failed, or refuses to manage ACL users.
        """
        if self.is_redis:
            from cooperbench.messaging.redis_bus import open_access_warning

            warning = open_access_warning(self.transport_url)
            if warning:
                self.warnings.append(warning)
            self._probe_acl()
            record = {
                "run_name": self.run_name,
                "pid": os.getpid(),
                "pid_start": _proc_start(os.getpid()),
                "host": socket.gethostname(),
                "started_at": time.time(),
            }
            with _admin(self.transport_url) as client:
                client.hset(RUNS_KEY, self.run_id, json.dumps(record))
        return self

    def _probe_acl(self) -> None:
        from cooperbench.messaging.redis_bus import RedisBus

        bus = RedisBus(with_namespace(self.transport_url, pair_namespace(self.run_name, self.run_id, "probe", 0)))
        try:
            bus.grant("probe")  # fails here, before any sandbox starts, where ACLs are unavailable
        finally:
            with contextlib.suppress(MessagingError):
                bus.purge()
            bus.close()

    def close(self) -> None:
        """Unregister the run. Idempotent; a dead Redis loses nothing (its keys expire)."""
        if self.is_redis:
            with contextlib.suppress(MessagingError), _admin(self.transport_url) as client:
                client.hdel(RUNS_KEY, self.run_id)

    def describe(self) -> dict[str, Any]:
        """As recorded in ``config.json``."""
        return {
            "transport": parse_url(self.transport_url).scheme,
            "credentials": "per-agent",
            "faults": self.faults.as_dict() if self.faults is not None else None,
        }

    def pair(
        self,
        pair_key: str,
        attempt: int,
        agents: Sequence[str],
        *,
        repeat: int | None = None,
        endpoints: Collection[str] = (),
    ) -> PairMessaging:
        """Open the messaging of one attempt of one pair.

        Args:
            pair_key: the pair's key (``repo/task/f1_f2``).
            attempt: the attempt number.
            agents: every agent id of the pair.
            repeat: the repeat number with ``--repeats``.
            endpoints: agents that get an in-sandbox endpoint (their process runs in the sandbox).

        Raises:
            MessagingError: the transport failed or refused credentials.
        """
        namespace = pair_namespace(self.run_name, self.run_id, pair_key, attempt, repeat)
        return PairMessaging(
            with_namespace(self.transport_url, namespace), agents, faults=self.faults, endpoints=endpoints
        )


class PairMessaging:
    """The messaging of one pair: its namespace, its agents' credentials and endpoints, its ledger.

    Args:
        url: the namespace's URL with the harness's full-access credentials.
        agents: every agent id of the pair.
        faults: message faults to inject, or ``None``.
        endpoints: agents that get an in-sandbox endpoint.

    Raises:
        MessagingError: the transport failed or refused credentials.
    """

    def __init__(
        self,
        url: str,
        agents: Sequence[str],
        *,
        faults: MessageFaults | None = None,
        endpoints: Collection[str] = (),
    ) -> None:
        self.bus: MessageBus = open_bus(url)
        self.agents = list(agents)
        self._urls: dict[str, str] = {}
        self._endpoints: dict[str, MessagingEndpoint] = {}
        self._closed = False
        try:
            if isinstance(self.bus, BusBase):
                self.bus.configure(agents=self.agents, faults=faults)
            grant = getattr(self.bus, "grant", None)
            for agent_id in self.agents:
                self._urls[agent_id] = grant(agent_id) if callable(grant) else self.bus.url
            for agent_id in endpoints:
                self._endpoints[agent_id] = self._serve(agent_id)
        except BaseException:
            self.close()
            raise

    @property
    def namespace(self) -> str:
        return self.bus.namespace

    def _serve(self, agent_id: str) -> MessagingEndpoint:
        from cooperbench.messaging.endpoint import MessagingEndpoint

        return MessagingEndpoint(self.connect(agent_id))

    def agent_url(self, agent_id: str) -> str:
        """The agent's own messaging URL (its ``comm_url``)."""
        return self._urls[agent_id]

    def connect(self, agent_id: str) -> MessagingConnector:
        """A connector on the agent's own URL (what an agent opens with its ``comm_url``)."""
        from cooperbench.messaging.connector import MessagingConnector

        return MessagingConnector(agent_id, self.agents, self._urls[agent_id])

    def endpoint(self, agent_id: str) -> MessagingEndpoint | None:
        """The agent's in-sandbox endpoint, if it has one."""
        return self._endpoints.get(agent_id)

    def mounts(self, agent_id: str) -> tuple[Any, ...]:
        """What the agent's sandboxes must mount: its endpoint's directory, if it has one."""
        endpoint = self._endpoints.get(agent_id)
        return endpoint.mounts() if endpoint is not None else ()

    def agent_done(self, agent_id: str, state: str, detail: str | None = None) -> None:
        """Mark the agent ``finished``, ``failed`` or ``killed`` and tell its teammates. First call wins.

        Transport failures are swallowed: the agent is gone either way and the ledger keeps
        whatever the transport still holds.
        """
        if state not in TERMINAL_STATES:
            raise ValueError(f"agent_done needs one of {sorted(TERMINAL_STATES)}, got {state!r}")
        endpoint = self._endpoints.get(agent_id)
        if endpoint is not None:
            endpoint.close()
        if isinstance(self.bus, BusBase):
            with contextlib.suppress(MessagingError):
                self.bus.set_status(agent_id, state, detail=detail, notify=[a for a in self.agents if a != agent_id])

    def ledger(self) -> list[dict[str, Any]]:
        """The pair's ledger as written to ``conversation.json``.

        Raises:
            MessagingError: the transport failed.
        """
        return [m.as_ledger_entry() for m in self.bus.ledger()]

    def close(self) -> None:
        """Stop the endpoints, end waits, delete the namespace and its credentials. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for endpoint in self._endpoints.values():
            endpoint.close()
        with contextlib.suppress(MessagingError):  # the ledger is saved already; a dead Redis loses nothing
            self.bus.purge()
        self.bus.close()


@contextlib.contextmanager
def _admin(url: str) -> Any:
    import redis

    from cooperbench.messaging.redis_bus import _client

    client = _client(parse_url(url).location, timeout=5.0, retries=1)
    try:
        yield client
    except redis.RedisError as exc:
        raise MessagingError(f"Redis at {redact(url)} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        client.close()


def _alive(record: dict[str, Any]) -> bool:
    if record.get("host") != socket.gethostname():
        return True  # another machine's run: nothing here can tell, so it counts as live
    try:
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return False
    return record.get("pid_start") in (None, _proc_start(int(record["pid"])))


def cleanup_messaging(redis_url: str, *, run_name: str | None = None, stale_only: bool = True) -> list[str]:
    """Delete the keys and ACL users that runs left on the Redis at ``redis_url``.

    Args:
        redis_url: the Redis, with full-access credentials.
        run_name: only this run's (every run's otherwise).
        stale_only: keep what belongs to runs whose process is still alive.

    Returns:
        One line per namespace removed.

    Raises:
        MessagingError: Redis failed.
    """
    import redis

    removed: list[str] = []
    with _admin(redis_url) as client:
        runs = {run_id: json.loads(raw) for run_id, raw in client.hgetall(RUNS_KEY).items()}
        found: dict[str, dict[str, list[str]]] = {}
        for key in client.scan_iter(match="cooperbench:{*", count=1000):
            namespace = str(key)[len("cooperbench:{") :].partition("}:")[0]
            found.setdefault(namespace, {"keys": [], "users": []})["keys"].append(str(key))
        try:
            users = [str(u) for u in client.acl_users() if str(u).startswith("cooperbench:{")]
        except redis.ResponseError:
            users = []  # a server without ACLs has no users to delete
        for user in users:
            namespace = user[len("cooperbench:{") :].rpartition("}:")[0]
            found.setdefault(namespace, {"keys": [], "users": []})["users"].append(user)
        for namespace, items in sorted(found.items()):
            match = _RUN_NAMESPACE.match(namespace)
            if match is None:
                continue  # not a run's namespace (someone's own use of the bus)
            if run_name is not None and match["run"] != run_name:
                continue
            record = runs.get(match["run_id"])
            if stale_only and record is not None and _alive(record):
                continue
            for start in range(0, len(items["keys"]), 500):
                client.delete(*items["keys"][start : start + 500])
            if items["users"]:
                client.acl_deluser(*items["users"])
            repeat = f" repeat {match['repeat']}" if match["repeat"] else ""
            removed.append(
                f"messages of run {match['run']!r} pair {match['pair']}{repeat} attempt {match['attempt']} "
                f"({len(items['keys'])} keys, {len(items['users'])} users)"
            )
        for run_id, record in runs.items():
            if run_name is not None and record.get("run_name") != run_name:
                continue
            if not (stale_only and _alive(record)):
                client.hdel(RUNS_KEY, run_id)
    return removed
