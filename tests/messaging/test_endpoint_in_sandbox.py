"""The endpoint from inside real local sandboxes: each agent's sandbox reaches its own endpoint and nothing else."""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Iterator

import pytest

from cooperbench.backends import RunLabels
from cooperbench.backends.local import LocalBackend
from cooperbench.messaging import PairMessaging
from cooperbench.messaging.endpoint import SANDBOX_COMMAND, SANDBOX_DIR
from cooperbench.testing.conformance import default_task
from cooperbench.testing.redis_server import RedisServer, redis_server

AGENTS = ["agent1", "agent2"]
LABELS = RunLabels("messaging-endpoint-tests")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalBackend, str]:
    backend = LocalBackend(cache_dir=tmp_path_factory.mktemp("cache"))
    return backend, backend.resolve_image(default_task())


@pytest.fixture(scope="module")
def locked_redis() -> Iterator[RedisServer]:
    with redis_server(password="harness-only") as server:
        yield server


def test_each_sandbox_talks_through_its_own_endpoint_only(local, locked_redis: RedisServer) -> None:
    backend, image = local
    pm = PairMessaging(locked_redis.url_for("test:sandbox"), AGENTS, endpoints=AGENTS)
    boxes = {a: backend.create_sandbox(image, run=LABELS, mounts=pm.mounts(a)) for a in AGENTS}
    plain = backend.create_sandbox(image, run=LABELS)
    try:
        one, two = boxes["agent1"], boxes["agent2"]
        sent = one.exec(f"{SANDBOX_COMMAND} send agent2 'hello from the sandbox'")
        assert (sent.returncode, sent.output) == (0, "Message sent to agent2.\n")
        got = two.exec(f"{SANDBOX_COMMAND} receive")
        assert got.output == "[Message from agent1]: hello from the sandbox\n"
        # the endpoint directory is read-only: the agent cannot swap the socket or the command
        assert one.exec(f"touch {SANDBOX_DIR}/x || rm -f {SANDBOX_DIR}/messaging.sock").returncode != 0
        assert one.exec(f"test -S {SANDBOX_DIR}/messaging.sock").returncode == 0
        # agent2's endpoint (its host folder) is not in agent1's sandbox, nor is any endpoint in a plain sandbox
        other = pm.endpoint("agent2")
        assert other is not None
        assert one.exec(f"ls {shlex.quote(str(other.directory))}").returncode != 0
        assert plain.exec(f"test -e {SANDBOX_DIR}").returncode != 0
        # Redis itself: whatever the network lets through, a sandbox holds no credentials
        probe = (
            "import socket, sys; s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3); "
            "s.sendall(b'KEYS *\\r\\n'); print(s.recv(100).decode())"
        )
        reply = one.exec(f"python3 -c {shlex.quote(probe)} {locked_redis.port}")
        assert "NOAUTH" in reply.output or reply.returncode != 0, reply.output
        assert [(e["from"], e["to"]) for e in pm.ledger()] == [("agent1", "agent2")]
    finally:
        for box in (*boxes.values(), plain):
            box.cleanup()
        pm.close()


def test_a_waiting_send_in_a_sandbox_ends_when_the_teammate_finishes(local, locked_redis: RedisServer) -> None:
    backend, image = local
    pm = PairMessaging(locked_redis.url_for("test:sandbox-wait"), AGENTS, endpoints=["agent1"])
    box = backend.create_sandbox(image, run=LABELS, mounts=pm.mounts("agent1"))
    try:
        threading.Timer(1.0, pm.agent_done, args=("agent2", "finished", "Submitted")).start()
        started = time.monotonic()
        out = box.exec(f"{SANDBOX_COMMAND} send --wait 300 agent2 'are you done?'", timeout=120)
        assert time.monotonic() - started < 60  # the teammate finishing ended it, not the 300 s
        assert "[Notice from cooperbench]: agent2 has finished (Submitted)" in out.output
    finally:
        box.cleanup()
        pm.close()


def test_the_endpoint_works_with_whichever_client_the_image_has(local, locked_redis: RedisServer) -> None:
    backend, image = local
    pm = PairMessaging(locked_redis.url_for("test:sandbox-clients"), AGENTS, endpoints=["agent1"])
    box = backend.create_sandbox(image, run=LABELS, mounts=pm.mounts("agent1"))
    try:
        for client in ("curl", "python3", "perl"):
            out = box.exec(f"COOPERBENCH_MESSAGE_CLIENT={client} {SANDBOX_COMMAND} send agent2 'via {client}'")
            assert (out.returncode, out.output) == (0, "Message sent to agent2.\n"), client
        assert [e["text"] for e in pm.ledger()] == ["via curl", "via python3", "via perl"]
    finally:
        box.cleanup()
        pm.close()
