"""The Docker client, and turning the SDK's exceptions into CooperBench's.

Every call into the Docker Engine goes through a client made here, so a daemon that is down
or unreachable surfaces as one :class:`~cooperbench.errors.SandboxError` naming the socket
and the fix, never as a ``requests`` traceback.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import docker
import docker.errors
import requests.exceptions

from cooperbench.errors import SandboxError

if TYPE_CHECKING:
    from docker import DockerClient

__all__ = [
    "LABEL_BACKEND",
    "LABEL_HOST",
    "LABEL_KIND",
    "LABEL_PID_START",
    "ClientFactory",
    "docker_errors",
    "force_remove",
]

LABEL_BACKEND = "cooperbench.backend"
LABEL_KIND = "cooperbench.kind"
LABEL_HOST = "cooperbench.host"
LABEL_PID_START = "cooperbench.pid_start"

# Exec streams hold a connection each for their whole duration, so the pool must be larger
# than the number of sandboxes driven at once, or requests churns (and warns about) connections.
_POOL_SIZE = 64


def daemon_address(base_url: str | None = None) -> str:
    return base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def daemon_down_error(base_url: str | None, cause: BaseException) -> SandboxError:
    where = daemon_address(base_url)
    return SandboxError(
        f"Cannot reach the Docker daemon at {where} ({cause}). The docker backend needs a running Docker "
        "Engine: start it (e.g. `sudo systemctl start docker`), make sure your user may use its socket "
        "(member of the `docker` group), and check DOCKER_HOST or the backend option `base_url`; "
        "or choose another backend with `--backend local`."
    )


class ClientFactory:
    """Creates the Docker client on first use (creating a backend never touches the daemon).

    Args:
        base_url: the daemon's address; ``None`` reads ``DOCKER_HOST`` and the usual defaults.
        timeout: seconds an ordinary API call may take.
    """

    def __init__(self, base_url: str | None = None, timeout: float = 120) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._client: DockerClient | None = None
        self._lock = threading.Lock()

    def get(self) -> DockerClient:
        """Return the connected client.

        Raises:
            SandboxError: the daemon does not answer.
        """
        with self._lock:
            if self._client is None:
                try:
                    if self.base_url:
                        client = docker.DockerClient(
                            base_url=self.base_url, timeout=int(self.timeout), max_pool_size=_POOL_SIZE
                        )
                    else:
                        client = docker.DockerClient.from_env(timeout=int(self.timeout), max_pool_size=_POOL_SIZE)
                    client.ping()
                except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
                    raise daemon_down_error(self.base_url, exc) from exc
                self._client = client
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(Exception):
                    self._client.close()
                self._client = None


def force_remove(client: DockerClient, container_id: str, *, wait: float = 10.0) -> bool:
    """Kill and remove a container and return once it is gone; ``False`` if it was already gone.

    Raises:
        docker.errors.APIError: the Engine refused for another reason than the container being gone or going.
    """
    try:
        client.api.remove_container(container_id, force=True)
        return True
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        if exc.status_code != 409:
            raise
    # 409: removal already in progress (a sandbox's auto-remove): wait for it, so callers see it gone.
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and client.api.containers(all=True, filters={"id": container_id}):
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def docker_errors(what: str, base_url: str | None = None) -> Iterator[None]:
    """Re-raise Docker SDK and transport failures of ``what`` as :class:`SandboxError`.

    ``docker.errors.NotFound`` passes through unchanged, so callers can turn a missing
    container or file into the error their contract names.
    """
    try:
        yield
    except docker.errors.NotFound:
        raise
    except (requests.exceptions.ConnectionError, ConnectionError) as exc:
        raise daemon_down_error(base_url, exc) from exc
    except docker.errors.APIError as exc:
        raise SandboxError(f"{what} failed: {exc.explanation or exc}") from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise SandboxError(f"{what} failed: {exc}") from exc
