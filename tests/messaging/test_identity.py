"""Integrity: each agent's own credentials; an agent sends only as itself and reads only its own messages."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import urllib.parse
from collections.abc import Callable, Iterator

import pytest
import redis

from cooperbench.messaging import MessagingConnector, MessagingError, MessagingUsageError, PairMessaging, open_bus
from cooperbench.messaging.redis_bus import RedisBus, acl_username, key_prefix, open_access_warning
from cooperbench.testing.redis_server import RedisServer, redis_server

AGENTS = ["agent1", "agent2"]
TEAM3 = ["agent1", "agent2", "agent3"]


@pytest.fixture(scope="module")
def locked_redis() -> Iterator[RedisServer]:
    """A redis-server whose default user needs a password, as a Redis shared by several runs must be."""
    with redis_server(password="harness-secret") as server:
        yield server


@pytest.fixture
def pair_on(transport: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., PairMessaging]]:
    """``pair_on(label, agents)`` → a :class:`PairMessaging` on the transport under test (closed afterwards)."""
    opened: list[PairMessaging] = []

    def make(label: str = "pair", agents: list[str] = AGENTS) -> PairMessaging:
        namespace = f"test:{label}:{request.node.name}"
        if transport == "redis":
            url = request.getfixturevalue("locked_redis").url_for(namespace)
        else:
            url = f"embedded://{namespace}"
        pm = PairMessaging(url, agents)
        opened.append(pm)
        return pm

    yield make
    for pm in opened:
        pm.close()


def test_each_agent_gets_its_own_url_and_messages_carry_the_senders_identity(pair_on) -> None:
    pm = pair_on()
    url1, url2 = pm.agent_url("agent1"), pm.agent_url("agent2")
    assert url1 != url2 and "agent1" in urllib.parse.unquote(url1)
    with MessagingConnector("agent1", AGENTS, url1) as a1, MessagingConnector("agent2", AGENTS, url2) as a2:
        a1.send("agent2", "hi from 1")
        a2.send("agent1", "hi from 2")
        assert [(m["from"], m["text"]) for m in a2.receive()] == [("agent1", "hi from 1")]
        assert [(m["from"], m["text"]) for m in a1.receive()] == [("agent2", "hi from 2")]
    assert [(e["from"], e["to"]) for e in pm.ledger()] == [("agent1", "agent2"), ("agent2", "agent1")]


def test_a_connector_cannot_connect_as_its_partner_with_its_own_url(pair_on) -> None:
    pm = pair_on()
    with pytest.raises(MessagingUsageError, match=r"refused.*agent1's credentials.*'agent2'"):
        MessagingConnector("agent2", AGENTS, pm.agent_url("agent1"))


def test_a_bus_on_an_agents_url_refuses_to_post_as_the_partner(pair_on) -> None:
    pm = pair_on()
    bus = open_bus(pm.agent_url("agent1"))
    try:
        with pytest.raises(MessagingUsageError, match="refused"):
            bus.post("agent2", ["agent1"], "I am agent2, trust me")
        with pytest.raises(MessagingUsageError, match="refused"):
            bus.post("cooperbench", ["agent2"], "a fake harness notice", kind="notice")
        with pytest.raises(MessagingUsageError, match="refused"):
            bus.take("agent2")
        with pytest.raises(MessagingUsageError, match="refused"):
            bus.set_status("agent2", "finished")
        with pytest.raises(MessagingUsageError, match="only the harness"):
            bus.set_status("agent1", "finished")
        with pytest.raises(MessagingUsageError, match="refused"):
            bus.purge()
    finally:
        bus.close()
    assert pm.ledger() == []


def test_credentials_end_with_the_pair(pair_on, transport: str) -> None:
    pm = pair_on()
    url = pm.agent_url("agent1")
    MessagingConnector("agent1", AGENTS, url).send("agent2", "while the pair runs")
    pm.close()
    with pytest.raises(MessagingError), MessagingConnector("agent1", AGENTS, url) as late:
        late.send("agent2", "after the pair ended")


def test_an_agent_cannot_read_messages_between_two_other_agents(pair_on) -> None:
    pm = pair_on(agents=TEAM3)
    with MessagingConnector("agent2", TEAM3, pm.agent_url("agent2")) as a2:
        a2.send("agent3", "private to agent3")
    with MessagingConnector("agent1", TEAM3, pm.agent_url("agent1")) as a1:
        assert a1.receive() == []
        assert a1.peek() == 0
    with MessagingConnector("agent3", TEAM3, pm.agent_url("agent3")) as a3:
        assert [m["text"] for m in a3.receive()] == ["private to agent3"]


# -- Redis: what the ACL users enforce against a client that talks to Redis directly ----------------


def _raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url.partition("#")[0], decode_responses=True)


def test_redis_agent_user_can_touch_only_its_own_keys(locked_redis: RedisServer) -> None:
    pm = PairMessaging(locked_redis.url_for("test:acl:raw"), TEAM3)
    try:
        p = key_prefix(pm.namespace)
        with MessagingConnector("agent2", TEAM3, pm.agent_url("agent2")) as a2:
            a2.send("agent3", "for agent3 only")
        client = _raw(pm.agent_url("agent1"))
        denied: list[Callable[[], object]] = [
            lambda: client.hset(f"{p}m:agent2:agent3:99", mapping={"text": "forged as agent2"}),
            lambda: client.hset(f"{p}m:cooperbench:agent2:99", mapping={"text": "forged notice"}),
            lambda: client.lrange(f"{p}inbox:agent3", 0, -1),
            lambda: client.delete(f"{p}inbox:agent3"),
            lambda: client.hgetall(f"{p}m:agent2:agent3:1"),
            lambda: client.hset(f"{p}status:agent2", "json", '{"state": "finished"}'),
            lambda: client.hset(f"{p}config", "json", "{}"),
            lambda: client.set(f"{p}seq", 0),
            lambda: client.keys("*"),
            lambda: client.scan(),
            lambda: client.client_list(),
            lambda: client.config_get("*"),
            lambda: client.acl_list(),
            lambda: client.flushall(),
            lambda: client.get("cooperbench:runs"),
            lambda: client.publish("x", "y"),
        ]
        for attempt in denied:
            with pytest.raises(redis.exceptions.NoPermissionError):
                attempt()
        client.close()
        with MessagingConnector("agent3", TEAM3, pm.agent_url("agent3")) as a3:
            assert [(m["from"], m["text"]) for m in a3.receive()] == [("agent2", "for agent3 only")]
    finally:
        pm.close()


def test_redis_a_message_written_directly_is_recorded_under_the_writers_own_id(locked_redis: RedisServer) -> None:
    pm = PairMessaging(locked_redis.url_for("test:acl:direct"), AGENTS)
    try:
        p = key_prefix(pm.namespace)
        client = _raw(pm.agent_url("agent1"))
        number = client.incrby(f"{p}seq", 1)
        # agent1 writes a message in its own key, claiming in the fields to be agent2
        client.hset(f"{p}m:agent1:agent2:{number}", mapping={"text": "hello", "sent_at": "1.0", "sender": "agent2"})
        client.rpush(f"{p}inbox:agent2", f"agent1:{number}")
        # and pushes references to messages that are not addressed to agent2, or do not exist
        client.rpush(f"{p}inbox:agent2", "agent1:999", "cooperbench:1", "garbage", f"agent1:{number}")
        client.close()
        with MessagingConnector("agent2", AGENTS, pm.agent_url("agent2")) as a2:
            received = a2.receive()
        assert [(m["from"], m["text"]) for m in received] == [("agent1", "hello")]
        assert [(e["from"], e["to"], e["text"]) for e in pm.ledger()] == [("agent1", "agent2", "hello")]
    finally:
        pm.close()


def test_two_concurrent_runs_on_one_redis_cannot_read_or_write_each_others_keys(locked_redis: RedisServer) -> None:
    from cooperbench.messaging import RunMessaging

    run_a = RunMessaging(locked_redis.url, "iso-a", "aaaaaaaaaaaa").open()
    run_b = RunMessaging(locked_redis.url, "iso-b", "bbbbbbbbbbbb").open()
    pair_a, pair_b = run_a.pair("r/1/f1_f2", 1, AGENTS), run_b.pair("r/1/f1_f2", 1, AGENTS)
    try:
        with MessagingConnector("agent1", AGENTS, pair_b.agent_url("agent1")) as b1:
            b1.send("agent2", "run b's secret plan")
        prefix_b = key_prefix(pair_b.namespace)
        intruder = _raw(pair_a.agent_url("agent1"))
        for attempt in (
            lambda: intruder.lrange(f"{prefix_b}inbox:agent2", 0, -1),
            lambda: intruder.hgetall(f"{prefix_b}m:agent1:agent2:1"),
            lambda: intruder.rpush(f"{prefix_b}inbox:agent2", "agent1:1"),
            lambda: intruder.hset(f"{prefix_b}m:agent1:agent2:50", mapping={"text": "from run a"}),
            lambda: intruder.incrby(f"{prefix_b}seq", 1),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                attempt()
        intruder.close()
        # run a's agent1, pretending to be run b's, is refused by Redis itself
        forged = pair_a.agent_url("agent1").rpartition("#")[0] + "#" + pair_b.namespace
        with pytest.raises(MessagingUsageError, match="refused"), MessagingConnector("agent1", AGENTS, forged) as bad:
            bad.send("agent2", "cross-run message")
        # and a client without credentials gets nothing at all
        anonymous = redis.Redis(port=locked_redis.port)
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.get("x")
        anonymous.close()
        with MessagingConnector("agent2", AGENTS, pair_b.agent_url("agent2")) as b2:
            assert [(m["from"], m["text"]) for m in b2.receive()] == [("agent1", "run b's secret plan")]
        assert [e["text"] for e in pair_b.ledger()] == ["run b's secret plan"]
        assert pair_a.ledger() == []
    finally:
        pair_a.close()
        pair_b.close()
        run_a.close()
        run_b.close()


def test_redis_closing_a_pair_deletes_its_keys_and_users(locked_redis: RedisServer) -> None:
    pm = PairMessaging(locked_redis.url_for("test:acl:close"), AGENTS)
    with MessagingConnector("agent1", AGENTS, pm.agent_url("agent1")) as a1:
        a1.send("agent2", "x")
    admin = _raw(locked_redis.url)
    try:
        users = [u for u in admin.acl_users() if u.startswith(key_prefix(pm.namespace))]
        assert sorted(users) == [acl_username(pm.namespace, a) for a in AGENTS]
        pm.close()
        assert admin.keys(f"{key_prefix(pm.namespace)}*") == []
        assert not [u for u in admin.acl_users() if u.startswith(key_prefix(pm.namespace))]
    finally:
        admin.close()


def test_redis_an_agent_in_another_process_sends_only_as_itself(locked_redis: RedisServer) -> None:
    pm = PairMessaging(locked_redis.url_for("test:acl:process"), AGENTS)
    try:
        script = textwrap.dedent(
            f"""
            from cooperbench.messaging import MessagingConnector, MessagingUsageError
            url = {pm.agent_url("agent1")!r}
            with MessagingConnector("agent1", ["agent1", "agent2"], url) as comm:
                comm.send("agent2", "from my own process")
            try:
                MessagingConnector("agent2", ["agent1", "agent2"], url)
            except MessagingUsageError:
                print("refused")
            """
        )
        out = subprocess.run([sys.executable, "-c", script], check=True, timeout=60, capture_output=True, text=True)
        assert out.stdout.strip() == "refused"
        assert [(e["from"], e["text"]) for e in pm.ledger()] == [("agent1", "from my own process")]
    finally:
        pm.close()


def test_open_access_warning_only_for_servers_without_a_password(
    redis_session: RedisServer, locked_redis: RedisServer
) -> None:
    warning = open_access_warning(redis_session.url)
    assert warning is not None and "without a password" in warning and "requirepass" in warning
    assert open_access_warning(locked_redis.url) is None


def test_a_harness_user_that_may_not_manage_acls_is_a_clear_error(locked_redis: RedisServer) -> None:
    admin = _raw(locked_redis.url)
    admin.acl_setuser("limited", enabled=True, passwords=["+limitedpw"], keys=["*"], commands=["+@all", "-@admin"])
    admin.close()
    limited = f"redis://limited:limitedpw@127.0.0.1:{locked_redis.port}/0#test:acl:limited"
    bus = RedisBus(limited)
    try:
        with pytest.raises(MessagingError, match=r"ACL user of agent1.*Redis 7.0.*ACL SETUSER") as caught:
            bus.grant("agent1")
        assert "limitedpw" not in str(caught.value)
    finally:
        bus.close()
