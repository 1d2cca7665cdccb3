"""Per-run git servers: ``git daemon`` containers on a network of the run's own.

Sandboxes of the run join that network, where Docker's DNS resolves each server's container
name; containers of other runs are on other networks and can neither resolve nor reach it.
A run may have several servers (each with a new, empty repository); the network goes with
the last of them.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from typing import TYPE_CHECKING

import docker.errors

from cooperbench.errors import SandboxError
from cooperbench_backend_docker._client import LABEL_KIND, force_remove

if TYPE_CHECKING:
    from docker import DockerClient

    from cooperbench.backends.base import RunLabels
    from cooperbench_backend_docker._client import ClientFactory

__all__ = [
    "KIND_SERVER",
    "REPOSITORY",
    "DockerGitServer",
    "connect_run_sandboxes",
    "daemon_script",
    "network_name",
    "new_server_name",
    "remove_network",
    "run_network",
    "start_daemon",
]

REPOSITORY = "team.git"
KIND_SERVER = "git-server"
_READY_MARK = "Ready to rumble"
_READY_TIMEOUT = 30.0


def daemon_script(lifetime: float) -> str:
    """The server's command: create the bare repository, then serve it for at most ``lifetime`` seconds."""
    # `exec` keeps the shell's pid, so the timer kills the daemon itself.
    return f"""set -e
git init --bare --quiet /srv/git/{REPOSITORY}
git -C /srv/git/{REPOSITORY} config daemon.receivepack true
(sleep {int(lifetime)}; kill $$) &
exec git daemon --verbose --export-all --enable=receive-pack --reuseaddr --base-path=/srv/git /srv/git
"""


def network_name(run: RunLabels) -> str:
    return f"cb-run-{run.run_id}"


def new_server_name(run: RunLabels) -> str:
    return f"cb-git-{run.run_id}-{secrets.token_hex(3)}"


def run_network(client: DockerClient, run: RunLabels) -> str | None:
    """The run's network if it exists (looked up in the Engine, so every process and backend instance sees it)."""
    name = network_name(run)
    found = client.api.networks(names=[name], filters={"label": [f"cooperbench.run_id={run.run_id}"]})
    return name if any(n.get("Name") == name for n in found) else None


def connect_run_sandboxes(client: DockerClient, run: RunLabels, network: str) -> None:
    """Attach the run's running sandboxes that are not on ``network`` yet (created before its first server)."""
    label = [f"cooperbench.run_id={run.run_id}", f"{LABEL_KIND}=sandbox"]
    for container in client.api.containers(filters={"label": label}):
        attached = (container.get("NetworkSettings") or {}).get("Networks") or {}
        if network not in attached:
            with contextlib.suppress(docker.errors.NotFound):  # removed meanwhile
                client.api.connect_container_to_network(container["Id"], network)


def start_daemon(client: DockerClient, container_id: str, name: str, image: str) -> None:
    """Start the daemon container and wait until it accepts connections.

    Raises:
        SandboxError: the daemon exited or did not become ready.
    """
    api = client.api
    api.start(container_id)
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        logs = api.logs(container_id, stdout=True, stderr=True).decode("utf-8", errors="replace")
        if _READY_MARK in logs:
            return
        state = api.inspect_container(container_id)["State"]
        if not state.get("Running"):
            raise SandboxError(
                f"the git server {name} (image {image}) exited with status {state.get('ExitCode')} before it was "
                f"ready; the image needs `git` with `git daemon` (set the backend option `git_image` to one that "
                f"has it). Its output:\n{logs[-2000:]}"
            )
        time.sleep(0.05)
    raise SandboxError(f"the git server {name} (image {image}) was not ready within {_READY_TIMEOUT:.0f}s")


class DockerGitServer:
    """One git server of a run; see :class:`cooperbench.backends.base.GitServer`.

    Attributes:
        url: ``git://cb-git-<run id>-<suffix>/team.git``, resolvable only on the run's network.
    """

    def __init__(
        self, factory: ClientFactory, run: RunLabels, container_id: str, name: str, run_lock: threading.Lock
    ) -> None:
        self.run = run
        self.name = name
        self.network = network_name(run)
        self.url = f"git://{name}/{REPOSITORY}"
        self.container_id = container_id
        self._factory = factory
        self._run_lock = run_lock
        self._closed = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DockerGitServer({self.url!r})"

    def cleanup(self) -> None:
        """Remove the daemon container, and the run's network after its last server. Idempotent; never raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            client = self._factory.get()
            with self._run_lock:
                with contextlib.suppress(docker.errors.APIError):
                    force_remove(client, self.container_id)
                label = [f"cooperbench.run_id={self.run.run_id}", f"{LABEL_KIND}={KIND_SERVER}"]
                if not client.api.containers(all=True, filters={"label": label}):
                    remove_network(client, self.network)
        except Exception:  # daemon gone: `cooperbench cleanup` sweeps what is left
            pass


def remove_network(client: DockerClient, name: str) -> bool:
    """Disconnect whatever is still attached and remove the network; ``False`` if it was not there."""
    try:
        network = client.networks.get(name)
        for container_id in network.attrs.get("Containers") or {}:
            with contextlib.suppress(docker.errors.APIError):
                client.api.disconnect_container_from_network(container_id, network.id, force=True)
        network.remove()
    except docker.errors.APIError:
        return False
    return True
