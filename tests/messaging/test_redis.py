"""What only the Redis transport does: other processes, Redis going away, choosing Redis or the embedded bus."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest
import redis

from cooperbench.errors import ConfigError, InfraError
from cooperbench.messaging import (
    Ledger,
    MessagingConnector,
    MessagingError,
    choose_url,
    open_bus,
    redis_available,
)
from cooperbench.testing.redis_server import RedisServer, free_port

AGENTS = ["agent1", "agent2"]


def test_messages_from_another_process_are_delivered_and_recorded(redis_session: RedisServer) -> None:
    url = redis_session.url_for("test:cross-process")
    script = textwrap.dedent(
        f"""
        from cooperbench.messaging import MessagingConnector
        with MessagingConnector("agent1", ["agent1", "agent2"], {url!r}) as comm:
            comm.set_step(4)
            comm.send("agent2", "from a sandbox far away")
        """
    )
    try:
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
        with MessagingConnector("agent2", AGENTS, url) as a2:
            a2.set_step(9)
            assert [m["text"] for m in a2.receive()] == ["from a sandbox far away"]
        (entry,) = Ledger.read(url)
        assert (entry["from"], entry["sender_step"], entry["receiver_step"]) == ("agent1", 4, 9)
    finally:
        open_bus(url).purge()


def test_keys_of_a_namespace_expire_and_purge_removes_them(redis_session: RedisServer) -> None:
    url = redis_session.url_for("test:keys")
    with MessagingConnector("agent1", AGENTS, url) as a1:
        a1.send("agent2", "x")
    client = redis.Redis(port=redis_session.port, decode_responses=True)
    try:
        keys = client.keys("cooperbench:{test:keys}:*")
        assert keys
        assert all(client.ttl(k) > 0 for k in keys)
        open_bus(url).purge()
        assert client.keys("cooperbench:{test:keys}:*") == []
    finally:
        client.close()


@pytest.mark.parametrize("operation", ["send", "receive", "wait", "peek", "ledger"])
def test_redis_going_away_mid_use_raises_messaging_error_naming_redis_and_url(
    own_redis: RedisServer, operation: str
) -> None:
    url = own_redis.url_for("test:dies")
    with MessagingConnector("agent1", AGENTS, url) as a1, MessagingConnector("agent2", AGENTS, url) as a2:
        a1.send("agent2", "before the crash")
        own_redis.stop()
        actions: dict[str, Callable[[], object]] = {
            "send": lambda: a1.send("agent2", "after the crash"),
            "receive": a2.receive,
            "wait": lambda: a2.wait_for_reply(timeout=5),
            "peek": a2.peek,
            "ledger": lambda: Ledger.read(url),
        }
        with pytest.raises(MessagingError) as caught:
            actions[operation]()
    message = str(caught.value)
    assert "Redis" in message and f"127.0.0.1:{own_redis.port}" in message
    assert isinstance(caught.value, InfraError)


def test_redis_available_tells_a_live_server_from_a_dead_port(redis_session: RedisServer) -> None:
    assert redis_available(redis_session.url_for("any"))
    assert redis_available(redis_session.url)
    assert not redis_available(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)


def test_redis_available_rejects_a_url_that_is_not_redis() -> None:
    with pytest.raises(ConfigError, match="not a Redis URL"):
        redis_available("embedded://ns")


def test_choose_url_prefers_redis_when_it_answers(redis_session: RedisServer) -> None:
    chosen = choose_url(redis_session.url, "run:1:pair", embedded_allowed=True)
    assert chosen == redis_session.url_for("run:1:pair")


def test_choose_url_falls_back_to_the_embedded_bus_when_agents_are_in_process() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    assert choose_url(dead, "run:1:pair", embedded_allowed=True) == "embedded://run:1:pair"
    assert choose_url(None, "run:1:pair", embedded_allowed=True) == "embedded://run:1:pair"


def test_choose_url_without_redis_for_out_of_process_agents_is_an_error_naming_the_url() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(MessagingError, match=r"no Redis answers at redis://127\.0\.0\.1:\d+/0"):
        choose_url(dead, "run:1:pair", embedded_allowed=False)


def test_errors_never_show_the_redis_password(own_redis: RedisServer) -> None:
    url = f"redis://:s3cret@127.0.0.1:{own_redis.port}/0#test:pw"
    own_redis.stop()
    with MessagingConnector("agent1", AGENTS, url) as a1, pytest.raises(MessagingError) as caught:
        a1.send("agent2", "x")
    assert "s3cret" not in str(caught.value) and ":***@" in str(caught.value)
