"""Fixtures: a real redis-server, and messaging URLs of both transports for the shared behaviour tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from cooperbench.messaging import PairMessaging, open_bus
from cooperbench.testing.redis_server import RedisServer, redis_server


@pytest.fixture(scope="session")
def redis_session() -> Iterator[RedisServer]:
    """One redis-server for the whole session (tests keep apart through namespaces)."""
    with redis_server() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone, which the test may kill."""
    with redis_server() as server:
        yield server


@pytest.fixture(params=["redis", "embedded"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_url(transport: str, request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """``make_url(label)`` → a messaging URL of a namespace unique to this test, on the transport under test."""
    created: list[str] = []

    def make(label: str = "ns") -> str:
        namespace = f"test:{label}:{uuid.uuid4().hex[:8]}"
        if transport == "redis":
            url = request.getfixturevalue("redis_session").url_for(namespace)
        else:
            url = f"embedded://{namespace}"
        created.append(url)
        return url

    yield make
    for url in created:
        bus = open_bus(url)
        bus.purge()
        bus.close()


@pytest.fixture
def url(make_url: Callable[[str], str]) -> str:
    """A fresh namespace on the transport under test."""
    return make_url("pair")


@pytest.fixture
def open_pair(make_url: Callable[[str], str]) -> Iterator[Callable[..., PairMessaging]]:
    """``open_pair(agents, faults=None, endpoints=())`` → the messaging of a fresh pair (closed afterwards)."""
    opened: list[PairMessaging] = []

    def make(agents: tuple[str, ...] = ("agent1", "agent2"), **options: object) -> PairMessaging:
        pm = PairMessaging(make_url("pair"), list(agents), **options)  # type: ignore[arg-type]
        opened.append(pm)
        return pm

    yield make
    for pm in opened:
        pm.close()
