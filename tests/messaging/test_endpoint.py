"""The per-agent endpoint (HTTP on a unix socket) and the ``coop-msg`` command agents run in their sandbox."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cooperbench.messaging import PairMessaging
from cooperbench.messaging.endpoint import COMMAND_NAME, SANDBOX_DIR, SOCKET_NAME, MessagingEndpoint

AGENTS = ["agent1", "agent2"]
CLIENTS = ["curl", "python3", "perl"]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=30)
        self.unix_path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.unix_path)


def call(endpoint: MessagingEndpoint, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    conn = UnixHTTPConnection(endpoint.socket_path)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "text/plain"})
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw.startswith(b"{") else raw.decode()
    finally:
        conn.close()


@pytest.fixture
def served(open_pair: Callable[..., PairMessaging]) -> PairMessaging:
    return open_pair(endpoints=["agent1"])


def coop_msg(
    endpoint: MessagingEndpoint, *args: str, client: str = "curl", stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COOPERBENCH_MESSAGING_SOCKET=str(endpoint.socket_path), COOPERBENCH_MESSAGE_CLIENT=client)
    return subprocess.run(
        [str(endpoint.command_path), *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def test_the_endpoint_directory_holds_the_socket_and_the_command(served: PairMessaging) -> None:
    endpoint = served.endpoint("agent1")
    assert endpoint is not None and served.endpoint("agent2") is None
    assert sorted(p.name for p in endpoint.directory.iterdir()) == sorted([SOCKET_NAME, COMMAND_NAME, "coop-task"])
    assert os.access(endpoint.command_path, os.X_OK)
    assert endpoint.environment()["COOPERBENCH_MESSAGING_SOCKET"] == f"{SANDBOX_DIR}/{SOCKET_NAME}"


@pytest.mark.parametrize("client", CLIENTS)
def test_coop_msg_sends_receives_and_answers_as_its_agent_with_each_client(served: PairMessaging, client: str) -> None:
    if shutil.which(client) is None:
        pytest.fail(f"{client} is needed for this test (scripts/bootstrap.sh installs it)")
    endpoint = served.endpoint("agent1")
    assert endpoint is not None
    with served.connect("agent2") as a2:
        out = coop_msg(endpoint, "send", "agent2", "I take", "models.py ü", client=client)
        assert (out.returncode, out.stdout) == (0, "Message sent to agent2.\n")
        out = coop_msg(endpoint, "broadcast", "-", client=client, stdin="line one\nline two\n")
        assert out.returncode == 0
        assert [(m["from"], m["text"]) for m in a2.receive()] == [
            ("agent1", "I take models.py ü"),
            ("agent1", "line one\nline two\n"),
        ]
        a2.send("agent1", "ok, views.py")
        assert coop_msg(endpoint, "peek", client=client).stdout == "1 message waiting.\n"
        out = coop_msg(endpoint, "receive", client=client)
        assert (out.returncode, out.stdout) == (0, "[Message from agent2]: ok, views.py\n")
        assert coop_msg(endpoint, "receive", client=client).stdout == "No new messages.\n"
        assert coop_msg(endpoint, "whoami", client=client).stdout == "You are agent1; your teammates are agent2.\n"
        assert coop_msg(endpoint, "peers", client=client).stdout == "agent2: running\n"
        out = coop_msg(endpoint, "send", "agent3", "hello?", client=client)
        assert out.returncode == 1 and "not a teammate" in out.stdout


def test_send_with_wait_ends_as_soon_as_the_teammate_finishes(served: PairMessaging) -> None:
    endpoint = served.endpoint("agent1")
    assert endpoint is not None
    threading.Timer(0.5, served.agent_done, args=("agent2", "finished", "Submitted")).start()
    started = time.monotonic()
    out = coop_msg(endpoint, "send", "--wait", "120", "agent2", "still there?")
    assert time.monotonic() - started < 5  # the 120 s are not waited out
    assert out.returncode == 0
    assert out.stdout.splitlines()[1].startswith("[Notice from cooperbench]: agent2 has finished (Submitted)")


def test_send_with_wait_returns_the_reply(served: PairMessaging) -> None:
    endpoint = served.endpoint("agent1")
    assert endpoint is not None
    with served.connect("agent2") as a2:

        def answer() -> None:
            for _ in range(200):
                if any(m["kind"] == "message" for m in a2.receive(block=True, timeout=0.5)):
                    a2.send("agent1", "yes, renamed")
                    return

        threading.Thread(target=answer).start()
        status, data = call(endpoint, "POST", "/v1/send?to=agent2&wait=60", b"did you rename parse()?")
    assert status == 200
    replies = [m for m in data["messages"] if m["kind"] == "message"]
    assert [(m["from"], m["text"]) for m in replies] == [("agent2", "yes, renamed")]
    assert data["peers"]["agent2"]["state"] == "running"


def test_the_sender_is_the_endpoints_agent_whatever_the_request_says(served: PairMessaging) -> None:
    endpoint = served.endpoint("agent1")
    assert endpoint is not None
    status, data = call(endpoint, "POST", "/v1/send?to=agent2&from=agent2&agent_id=agent2", b"who am I?")
    assert status == 200 and len(data["ids"]) == 1
    assert [(e["from"], e["to"]) for e in served.ledger()] == [("agent1", "agent2")]
    status, data = call(endpoint, "POST", "/v1/send?to=agent1", b"to myself, as agent2?")
    assert status == 400 and "not a teammate" in data["error"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", "/v1/nope", None, 404, "no such endpoint"),
        ("GET", "/v1/send?to=agent2", None, 405, "takes POST"),
        ("POST", "/v1/send", b"x", 400, "needs to="),
        ("POST", "/v1/send?to=agent2", b"   ", 400, "empty"),
        ("POST", "/v1/send?to=agent2", b"\xff\xfe", 400, "not UTF-8"),
        ("POST", "/v1/send?to=agent2&wait=soon", b"x", 400, "not a number"),
        ("POST", "/v1/send?to=agent2", b"x" * ((1 << 20) + 1), 413, "limit"),
    ],
)
def test_bad_requests_get_a_clear_error(
    served: PairMessaging, method: str, path: str, body: bytes | None, status: int, error: str
) -> None:
    endpoint = served.endpoint("agent1")
    assert endpoint is not None
    got, data = call(endpoint, method, path, body)
    assert got == status and error in data["error"]
    assert served.ledger() == []


def test_coop_msg_without_an_endpoint_or_a_client_says_what_is_missing(served: PairMessaging, tmp_path: Path) -> None:
    endpoint = served.endpoint("agent1")
    assert endpoint is not None
    env = dict(os.environ, COOPERBENCH_MESSAGING_SOCKET=str(tmp_path / "missing.sock"))
    out = subprocess.run([str(endpoint.command_path), "peek"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 3 and "no messaging endpoint" in out.stderr
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("sh", "cat", "tail", "sed"):
        (bare / tool).symlink_to(shutil.which(tool) or tool)
    env = {"PATH": str(bare), "COOPERBENCH_MESSAGING_SOCKET": str(endpoint.socket_path)}
    out = subprocess.run(
        ["sh", str(endpoint.command_path), "peek"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 3 and "needs curl, python3 or perl" in out.stderr
    out = subprocess.run(["sh", str(endpoint.command_path), "frobnicate"], env=env, capture_output=True, text=True)
    assert out.returncode == 2 and "usage: coop-msg" in out.stderr


def test_closing_the_endpoint_ends_a_waiting_request_and_removes_its_directory(
    open_pair: Callable[..., PairMessaging],
) -> None:
    pm = open_pair(endpoints=["agent1"])
    endpoint = pm.endpoint("agent1")
    assert endpoint is not None
    result: list[subprocess.CompletedProcess[str]] = []
    waiter = threading.Thread(target=lambda: result.append(coop_msg(endpoint, "receive", "--wait", "120")))
    waiter.start()
    time.sleep(0.5)
    started = time.monotonic()
    pm.agent_done("agent1", "killed", "timeout")  # the harness stops the agent: its endpoint closes
    waiter.join(30)
    assert time.monotonic() - started < 5
    assert result and result[0].returncode == 0
    assert not endpoint.directory.exists()
