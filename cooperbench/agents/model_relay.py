"""A model endpoint relay for CLI agents that run inside their sandbox (Codex, Claude Code, ...).

An agent sandbox cannot reach the host's loopback or the host's own addresses (see
docs/security.md), so a model server on this machine (a local vLLM, a LiteLLM proxy, the
test server) is out of its reach, and a provider key handed to the CLI is readable by every
command the agent runs. The relay fixes both:

- on the host, an HTTP server on a unix socket forwards each request to the real endpoint
  (any URL the harness reaches, https included), streaming the answer back (SSE works), and
  sets the authentication headers itself: the key never enters the sandbox;
- the socket's directory is mounted read-only at :data:`SANDBOX_DIR` in that agent's
  sandboxes only, with a small forwarder (Python 3 stdlib, or core Perl) that listens on ``127.0.0.1``
  inside the sandbox and pipes to the socket; :meth:`ModelRelay.start_script` gives the shell
  lines that start it, after which ``$COOPERBENCH_MODEL_URL`` is the base URL for the CLI. A CLI
  that speaks HTTP over a unix socket itself (Claude Code's ``ANTHROPIC_UNIX_SOCKET``) is pointed
  at :data:`SANDBOX_SOCKET` instead and needs no forwarder.

The relay's own error answers (unreachable endpoint, step limit) take the shape of the API the
CLI speaks: OpenAI's (``{"error": {"message", "type", "code"}}``, the default) or Anthropic's
(``{"type": "error", "error": {"type", "message"}}``), so the CLI reports them as it would the
provider's.

Rate limits (429) are retried by the relay itself, after the ``Retry-After`` the provider asks
for; a CLI need not retry them (Codex does not). The relay can also bound the number of model
requests (a CLI's step limit): past ``max_requests`` it answers 400 with the code
``cooperbench_step_limit``.

Example::

    with ModelRelay("https://api.openai.com/v1", headers={"Authorization": f"Bearer {key}"}) as relay:
        env = SandboxEnvironment(image, mounts=relay.mounts())
        env.execute(relay.start_script() + 'curl -s "$COOPERBENCH_MODEL_URL/models"')
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "FORWARDER_NAME",
    "PERL_FORWARDER_NAME",
    "SANDBOX_DIR",
    "SANDBOX_SOCKET",
    "SOCKET_NAME",
    "STEP_LIMIT_CODE",
    "ModelRelay",
]

SANDBOX_DIR = "/run/cooperbench/model"
"""Where the relay's directory (socket and forwarder) is mounted in a sandbox."""
SOCKET_NAME = "model.sock"
SANDBOX_SOCKET = f"{SANDBOX_DIR}/{SOCKET_NAME}"
"""The relay's socket as a sandbox sees it, for a CLI that speaks HTTP over a unix socket itself."""
FORWARDER_NAME = "forward.py"
PERL_FORWARDER_NAME = "forward.pl"
"""The forwarder for images without python3 (core Perl, which Debian-based images carry)."""
STEP_LIMIT_CODE = "cooperbench_step_limit"
"""The ``error.code`` of the answer past ``max_requests``."""

# Headers that describe one hop, never forwarded (RFC 9110 7.6.1), and what the relay sets itself.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer"}
    | {"transfer-encoding", "upgrade", "host", "content-length"}
)


def _retry_after(value: str | None, *, default: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default  # an HTTP date: not worth parsing for a relay


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    relay: ModelRelay


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection; the body ends when the connection closes

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing is logged: request lines may carry secrets in query strings."""

    def do_GET(self) -> None:
        self._relay()

    def do_POST(self) -> None:
        self._relay()

    def do_PUT(self) -> None:
        self._relay()

    def do_DELETE(self) -> None:
        self._relay()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _error(self, status: int, message: str, code: str) -> None:
        if self.server.relay.error_format == "anthropic":
            kind = "invalid_request_error" if status < 500 else "api_error"
            answer: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            answer = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _relay(self) -> None:
        relay = self.server.relay
        body = self._body()
        if self.command == "POST" and not relay._count_request():
            self._error(
                400,
                f"cooperbench: the step limit of {relay.max_requests} model requests is reached",
                STEP_LIMIT_CODE,
            )
            return
        dropped = _HOP_BY_HOP | relay._dropped_headers
        headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
        headers.update(relay.headers)
        headers["Content-Length"] = str(len(body))
        path = relay._path + self.path if self.path.startswith("/") else f"{relay._path}/{self.path}"
        for attempt in range(relay.rate_limit_retries + 1):
            connection = relay._connection()
            try:
                connection.request(self.command, path, body=body, headers=headers)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                self._error(
                    502,
                    f"cooperbench model relay: cannot reach the model endpoint {relay._shown_upstream}: "
                    f"{type(exc).__name__}: {exc}",
                    "relay_unreachable",
                )
                return
            if response.status != 429 or attempt == relay.rate_limit_retries:
                break
            # Rate limited: wait as the provider asks (Retry-After), else back off exponentially, and retry.
            wait = _retry_after(response.getheader("Retry-After"), default=min(2.0**attempt, 30.0))
            response.read()
            connection.close()
            relay.rate_limited += 1
            if relay._closed_event.wait(min(wait, relay.max_retry_wait)):
                self._error(503, "cooperbench model relay: closed", "relay_closed")
                return
        try:
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Connection", "close")  # the answer's end is the connection's
            self.end_headers()
            while chunk := response.read1(65536):
                self.wfile.write(chunk)
                self.wfile.flush()
        except (OSError, http.client.HTTPException):
            pass  # either side went away mid-answer; the client sees a cut stream and retries
        finally:
            connection.close()


class ModelRelay:
    """Relays HTTP requests from inside a sandbox to a model endpoint, adding credentials on the host.

    Args:
        upstream: the endpoint's base URL (``https://api.openai.com/v1``); a request for
            ``/responses`` goes to ``<upstream>/responses``.
        headers: set on every forwarded request, replacing the client's (``Authorization``,
            ``api-key``, ...). Never logged or written anywhere.
        drop_headers: the client's headers never forwarded even where ``headers`` sets no
            replacement (names, any case): a placeholder credential the CLI must send, say
            ``x-api-key`` when the host authenticates with ``Authorization`` alone.
        error_format: the shape of the relay's own error answers: ``"openai"`` or ``"anthropic"``
            (the API the CLI speaks).
        max_requests: POST requests forwarded at most (``None``: no limit).
        timeout: seconds the upstream may stay silent before the relay cuts the request.
        rate_limit_retries: how often a 429 answer is retried by the relay itself (after the
            ``Retry-After`` the provider asks for, else 1, 2, 4, ... seconds) before the client sees it.
        max_retry_wait: the longest wait before one such retry, in seconds.
        on_request: called with the number of POST requests forwarded so far, before each is
            forwarded (an adapter records the CLI's steps for the ledger with it).
        directory: where the socket and forwarder go (default: a fresh private folder).

    Raises:
        ValueError: ``upstream`` is not an http(s) URL, or ``error_format`` is neither format.
    """

    def __init__(
        self,
        upstream: str,
        *,
        headers: Mapping[str, str] | None = None,
        drop_headers: Iterable[str] = (),
        error_format: Literal["openai", "anthropic"] = "openai",
        max_requests: int | None = None,
        timeout: float = 600.0,
        rate_limit_retries: int = 6,
        max_retry_wait: float = 60.0,
        on_request: Callable[[int], None] | None = None,
        directory: str | Path | None = None,
    ) -> None:
        url = urlsplit(upstream)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"the model endpoint must be an http(s) URL, got {upstream!r}")
        if error_format not in ("openai", "anthropic"):
            raise ValueError(f"error_format must be 'openai' or 'anthropic', got {error_format!r}")
        self.upstream = upstream
        self.headers = dict(headers or {})
        self.error_format = error_format
        self._dropped_headers = frozenset(k.lower() for k in (*self.headers, *drop_headers))
        # What error answers name: no user info or query, which may carry credentials.
        self._shown_upstream = f"{url.scheme}://{url.netloc.rpartition('@')[2]}{url.path}"
        self.max_requests = max_requests
        self.timeout = timeout
        self.on_request = on_request
        self.rate_limit_retries = rate_limit_retries
        self.max_retry_wait = max_retry_wait
        self.rate_limited = 0
        self._closed_event = threading.Event()
        self.requests = 0
        self.limit_reached = False
        self._url = url
        self._path = url.path.rstrip("/")
        self._lock = threading.Lock()
        self._own_directory = directory is None
        self.directory = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="cbmodel-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o711)  # the sandbox's user may use the socket, nobody may list the folder
        self.socket_path = self.directory / SOCKET_NAME
        self.socket_path.unlink(missing_ok=True)
        for name, source in ((FORWARDER_NAME, "_model_forward.py"), (PERL_FORWARDER_NAME, "_model_forward.pl")):
            forwarder = self.directory / name
            forwarder.write_bytes(resources.files("cooperbench.agents").joinpath(source).read_bytes())
            os.chmod(forwarder, 0o755)
        self._server = _Server(str(self.socket_path), _Handler)
        self._server.relay = self
        os.chmod(self.socket_path, 0o666)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True, name="model-relay"
        )
        self._thread.start()
        self._closed = False

    def _count_request(self) -> bool:
        with self._lock:
            if self.max_requests is not None and self.requests >= self.max_requests:
                self.limit_reached = True
                return False
            self.requests += 1
            count = self.requests
        if self.on_request is not None:
            self.on_request(count)
        return True

    def _connection(self) -> http.client.HTTPConnection:
        port = self._url.port
        if self._url.scheme == "https":
            return http.client.HTTPSConnection(self._url.hostname or "", port, timeout=self.timeout)
        return http.client.HTTPConnection(self._url.hostname or "", port, timeout=self.timeout)

    def mounts(self) -> tuple[Any, ...]:
        """The :class:`~cooperbench.backends.base.Mount` showing the relay at :data:`SANDBOX_DIR`, read-only."""
        from cooperbench.backends.base import Mount

        return (Mount(source=self.directory, target=SANDBOX_DIR, read_only=True),)

    @staticmethod
    def start_script(port_file: str = "/tmp/.cooperbench-model-port", *, interpreter: str | None = None) -> str:
        """Shell lines that start the in-sandbox forwarder and export ``COOPERBENCH_MODEL_URL``.

        The forwarder runs on ``python3``, else ``perl`` (``interpreter`` forces one); with
        neither in the image the lines exit 3 with a message. It ends with the shell that started it.
        """
        python = f"python3 {SANDBOX_DIR}/{FORWARDER_NAME}"
        perl = f"perl {SANDBOX_DIR}/{PERL_FORWARDER_NAME}"
        if interpreter == "python3":
            choose = f"__cb_fwd='{python}'\n"
        elif interpreter == "perl":
            choose = f"__cb_fwd='{perl}'\n"
        else:
            choose = (
                f"if command -v python3 >/dev/null 2>&1; then __cb_fwd='{python}'\n"
                f"elif command -v perl >/dev/null 2>&1; then __cb_fwd='{perl}'\n"
                "else echo 'cooperbench: the model relay needs python3 or perl in the sandbox image' >&2; exit 3\n"
                "fi\n"
            )
        return (
            choose
            + f"rm -f {port_file}\n"
            + f"$__cb_fwd {port_file} {SANDBOX_DIR}/{SOCKET_NAME} &\n"
            + "__cb_forwarder=$!\n"
            + "trap 'kill $__cb_forwarder 2>/dev/null' EXIT\n"
            + f"for __cb_i in $(seq 1 300); do [ -s {port_file} ] && break; sleep 0.05; done\n"
            + f'[ -s {port_file} ] || {{ echo "cooperbench: the model relay forwarder did not start" >&2; exit 3; }}\n'
            + f'export COOPERBENCH_MODEL_URL="http://127.0.0.1:$(cat {port_file})"\n'
        )

    def close(self) -> None:
        """Stop serving and remove the socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._closed_event.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self.socket_path.unlink(missing_ok=True)
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> ModelRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
