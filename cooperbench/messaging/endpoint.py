"""The per-agent messaging endpoint: HTTP on a unix socket, for agents whose process lives in their sandbox.

A CLI agent (Claude Code, Codex, ...) runs inside its sandbox and must send messages itself,
but must not hold credentials it could use to speak as someone else. The harness serves,
for each such agent, an HTTP endpoint on a unix socket in a directory of its own, and mounts
that directory read-only at ``/run/cooperbench/messaging`` in that agent's sandboxes only. The endpoint
knows whose it is: every message sent through it is from that agent, whatever it writes.

The directory holds:

- ``messaging.sock``: the endpoint;
- ``coop-msg``: a POSIX shell command for the agent (``coop-msg send agent2 "hi"``), which
  needs one of curl, python3 or perl in the sandbox.

HTTP API (version 1). Responses are JSON, or plain text with ``format=text`` (what
``coop-msg`` prints). Message bodies are the raw UTF-8 text of the message.

=========================================  ===============================================
``GET  /v1/whoami``                        ``{"agent_id", "agents", "teammates"}``
``POST /v1/send?to=<id>[,<id>]|all``       body = text; ``{"ids": [...]}``; with ``wait=<s>``
                                           also waits for the reply: ``"messages"``, ``"peers"``
``GET  /v1/receive[?wait=<s>]``            ``{"messages": [...]}`` (notices included)
``GET  /v1/peek``                          ``{"pending": n}``
``GET  /v1/peers``                         ``{"peers": {agent: {"state", ...}}}``
=========================================  ===============================================

In a ``team`` run the endpoint also serves the team's task list and requests
(:mod:`cooperbench.messaging._team_routes`; ``coop-msg task ...``, ``coop-task``).

Errors: ``400`` (bad request, not a teammate; ``{"error"}``), ``404``, ``405``, ``411``,
``413`` (body over 1 MiB), ``503`` (the transport failed). A wait ends as soon as a message
arrives, the awaited teammates are all finished, failed or killed, the endpoint closes, or
``wait`` seconds (at most one hour) pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from cooperbench.messaging.base import BusBase, MessagingError, MessagingUsageError
from cooperbench.team._tasks import TaskListError

if TYPE_CHECKING:
    from cooperbench.messaging.connector import MessagingConnector
    from cooperbench.team import TeamClient

__all__ = [
    "COMMAND_NAME",
    "SANDBOX_COMMAND",
    "SANDBOX_DIR",
    "SANDBOX_SOCKET",
    "SOCKET_NAME",
    "TASK_COMMAND_NAME",
    "MessagingEndpoint",
    "format_messages",
]

SANDBOX_DIR = "/run/cooperbench/messaging"
SOCKET_NAME = "messaging.sock"
COMMAND_NAME = "coop-msg"
TASK_COMMAND_NAME = "coop-task"  # ``coop-msg task ...`` (team runs)
SANDBOX_SOCKET = f"{SANDBOX_DIR}/{SOCKET_NAME}"
SANDBOX_COMMAND = f"{SANDBOX_DIR}/{COMMAND_NAME}"
MAX_BODY_BYTES = 1 << 20
MAX_WAIT_SECONDS = 3600.0


def format_messages(messages: list[dict[str, Any]]) -> str:
    """Messages as an agent reads them: ``[Message from agent2]: ...`` or ``[Notice from ...]: ...``, one per line."""
    lines = []
    for m in messages:
        label = "Notice" if m.get("kind", "message") != "message" else "Message"
        lines.append(f"[{label} from {m.get('from', '?')}]: {m.get('text', '')}")
    return "\n".join(lines)


def _format_peers(peers: dict[str, dict[str, Any]]) -> str:
    lines = []
    for agent, status in peers.items():
        state = str(status.get("state", "running"))
        if status.get("waiting_for"):
            state += f" (waiting for {', '.join(status['waiting_for'])})"
        elif status.get("detail"):
            state += f" ({status['detail']})"
        lines.append(f"{agent}: {state}")
    return "\n".join(lines) or "No teammates."


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    # Closing joins the request threads: waits end within a second of the bus's interrupt.
    daemon_threads = False
    block_on_close = True
    endpoint: MessagingEndpoint


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    timeout = 10  # a client that stops mid-request does not keep a thread for long

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged; the ledger records what matters."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        text_format = query.get("format") == "text"
        routes: dict[str, tuple[str, Callable[[dict[str, str]], tuple[dict[str, Any], str]]]] = {
            "/v1/whoami": ("GET", self._whoami),
            "/v1/send": ("POST", self._send),
            "/v1/receive": ("GET", self._receive),
            "/v1/peek": ("GET", self._peek),
            "/v1/peers": ("GET", self._peers),
        }
        path = url.path.rstrip("/")
        route = routes.get(path)
        if route is None and (path == "/v1/team" or path.startswith(("/v1/tasks", "/v1/request", "/v1/respond"))):
            route = ("POST" if method == "POST" else "GET", lambda q: self._team(method, path, q))
        try:
            if route is None:
                raise _HttpError(404, f"no such endpoint {url.path}; see `coop-msg --help`")
            expected, action = route
            if method != expected and not (expected == "GET" and method == "POST"):
                raise _HttpError(405, f"{url.path} takes {expected}")
            data, text = action(query)
            self._reply(200, data, text, text_format)
        except _HttpError as exc:
            self._reply(exc.status, {"error": exc.message}, f"coop-msg: {exc.message}", text_format)
        except (MessagingUsageError, TaskListError) as exc:
            self._reply(400, {"error": str(exc)}, f"coop-msg: {exc}", text_format)
        except MessagingError as exc:
            self._reply(503, {"error": str(exc)}, f"coop-msg: messaging failed: {exc}", text_format)

    def _reply(self, status: int, data: dict[str, Any], text: str, text_format: bool) -> None:
        body = (text.rstrip("\n") + "\n").encode() if text_format else (json.dumps(data) + "\n").encode()
        with contextlib.suppress(OSError):  # the client went away: nothing to tell it
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8" if text_format else "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def _body(self) -> str:
        length = self.headers.get("Content-Length")
        if length is None:
            raise _HttpError(411, "a message needs a Content-Length")
        try:
            size = int(length)
        except ValueError:
            raise _HttpError(400, f"bad Content-Length {length!r}") from None
        if size > MAX_BODY_BYTES:
            with contextlib.suppress(OSError):  # read (a bounded part of) it, so the client sees the answer
                self.rfile.read(min(size, 4 * MAX_BODY_BYTES))
            raise _HttpError(413, f"the message is {size} bytes; the limit is {MAX_BODY_BYTES}")
        raw = self.rfile.read(size)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _HttpError(400, "the message is not UTF-8 text") from None

    def _wait(self, query: dict[str, str]) -> float | None:
        if "wait" not in query:
            return None
        try:
            seconds = float(query["wait"])
        except ValueError:
            raise _HttpError(400, f"wait={query['wait']!r} is not a number of seconds") from None
        if seconds < 0:
            raise _HttpError(400, "wait must be >= 0")
        return min(seconds, MAX_WAIT_SECONDS)

    @property
    def _comm(self) -> MessagingConnector:
        return self.server.endpoint.connector

    def _whoami(self, query: dict[str, str]) -> tuple[dict[str, Any], str]:
        comm = self._comm
        data = {"agent_id": comm.agent_id, "agents": comm.agents, "teammates": comm.teammates}
        return data, f"You are {comm.agent_id}; your teammates are {', '.join(comm.teammates) or 'nobody'}."

    def _send(self, query: dict[str, str]) -> tuple[dict[str, Any], str]:
        comm = self._comm
        text = self._body()  # read first: an error answered before the body is read breaks the client's pipe
        to = query.get("to", "")
        if not to:
            raise _HttpError(400, "send needs to=<agent id> (or to=all)")
        wait = self._wait(query)
        if not text.strip():
            raise _HttpError(400, "the message is empty")
        if to == "all":
            ids, recipients = comm.broadcast(text), comm.teammates
        else:
            recipients = [r for r in to.split(",") if r]
            ids = [comm.send(r, text) for r in recipients]
        data: dict[str, Any] = {"ids": ids}
        summary = f"Message sent to {', '.join(recipients)}."
        if wait is None:
            return data, summary
        replies = comm.wait_for_reply(wait, from_agent=recipients)
        peers = comm.peers()
        data.update(messages=replies, peers=peers)
        return data, summary + "\n" + self._explain(replies, wait, peers, recipients)

    def _receive(self, query: dict[str, str]) -> tuple[dict[str, Any], str]:
        comm = self._comm
        wait = self._wait(query)
        messages = comm.receive(block=wait is not None and wait > 0, timeout=wait)
        if messages or wait is None:
            return {"messages": messages}, format_messages(messages) or "No new messages."
        peers = comm.peers()
        return {"messages": messages, "peers": peers}, self._explain(messages, wait, peers, comm.teammates)

    @staticmethod
    def _explain(
        messages: list[dict[str, Any]], wait: float, peers: dict[str, dict[str, Any]], awaited: list[str]
    ) -> str:
        if messages:
            return format_messages(messages)
        gone = [a for a in awaited if peers.get(a, {}).get("state") in ("finished", "failed", "killed")]
        if gone and len(gone) == len(awaited):
            return f"No reply: {', '.join(gone)} {'has' if len(gone) == 1 else 'have'} already finished."
        return f"No reply within {wait:g} seconds."

    def _team(self, method: str, path: str, query: dict[str, str]) -> tuple[dict[str, Any], str]:
        from cooperbench.messaging._team_routes import answer

        team = self.server.endpoint.team
        if team is None:
            raise _HttpError(404, "this run has no team (the team setting is off)")
        return answer(team, method, path, query, self._body if method == "POST" else (lambda: ""), self._wait(query))

    def _peek(self, query: dict[str, str]) -> tuple[dict[str, Any], str]:
        pending = self._comm.peek()
        return {"pending": pending}, f"{pending} message{'s' if pending != 1 else ''} waiting."

    def _peers(self, query: dict[str, str]) -> tuple[dict[str, Any], str]:
        peers = self._comm.peers()
        return {"peers": peers}, _format_peers(peers)


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class MessagingEndpoint:
    """One agent's endpoint: an HTTP server on a unix socket, answering as ``connector``'s agent.

    Example (the harness side)::

        endpoint = MessagingEndpoint(MessagingConnector("agent1", agents, agent1_url))
        sandbox = backend.create_sandbox(image, run=labels, mounts=endpoint.mounts())
        sandbox.exec(f"{SANDBOX_COMMAND} send agent2 'hello'")
        endpoint.close()

    Args:
        connector: the agent's connector, on its own credentials; the endpoint closes it.
        directory: where to put the socket and the command (a fresh private directory by default;
            unix socket paths are limited to about 100 bytes).

    Attributes:
        directory: the host directory to mount at :data:`SANDBOX_DIR`.
        socket_path: the socket on the host.
    """

    def __init__(
        self, connector: MessagingConnector, directory: str | Path | None = None, *, team: TeamClient | None = None
    ) -> None:
        self.connector = connector
        self.team = team
        self._own_directory = directory is None
        self.directory = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="cbmsg-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o711)  # others (the sandbox's user) may use the socket, not list the folder
        self.socket_path = self.directory / SOCKET_NAME
        self.command_path = self.directory / COMMAND_NAME
        self.socket_path.unlink(missing_ok=True)
        for name in (COMMAND_NAME, TASK_COMMAND_NAME):
            script = resources.files("cooperbench.messaging").joinpath(name).read_bytes()
            (self.directory / name).write_bytes(script)
            os.chmod(self.directory / name, 0o755)
        self._server = _Server(str(self.socket_path), _Handler)
        self._server.endpoint = self
        os.chmod(self.socket_path, 0o666)  # a container's user may differ from the harness's
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            daemon=True,
            name=f"endpoint:{connector.agent_id}",
        )
        self._thread.start()
        self._closed = False
        self._lock = threading.Lock()

    @property
    def agent_id(self) -> str:
        return self.connector.agent_id

    def set_step(self, step: int) -> None:
        """Record the agent's step (its adapter reads it from the CLI's events), for the ledger."""
        self.connector.set_step(step)

    def environment(self) -> dict[str, str]:
        """Environment variables for the agent's process inside the sandbox."""
        return {"COOPERBENCH_MESSAGING_SOCKET": SANDBOX_SOCKET, "COOPERBENCH_AGENT_ID": self.agent_id}

    def mounts(self) -> tuple[Any, ...]:
        """The :class:`~cooperbench.backends.base.Mount` that shows the endpoint at :data:`SANDBOX_DIR`."""
        from cooperbench.backends.base import Mount

        return (Mount(source=self.directory, target=SANDBOX_DIR, read_only=True),)

    def close(self) -> None:
        """Stop serving and close the connector (waits end within a second). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if isinstance(self.connector.bus, BusBase):
            self.connector.bus.interrupt()
        self._server.shutdown()
        self._server.server_close()
        self.connector.close()
        self._thread.join(5)
        self.socket_path.unlink(missing_ok=True)
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> MessagingEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
