"""A throwaway ``redis-server`` on a free loopback port, for tests of anything that talks to Redis.

Example::

    from cooperbench.testing.redis_server import redis_server

    with redis_server() as server:
        comm = MessagingConnector("agent1", ["agent1", "agent2"], server.url_for("my-test"))
        ...
        server.stop()  # simulate Redis going away

As a pytest fixture::

    @pytest.fixture(scope="session")
    def redis_url():
        with redis_server() as server:
            yield server.url
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cooperbench.errors import InfraError

__all__ = ["RedisServer", "free_port", "redis_server"]


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
            return reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A running ``redis-server`` process.

    Attributes:
        port: its loopback TCP port.
        process: the server process.
        log_file: where the server logs.
        password: the ``default`` user's password, if the server requires one.
    """

    port: int
    process: subprocess.Popen[bytes]
    log_file: Path
    password: str | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0`` (``redis://:<password>@...`` when the server has a password)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def url_for(self, namespace: str) -> str:
        """The messaging URL of ``namespace`` on this server."""
        return f"{self.url}#{namespace}"

    def stop(self) -> None:
        """Kill the server and wait for it to exit. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def redis_server(
    *, executable: str = "redis-server", startup_timeout: float = 10.0, password: str | None = None
) -> Iterator[RedisServer]:
    """Start ``redis-server`` on a free loopback port without persistence; kill it on exit.

    Args:
        executable: the server binary (looked up on ``PATH``).
        startup_timeout: seconds to wait for the server to answer ``PING``.
        password: require this password of the ``default`` user (``requirepass``), as a
            server shared by several runs should; :attr:`RedisServer.url` carries it.

    Yields:
        The running :class:`RedisServer`.

    Raises:
        InfraError: ``redis-server`` is not installed, or did not start in time (the message
            holds its log).
    """
    binary = shutil.which(executable)
    if binary is None:
        raise InfraError(f"{executable!r} is not on PATH; install Redis (Debian/Ubuntu: apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="cooperbench-redis-") as workdir:
        log_file = Path(workdir) / "redis.log"
        # Another process can take the free port between our probe and the server's bind: retry.
        for _attempt in range(5):
            port = free_port()
            command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            command += ["--dir", workdir, "--logfile", str(log_file), "--daemonize", "no"]
            if password:
                command += ["--requirepass", password]
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            server = RedisServer(port=port, process=process, log_file=log_file, password=password)
            deadline = time.monotonic() + startup_timeout
            while process.poll() is None and time.monotonic() < deadline and not _answers(port):
                time.sleep(0.05)
            if process.poll() is None and _answers(port):
                break
            server.stop()
        else:
            log = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else "(no log)"
            raise InfraError(f"redis-server did not start within {startup_timeout}s; its log ({log_file}):\n{log}")
        try:
            yield server
        finally:
            server.stop()
