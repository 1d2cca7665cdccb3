"""Git servers: one ``git daemon`` container per pair, on a network of its own.

Each server's network is internal (no route out, and the host firewall refuses what its
containers send to the host) and holds the server and the sandboxes that were given the
server's access mount (:attr:`DockerGitServer.mounts`): the agents of one pair. Sandboxes of
other pairs and runs, and eval sandboxes, are on no such network and can neither resolve nor
reach the server.

The access mount is a small host file holding the team remote's URL. Its host path is the key
the backend recognizes in ``create_sandbox(mounts=...)`` (see :func:`server_for_mount`); the
sandbox joins the server's network and finds the URL (one line per server it was given) at
:data:`ACCESS_TARGET`.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cooperbench.backends.base import Mount
from cooperbench.errors import SandboxError
from cooperbench_backend_docker._client import force_remove
from cooperbench_backend_docker._network import remove_network

if TYPE_CHECKING:
    from docker import DockerClient

    from cooperbench.backends.base import RunLabels
    from cooperbench_backend_docker._client import ClientFactory

__all__ = [
    "ACCESS_TARGET",
    "KIND_NETWORK",
    "KIND_SERVER",
    "REPOSITORY",
    "DockerGitServer",
    "daemon_script",
    "new_server_name",
    "server_for_mount",
    "server_url",
    "start_daemon",
]

REPOSITORY = "team.git"
KIND_SERVER = "git-server"
KIND_NETWORK = "git-network"
ACCESS_TARGET = "/run/cooperbench/team-remote"
_READY_MARK = "Ready to rumble"
_READY_TIMEOUT = 30.0

# Access mount (its host path) -> the server's network, for every live server of this process.
_access_lock = threading.Lock()
_access: dict[Path, str] = {}


def daemon_script(lifetime: float) -> str:
    """The server's command: create the bare repository, then serve it for at most ``lifetime`` seconds."""
    # `exec` keeps the shell's pid, so the timer kills the daemon itself.
    return f"""set -e
git init --bare --quiet /srv/git/{REPOSITORY}
git -C /srv/git/{REPOSITORY} config daemon.receivepack true
(sleep {int(lifetime)}; kill $$) &
exec git daemon --verbose --export-all --enable=receive-pack --reuseaddr --base-path=/srv/git /srv/git
"""


def new_server_name(run: RunLabels) -> str:
    return f"cb-git-{run.run_id}-{secrets.token_hex(4)}"


def server_url(network: str) -> str:
    """The team remote's URL of the server whose network (and container) is named ``network``."""
    return f"git://{network}/{REPOSITORY}"


def server_for_mount(mount: Mount) -> str | None:
    """The network of the live git server whose access mount ``mount`` is, else ``None``."""
    with _access_lock:
        return _access.get(Path(mount.source))


def make_access_mount(name: str, url: str, network: str) -> tuple[Mount, Path]:
    """Write the access file of server ``name`` and register it; return its mount and its folder."""
    folder = Path(tempfile.mkdtemp(prefix=f"cooperbench-{name}-"))
    access = folder / "team-remote"
    access.write_text(url + "\n")
    access.chmod(0o644)
    folder.chmod(0o755)
    with _access_lock:
        _access[access] = network
    return Mount(source=access, target=ACCESS_TARGET, read_only=True), folder


def drop_access_mount(mount: Mount, folder: Path) -> None:
    with _access_lock:
        _access.pop(Path(mount.source), None)
    shutil.rmtree(folder, ignore_errors=True)


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
    """One git server; see :class:`cooperbench.backends.base.GitServer`.

    Attributes:
        url: ``git://cb-git-<run id>-<suffix>/team.git``, resolvable only on the server's network.
        mounts: the access mount: a sandbox created with it joins the server's network.
        network: the server's network.
    """

    def __init__(
        self,
        factory: ClientFactory,
        run: RunLabels,
        container_id: str,
        name: str,
        network: str,
        access: tuple[Mount, Path],
    ) -> None:
        self.run = run
        self.name = name
        self.network = network
        self.url = server_url(name)
        self.container_id = container_id
        self.mounts: tuple[Mount, ...] = (access[0],)
        self._access = access
        self._factory = factory
        self._closed = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DockerGitServer({self.url!r})"

    def cleanup(self) -> None:
        """Remove the daemon container and its network; return once both are gone. Idempotent; never raises.

        A second caller while the first is still removing waits for it, so that whoever returns
        from ``cleanup()`` (the interrupt path included) knows the server is gone.
        """
        with self._lock:
            if self._closed:
                return
            try:
                drop_access_mount(*self._access)
                client = self._factory.get()
                with contextlib.suppress(Exception):
                    force_remove(client, self.container_id)
                with contextlib.suppress(Exception):
                    remove_network(client, self.network)
            except Exception:  # daemon gone: `cooperbench cleanup` sweeps what is left
                pass
            finally:
                self._closed = True
