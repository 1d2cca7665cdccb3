"""The ``docker`` backend: sandboxes are containers of the task image on the local Docker Engine.

Options (the ``backend`` section of the configuration, or keyword arguments)::

    backend:
      name: docker
      image_prefix: akhatua/cooperbench-   # task images are <prefix><repo>:task<id>
      build_args: {BASE_IMAGE: my-base:1}  # for building task images from their Dockerfile
      pull: true                           # try a registry before building
      cpus: 2                              # per sandbox; none = no limit
      memory: 4g                           # per sandbox; none = no limit
      lifetime: 86400                      # seconds a sandbox may live at most
      exec_timeout: 1800                   # default per-command timeout, seconds
      git_image: null                      # image of the git server (default: the last task image)
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import docker.errors

from cooperbench.backends.base import PATCHES_DIR, RunLabels, SandboxPurpose
from cooperbench.dataset import DEFAULT_IMAGE_PREFIX
from cooperbench.errors import SandboxError
from cooperbench_backend_docker._cleanup import list_resources, owner_labels, remove_resources
from cooperbench_backend_docker._client import ClientFactory, docker_errors
from cooperbench_backend_docker._gitserver import (
    KIND_SERVER,
    DockerGitServer,
    connect_run_sandboxes,
    daemon_script,
    network_name,
    new_server_name,
    remove_network,
    run_network,
    start_daemon,
)
from cooperbench_backend_docker._images import LABEL_TASK_HASH, build_image, has_image, image_label, pull_image
from cooperbench_backend_docker._sandbox import DockerSandbox, tar_of

if TYPE_CHECKING:
    from docker import DockerClient

    from cooperbench.dataset import Task

__all__ = ["DockerBackend"]

_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class DockerBackend:
    """Sandboxes as containers on a Docker Engine; see :class:`cooperbench.backends.base.Backend`.

    Creating the backend does not contact the daemon; the first operation does.

    Args:
        image_prefix: prefix of task image names (``<prefix><repo>:task<id>``).
        build_args: build arguments for building a task image from its ``Dockerfile``.
        pull: try to pull a missing task image before building it.
        pull_timeout: seconds to wait for a registry's first answer (a pull that answers may take ``build_timeout``).
        build_timeout: seconds a pull or build may stay silent or take in total.
        cpus: CPUs per sandbox (fractions allowed); ``None`` means no limit.
        memory: memory per sandbox (``"4g"``, or bytes); ``None`` means no limit.
        lifetime: seconds after which a sandbox stops by itself, whatever happens to the harness.
        exec_timeout: default per-command timeout in seconds.
        git_image: image the git server runs (needs ``git``); default: the last task image resolved.
        base_url: the Docker daemon's address; default ``DOCKER_HOST`` or the local socket.

    Raises:
        ConfigError: (through ``get_backend``) an unknown option.
    """

    name = "docker"

    def __init__(
        self,
        *,
        image_prefix: str = DEFAULT_IMAGE_PREFIX,
        build_args: Mapping[str, str] | None = None,
        pull: bool = True,
        pull_timeout: float = 20.0,
        build_timeout: float = 3600.0,
        cpus: float | None = None,
        memory: str | int | None = None,
        lifetime: float = 86400.0,
        exec_timeout: float = 1800.0,
        git_image: str | None = None,
        base_url: str | None = None,
    ) -> None:
        self.image_prefix = image_prefix
        self.build_args = {str(k): str(v) for k, v in (build_args or {}).items()}
        self.pull = pull
        self.pull_timeout = pull_timeout
        self.build_timeout = build_timeout
        self.cpus = cpus
        self.memory = memory
        self.lifetime = lifetime
        self.exec_timeout = exec_timeout
        self.git_image = git_image
        self._factory = ClientFactory(base_url)
        self._registry_down = False
        self._last_image: str | None = None
        self._lock = threading.Lock()
        self._image_locks: dict[str, threading.Lock] = {}
        self._run_locks: dict[str, threading.Lock] = {}

    def __repr__(self) -> str:
        return f"DockerBackend(daemon={self._factory.base_url or 'default'})"

    @property
    def client(self) -> DockerClient:
        """The Docker client (connected on first use).

        Raises:
            SandboxError: the daemon does not answer.
        """
        return self._factory.get()

    def _errors(self, what: str) -> Any:
        return docker_errors(what, self._factory.base_url)

    def _named_lock(self, table: dict[str, threading.Lock], key: str) -> threading.Lock:
        with self._lock:
            return table.setdefault(key, threading.Lock())

    # -- images -------------------------------------------------------------------------

    def resolve_image(self, task: Task) -> str:
        """Return the task's image name after making sure the Engine has it: local, else pulled, else built.

        Raises:
            SandboxError: the daemon is down, or the image is not local, cannot be pulled and cannot be
                built (the message says why and how to fix it).
        """
        name = task.image_name(self.image_prefix)
        client = self.client
        with self._named_lock(self._image_locks, name), self._errors(f"resolving image {name} of task {task.key}"):
            built_from = image_label(client, name, LABEL_TASK_HASH)
            if built_from is None:
                why_not_pulled = self._try_pull(client, name)
            elif built_from and built_from != task.content_hash:
                # We built it from an older version of the task folder: build it again.
                why_not_pulled = "it was built from an older version of the task folder"
            else:
                why_not_pulled = None  # local (pulled, loaded, or built from this very task folder)
            if why_not_pulled is not None:
                build_image(
                    client,
                    task,
                    name,
                    build_args=self.build_args,
                    timeout=self.build_timeout,
                    base_url=self._factory.base_url,
                    why_not_pulled=why_not_pulled,
                )
        self._last_image = name
        return name

    def _try_pull(self, client: DockerClient, name: str) -> str | None:
        """Pull ``name``; return ``None`` on success, else why not (quietly: building is the next step)."""
        if not self.pull:
            return "pulling is off (backend option `pull`)"
        if self._registry_down:
            return "no registry answered an earlier pull"
        pulled, reason, unreachable = pull_image(
            client, name, first_reply=self.pull_timeout, overall=self.build_timeout
        )
        if unreachable:
            self._registry_down = True
        return None if pulled else f"it could not be pulled: {reason}"

    # -- sandboxes ----------------------------------------------------------------------

    def create_sandbox(self, image: str, *, run: RunLabels, purpose: SandboxPurpose = "agent") -> DockerSandbox:
        """Start a container of ``image`` labelled with ``run``, on the run's network if it has a git server.

        Raises:
            SandboxError: the daemon is down, the image is not in the Engine, or the container cannot start.
        """
        client = self.client
        api = client.api
        with self._errors(f"creating a docker sandbox of image {image}"):
            config = self._image_config(client, image)
            environment = {} if any(e.startswith("PATH=") for e in config.get("Env") or []) else {"PATH": _DEFAULT_PATH}
            name = f"cb-{run.run_id}-{purpose}-{secrets.token_hex(3)}"
            with self._named_lock(self._run_locks, run.run_id):
                network = run_network(client, run)
                container_id = self._create_container(
                    image, name, owner_labels(run, "sandbox") | {"cooperbench.purpose": purpose}, environment, network
                )
            try:
                api.put_archive(container_id, "/", tar_of(PATCHES_DIR, None, 0o777))
                api.start(container_id)
            except BaseException:
                api.remove_container(container_id, force=True)
                raise
        return DockerSandbox(self._factory, container_id, name, default_timeout=self.exec_timeout)

    def _image_config(self, client: DockerClient, image: str) -> dict[str, Any]:
        """The image's configuration, pulling the image first when it is not local."""
        try:
            return dict(client.api.inspect_image(image).get("Config") or {})
        except docker.errors.NotFound:
            pass
        with self._named_lock(self._image_locks, image):
            why_not_pulled = None if has_image(client, image) else self._try_pull(client, image)
        if why_not_pulled is not None:
            raise SandboxError(
                f"no sandbox can be created from image {image}: it is not in the local Docker Engine, and "
                f"{why_not_pulled}. Fix: let the backend resolve the task first (`resolve_image(task)` builds it "
                f"from the task's Dockerfile), or `docker pull {image}` / `docker build -t {image} <task folder>`."
            )
        return dict(client.api.inspect_image(image).get("Config") or {})

    def _create_container(
        self,
        image: str,
        name: str,
        labels: dict[str, str],
        environment: dict[str, str],
        network: str | None,
        command: list[str] | None = None,
        auto_remove: bool = True,
    ) -> str:
        api = self.client.api
        host_config = api.create_host_config(
            init=True,  # a real PID 1 reaps the zombies agents' commands leave behind
            auto_remove=auto_remove,  # a sandbox whose lifetime ran out removes itself
            nano_cpus=int(self.cpus * 1e9) if self.cpus else None,
            mem_limit=self.memory,
            network_mode=network,
        )
        container = api.create_container(
            image,
            command=command or ["sleep", str(int(self.lifetime))],
            entrypoint=[],  # task images' entrypoint is runner.sh; a sandbox must just stay up
            name=name,
            labels=labels,
            environment=environment,
            host_config=host_config,
            detach=True,
        )
        return str(container["Id"])

    # -- git server ---------------------------------------------------------------------

    def create_git_server(self, *, run: RunLabels) -> DockerGitServer:
        """Start a git daemon with a new, empty repository on the run's network (created with the run's first server).

        The run's sandboxes that already exist are connected to the network; later ones are created on it.

        Raises:
            SandboxError: no image for the server is known, the daemon is down, or the server did not start.
        """
        image = self.git_image or self._last_image
        if image is None:
            raise SandboxError(
                "the docker backend needs an image with `git` to run the run's git server: set the backend "
                "option `git_image`, or resolve a task image first (the last one resolved is used)."
            )
        client = self.client
        api = client.api
        name = new_server_name(run)
        run_lock = self._named_lock(self._run_locks, run.run_id)
        with run_lock, self._errors(f"starting the git server of run {run.run_name}"):
            if not has_image(client, image):
                raise SandboxError(
                    f"the git server image {image} is not in the local Docker Engine; pull or build it, or set "
                    "the backend option `git_image`."
                )
            network = run_network(client, run)
            created_network = network is None
            if network is None:
                network = network_name(run)
                client.networks.create(network, driver="bridge", labels=owner_labels(run, "network"))
            container_id: str | None = None
            try:
                container_id = self._create_container(
                    image,
                    name,
                    owner_labels(run, KIND_SERVER),
                    {"PATH": _DEFAULT_PATH},
                    network,
                    command=["sh", "-c", daemon_script(self.lifetime)],
                    auto_remove=False,  # keep a failed daemon's output for the error message
                )
                start_daemon(client, container_id, name, image)
                connect_run_sandboxes(client, run, network)
            except BaseException:
                if container_id is not None:
                    with contextlib.suppress(docker.errors.APIError):
                        api.remove_container(container_id, force=True)
                if created_network:
                    remove_network(client, network)
                raise
        return DockerGitServer(self._factory, run, container_id, name, run_lock)

    # -- cleanup ------------------------------------------------------------------------

    def cleanup(self, *, run_name: str | None = None, stale_only: bool = False) -> list[str]:
        """Remove containers and networks this backend created (all, of ``run_name``, or only stale ones).

        Returns:
            A description of each resource removed.

        Raises:
            SandboxError: the daemon is down.
        """
        with self._errors("cleaning up docker resources"):
            return remove_resources(self.client, run_name=run_name, stale_only=stale_only)

    def resources(self, run_name: str) -> list[str]:
        """Describe every container and network of ``run_name`` that exists now (empty once all is cleaned up).

        Raises:
            SandboxError: the daemon is down.
        """
        with self._errors(f"listing docker resources of run {run_name}"):
            return list_resources(self.client, run_name=run_name)
