"""`cooperbench images` when the Engine cannot report disk use at once.

The Engine serves one disk-usage query (`GET /system/df`) at a time and answers a concurrent
one with HTTP 500 "a disk usage operation is already running" (seen in CI when another client
ran `docker system df`). The commands are put in front of the real Engine through a small
HTTP proxy on a unix socket of the test's own, which forwards every request to the Engine and
answers `/system/df` with that error as many times as the test asks: the disk line is
informational and must never turn a successful pull or listing into a traceback.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "examples" / "dataset"
ENGINE_SOCKET = "/var/run/docker.sock"
BUSY = b'{"message":"a disk usage operation is already running"}'


class _EngineConnection(http.client.HTTPConnection):
    def __init__(self) -> None:
        super().__init__("localhost", timeout=120)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(ENGINE_SOCKET)


class _Proxy(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, df_answers: list[tuple[int, bytes]]) -> None:
        self.df_answers = df_answers  # answered in turn to /system/df, then forwarded
        self.df_calls = 0
        self.lock = threading.Lock()
        super().__init__(path, _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Proxy

    def address_string(self) -> str:  # a unix socket's peer has no address
        return "unix"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?")[0].endswith("/system/df"):
            with self.server.lock:
                self.server.df_calls += 1
                answer = self.server.df_answers.pop(0) if self.server.df_answers else None
            if answer is not None:
                status, payload = answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
        engine = _EngineConnection()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
        engine.request(self.command, self.path, body=body or None, headers=headers)
        reply = engine.getresponse()
        payload = reply.read()  # the commands used here ask for small, non-streamed answers
        self.send_response(reply.status)
        for key, value in reply.getheaders():
            if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        engine.close()

    do_GET = do_POST = do_HEAD = do_DELETE = _forward


@pytest.fixture
def proxy(tmp_path: Path, docker_available: None) -> Iterator[_Proxy]:
    server = _Proxy(str(tmp_path / "engine.sock"), [])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def images(proxy: _Proxy, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": f"unix://{proxy.server_address}"}
    return subprocess.run(
        [sys.executable, "-m", "cooperbench", "images", *args, "--dataset-dir", str(DATASET), "-r", "textkit_task"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_a_busy_disk_usage_query_is_asked_again_until_it_answers(proxy: _Proxy):
    proxy.df_answers[:] = [(500, BUSY), (500, BUSY)]
    result = images(proxy, "list", "--json", "--image-prefix", "cbtest-nowhere-")
    assert result.returncode == 0, result.stdout + result.stderr
    disk = json.loads(result.stdout)["disk"]
    assert disk["error"] is None and disk["count"] == 0
    assert proxy.df_calls == 3


def test_an_engine_that_cannot_report_disk_use_leaves_the_command_successful_and_says_why(proxy: _Proxy):
    proxy.df_answers[:] = [(500, b'{"message":"layer store unreadable"}')]
    result = images(proxy, "list", "--image-prefix", "cbtest-nowhere-")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "unknown (docker could not report disk use: layer store unreadable)" in result.stdout
    assert proxy.df_calls == 1
