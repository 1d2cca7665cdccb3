"""The model relay: the CLI in the sandbox reaches the model endpoint, never the key.

A sandbox cannot reach the host's loopback services (a local proxy, a test server) and must
not hold the API key (the agent could read and misuse it). The harness therefore serves, for
each agent, an HTTP relay on a unix socket in a private directory mounted read-only at
:data:`SANDBOX_DIR`; Claude Code talks to it through ``ANTHROPIC_UNIX_SOCKET`` with a
placeholder key. The relay forwards each request to the real endpoint (``model.base_url``)
with the real credentials in place of whatever the sandbox sent, and streams the answer back
(server-sent events included). Nothing it handles is logged.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socketserver
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cooperbench.backends.base import Mount

__all__ = ["PLACEHOLDER_KEY", "SANDBOX_DIR", "SANDBOX_SOCKET", "ModelRelay"]

SANDBOX_DIR = "/run/cooperbench/model"
SOCKET_NAME = "anthropic.sock"
SANDBOX_SOCKET = f"{SANDBOX_DIR}/{SOCKET_NAME}"
PLACEHOLDER_KEY = "cooperbench-relay-holds-the-key"
"""What the CLI in the sandbox is given as its key; the relay replaces it."""

# Headers that belong to one connection, or carry credentials the relay sets itself.
_DROPPED = frozenset(
    {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding"}
    | {"upgrade", "host", "content-length", "x-api-key", "authorization"}
)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    relay: ModelRelay


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # the answer ends when the connection closes: streams pass through as they come

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing is logged: requests carry the agent's prompts, and the relay's answers are the model's."""

    def address_string(self) -> str:
        return "sandbox"

    def do_POST(self) -> None:
        self._forward()

    def do_GET(self) -> None:
        self._forward()

    def _forward(self) -> None:
        relay = self.server.relay
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _DROPPED}
        headers.update(relay.headers)
        headers["Host"] = relay.netloc
        try:
            connection = relay.connect()
            connection.request(self.command, relay.path_prefix + self.path, body=body, headers=headers)
            answer = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            self._fail(502, f"the model endpoint {relay.base_url} cannot be reached: {type(exc).__name__}: {exc}")
            return
        try:
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                    self.send_header(key, value)
            self.send_header("Connection", "close")
            self.end_headers()
            while chunk := answer.read1(65536):
                self.wfile.write(chunk)
                self.wfile.flush()
        except (OSError, http.client.HTTPException):
            pass  # the CLI hung up, or the endpoint broke off mid-answer: the CLI sees a cut stream and retries
        finally:
            connection.close()

    def _fail(self, status: int, message: str) -> None:
        body = json.dumps({"type": "error", "error": {"type": "api_error", "message": message}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ModelRelay:
    """An HTTP relay on a unix socket, forwarding to ``base_url`` with ``headers`` (the credentials).

    Args:
        base_url: the Anthropic-compatible endpoint (``https://api.anthropic.com``, a proxy's URL).
        headers: the credential headers to send (``x-api-key``, ``authorization``).
        timeout: seconds to wait for the endpoint on one request.

    Attributes:
        directory: the host directory to mount at :data:`SANDBOX_DIR` (see :meth:`mounts`).
    """

    def __init__(self, base_url: str, headers: dict[str, str], *, timeout: float = 600.0) -> None:
        url = urlsplit(base_url)
        self.base_url = base_url
        self.scheme = url.scheme
        self.netloc = url.netloc
        self.path_prefix = url.path.rstrip("/")
        self.headers = dict(headers)
        self.timeout = timeout
        self.directory = Path(tempfile.mkdtemp(prefix="cbmodel-"))
        os.chmod(self.directory, 0o711)  # the sandbox's user may use the socket, not list the folder
        self.socket_path = self.directory / SOCKET_NAME
        self._server = _Server(str(self.socket_path), _Handler)
        self._server.relay = self
        os.chmod(self.socket_path, 0o666)  # a container's user may differ from the harness's
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True, name="claude-code-relay"
        )
        self._thread.start()
        self._closed = False

    def connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.netloc, timeout=self.timeout)
        return http.client.HTTPConnection(self.netloc, timeout=self.timeout)

    def mounts(self) -> tuple[Mount, ...]:
        """The mount that shows the relay's socket at :data:`SANDBOX_SOCKET`."""
        return (Mount(source=self.directory, target=SANDBOX_DIR, read_only=True),)

    def close(self) -> None:
        """Stop serving and remove the socket's directory. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ModelRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
