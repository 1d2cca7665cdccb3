"""The ``docker`` backend: sandboxes are containers of the task image on the local Docker Engine.

Options (the ``backend`` section of the configuration, or keyword arguments)::

    backend:
      name: docker
      image_prefix: akhatua/cooperbench-   # task images are <prefix><repo>:task<id>
      build_args: {BASE_IMAGE: my-base:1}  # for building task images from their Dockerfile
      pull: true                           # try a registry before building
      cpus: 2                              # per sandbox; null = no limit
      memory: 8g                           # per sandbox (no swap on top); null = no limit
      pids: 4096                           # processes and threads per sandbox; null = no limit
      firewall: auto                       # keep sandboxes off the host: auto | require | off
      lifetime: 86400                      # seconds a sandbox may live at most
      exec_timeout: 1800                   # default per-command timeout, seconds
      git_image: null                      # image of the git server (default: the last task image)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import docker.errors
import docker.types
import docker.utils

from cooperbench.backends.base import PATCHES_DIR, Mount, RunLabels, SandboxPurpose
from cooperbench.dataset import DEFAULT_IMAGE_PREFIX
from cooperbench.errors import ConfigError, SandboxError
from cooperbench_backend_docker._cleanup import list_resources, owner_labels, remove_resources
from cooperbench_backend_docker._client import ClientFactory, docker_errors, force_remove
from cooperbench_backend_docker._gitserver import (
    ACCESS_TARGET,
    KIND_NETWORK,
    KIND_SERVER,
    DockerGitServer,
    daemon_script,
    make_access_mount,
    new_server_name,
    server_for_mount,
    server_url,
    start_daemon,
)
from cooperbench_backend_docker._images import (
    LABEL_TASK_HASH,
    build_image,
    ensure_history_cut,
    has_image,
    image_label,
    image_provenance,
    pull_image,
)
from cooperbench_backend_docker._network import (
    GIT_BRIDGE_PREFIX,
    RUN_BRIDGE_PREFIX,
    FirewallState,
    bridge_name,
    create_network,
    ensure_host_firewall,
    firewall_problem,
    local_daemon,
    network_name,
    remove_network,
    run_network,
)
from cooperbench_backend_docker._sandbox import DockerSandbox, tar_of

if TYPE_CHECKING:
    from docker import DockerClient

    from cooperbench.dataset import Task

__all__ = ["DockerBackend"]

_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FirewallMode = Literal["auto", "require", "off"]
# The git server holds one small repository: it needs little.
_SERVER_LIMITS = {"cpus": 1.0, "memory": "512m", "pids": 512}


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
        memory: memory per sandbox (``"4g"``, or bytes), with no swap on top; ``None`` means no limit.
            A command that needs more is killed by the kernel (exit 137) and the sandbox lives on.
        pids: processes and threads per sandbox; ``None`` means no limit. A fork bomb stops there.
        firewall: ``auto`` installs the host firewall (needs root and a local daemon) and warns where it
            cannot; ``require`` makes that an error; ``off`` leaves the host reachable (with a warning).
        lifetime: seconds after which a sandbox stops by itself, whatever happens to the harness.
        exec_timeout: default per-command timeout in seconds.
        git_image: image the git server runs (needs ``git``); default: the last task image resolved.
        base_url: the Docker daemon's address; default ``DOCKER_HOST`` or the local socket.

    Raises:
        ConfigError: an option has a wrong value (through ``get_backend`` also: an unknown option).
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
        cpus: float | None = 2.0,
        memory: str | int | None = "8g",
        pids: int | None = 4096,
        firewall: FirewallMode = "auto",
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
        self.cpus = _positive("cpus", cpus)
        self.memory = _memory(memory)
        pid_limit = _positive("pids", pids)
        self.pids = int(pid_limit) if pid_limit is not None else None
        if firewall not in ("auto", "require", "off"):
            raise ConfigError(f"backend docker: firewall must be auto, require or off, not {firewall!r}")
        self.firewall: FirewallMode = firewall
        if lifetime <= 0 or exec_timeout <= 0:
            raise ConfigError("backend docker: lifetime and exec_timeout must be positive")
        self.lifetime = lifetime
        self.exec_timeout = exec_timeout
        self.git_image = git_image
        self._factory = ClientFactory(base_url)
        self._registry_down = False
        self._last_image: str | None = None
        self._lock = threading.Lock()
        self._image_locks: dict[str, threading.Lock] = {}
        self._run_locks: dict[str, threading.Lock] = {}
        self._members: dict[str, int] = {}  # run id -> sandboxes of this backend on the run's network
        self._firewall_state: FirewallState | None = None

    def __repr__(self) -> str:
        return f"DockerBackend(daemon={self._factory.base_url or 'default'})"

    @property
    def client(self) -> DockerClient:
        """The Docker client (connected on first use).

        Raises:
            SandboxError: the daemon does not answer.
        """
        return self._factory.get()

    def preflight(self) -> None:
        """Check, before a run starts any pair, that the Docker daemon answers.

        Raises:
            SandboxError: the daemon does not answer (the message says where it was looked for).
        """
        with self._errors("reaching the Docker daemon"):
            self.client.ping()

    def _errors(self, what: str) -> Any:
        return docker_errors(what, self._factory.base_url)

    def _named_lock(self, table: dict[str, threading.Lock], key: str) -> threading.Lock:
        with self._lock:
            return table.setdefault(key, threading.Lock())

    def describe(self) -> dict[str, Any]:
        """The settings sandboxes get, for the run's provenance (``config.json`` ``provenance.backend_settings``)."""
        state = self._firewall_state
        return {
            "limits": {
                "cpus": self.cpus,
                "memory": self.memory,
                "memory_swap": 0 if self.memory else None,
                "pids": self.pids,
            },
            "network": "a bridge network per run without inter-container traffic; a private network per git server",
            "firewall": {
                "mode": self.firewall,
                "enforced": None if state is None else state.enforced,
                "detail": None if state is None else state.detail,
            },
            "lifetime": self.lifetime,
            "exec_timeout": self.exec_timeout,
        }

    # -- images -------------------------------------------------------------------------

    def resolve_image(self, task: Task) -> str:
        """Return the task's image name after making sure the Engine has it: local, else pulled, else built.

        The image's repository history is then cut at its base commit, once per image (see
        :func:`~cooperbench_backend_docker._images.ensure_history_cut`): every sandbox of that name
        holds the base commit and its ancestors only.

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
            # Agents must not find the features' real implementation in the project's later history.
            ensure_history_cut(client, name, timeout=self.build_timeout, base_url=self._factory.base_url)
        self._last_image = name
        return name

    def image_provenance(self, image: str) -> dict[str, Any]:
        """What ``image`` is, for the run's provenance: id, registry digests, what its history cut was made from.

        Raises:
            SandboxError: the daemon is down or the image is not there.
        """
        try:
            with self._errors(f"inspecting image {image}"):
                return image_provenance(self.client, image)
        except docker.errors.NotFound as exc:
            raise SandboxError(f"image {image} is not in the local Docker Engine") from exc

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

    # -- network ------------------------------------------------------------------------

    def _check_firewall(self) -> None:
        """Install the host firewall on first use; refuse or warn when it is not in force (option ``firewall``)."""
        if self._firewall_state is not None:
            return
        if self.firewall == "off":
            state = FirewallState(False, "the backend option `firewall` is off")
        else:
            state = ensure_host_firewall(self._factory.base_url)
        if not state.enforced:
            problem = firewall_problem(state)
            if self.firewall == "require":
                raise problem
            warnings.warn(str(problem), RuntimeWarning, stacklevel=3)
        self._firewall_state = state

    def _join_run_network(self, client: DockerClient, run: RunLabels) -> str:
        """The run's network, created if this is its first sandbox; counts the sandbox as a member."""
        with self._named_lock(self._run_locks, run.run_id):
            network = run_network(client, run)
            if network is None:
                network = network_name(run)
                create_network(
                    client,
                    network,
                    bridge=bridge_name(RUN_BRIDGE_PREFIX, run.run_id),
                    labels=owner_labels(run, "network"),
                    internal=False,
                    icc=False,
                )
            with self._lock:
                self._members[run.run_id] = self._members.get(run.run_id, 0) + 1
            return network

    def _leave_run_network(self, run: RunLabels) -> None:
        """Count a sandbox out; the run's network goes with the last one (unless another process still uses it)."""
        with self._named_lock(self._run_locks, run.run_id):
            with self._lock:
                left = self._members.get(run.run_id, 1) - 1
                if left > 0:
                    self._members[run.run_id] = left
                    return
                self._members.pop(run.run_id, None)
            with contextlib.suppress(Exception):  # daemon gone: `cooperbench cleanup` sweeps it
                remove_network(self.client, network_name(run), only_if_unused=True)

    # -- sandboxes ----------------------------------------------------------------------

    def create_sandbox(
        self, image: str, *, run: RunLabels, purpose: SandboxPurpose = "agent", mounts: Sequence[Mount] = ()
    ) -> DockerSandbox:
        """Start a container of ``image`` labelled with ``run``, on the run's network.

        ``mounts`` are bind mounts (files, directories and unix sockets of this host); the access
        mount of a git server (:attr:`DockerGitServer.mounts`) also puts the sandbox on that server's network.

        Raises:
            SandboxError: the daemon is down, the image is not in the Engine, a mount's source does not
                exist or cannot be bound, the host firewall is required but not in force, or the container
                cannot start.
        """
        self._check_firewall()
        binds, git_networks = self._mounts(mounts)
        git_urls = [server_url(network) for network in git_networks]
        client = self.client
        api = client.api
        with self._errors(f"creating a docker sandbox of image {image}"):
            config = self._image_config(client, image)
            environment = {} if any(e.startswith("PATH=") for e in config.get("Env") or []) else {"PATH": _DEFAULT_PATH}
            name = f"cb-{run.run_id}-{purpose}-{secrets.token_hex(3)}"
            network = self._join_run_network(client, run)
            container_id: str | None = None
            try:
                container_id = self._create_container(
                    image,
                    name,
                    owner_labels(run, "sandbox") | {"cooperbench.purpose": purpose},
                    environment,
                    network,
                    mounts=binds,
                )
                for git_network in git_networks:
                    api.connect_container_to_network(container_id, git_network)
                api.start(container_id)
                # After the start, not before: on a stopped container the Engine mounts the root
                # filesystem just for the copy, and with fuse-overlayfs that mount can race the
                # start's own (the container then dies at once, exit 127).
                api.put_archive(container_id, "/", tar_of(PATCHES_DIR, None, 0o777))
                if git_networks:
                    urls = "".join(f"{url}\n" for url in git_urls)
                    api.put_archive(container_id, "/", tar_of(ACCESS_TARGET, urls.encode(), 0o444))
            except BaseException:
                if container_id is not None:
                    with contextlib.suppress(Exception):
                        force_remove(client, container_id)
                self._leave_run_network(run)
                raise
        return DockerSandbox(
            self._factory,
            container_id,
            name,
            default_timeout=self.exec_timeout,
            on_cleanup=lambda _box: self._leave_run_network(run),
            limits={"memory": self.memory, "pids": self.pids},
        )

    def _mounts(self, mounts: Sequence[Mount]) -> tuple[list[docker.types.Mount], list[str]]:
        """Docker bind mounts for ``mounts``, and the git server networks their access mounts grant.

        Raises:
            SandboxError: a mount's source does not exist, its target is not absolute, or the daemon is
                not on this machine (its binds would name another machine's paths).
        """
        binds: list[docker.types.Mount] = []
        networks: list[str] = []
        local = local_daemon(self._factory.base_url)
        for mount in mounts:
            source = Path(mount.source)
            git_network = server_for_mount(mount)
            if git_network is not None:
                # The network is the access; the file with the URL is written after the start (one
                # file for every server given, which a bind per server could not do).
                networks.append(git_network)
                continue
            if not source.is_absolute() or not os.path.lexists(source):
                raise SandboxError(
                    f"docker backend: cannot mount {source} at {mount.target}: the source does not exist on this host"
                )
            if not local:
                raise SandboxError(
                    f"docker backend: cannot mount {source} at {mount.target}: the Docker daemon "
                    f"({self._factory.base_url}) is on another machine, so host paths cannot be bound"
                )
            binds.append(
                docker.types.Mount(str(mount.target), str(source.resolve()), type="bind", read_only=mount.read_only)
            )
        return binds, networks

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
        network: str,
        *,
        command: list[str] | None = None,
        auto_remove: bool = True,
        mounts: list[docker.types.Mount] | None = None,
        limits: Mapping[str, Any] | None = None,
    ) -> str:
        api = self.client.api
        limits = limits or {"cpus": self.cpus, "memory": self.memory, "pids": self.pids}
        memory = limits["memory"]
        host_config = api.create_host_config(
            init=True,  # a real PID 1 reaps the zombies agents' commands leave behind
            auto_remove=auto_remove,  # a sandbox whose lifetime ran out removes itself
            nano_cpus=int(limits["cpus"] * 1e9) if limits["cpus"] else None,
            mem_limit=memory,
            memswap_limit=memory,  # no swap on top: a memory hog is stopped at the limit, not slowed down
            pids_limit=limits["pids"],
            network_mode=network,
            mounts=mounts or None,
            cap_drop=["NET_RAW"],  # no raw sockets: no crafted packets on the bridge
            # No IPv6: the run network is IPv4 only, and link-local IPv6 would reach the host's bridge address.
            sysctls={"net.ipv6.conf.all.disable_ipv6": "1"},
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
        """Start a git daemon with a new, empty repository on a private network of its own.

        Only sandboxes created with the server's :attr:`~DockerGitServer.mounts` join that network.

        Raises:
            SandboxError: no image for the server is known, the daemon is down, or the server did not start.
        """
        image = self.git_image or self._last_image
        if image is None:
            raise SandboxError(
                "the docker backend needs an image with `git` to run the run's git server: set the backend "
                "option `git_image`, or resolve a task image first (the last one resolved is used)."
            )
        self._check_firewall()
        client = self.client
        name = new_server_name(run)
        with self._errors(f"starting the git server of run {run.run_name}"):
            if not has_image(client, image):
                raise SandboxError(
                    f"the git server image {image} is not in the local Docker Engine; pull or build it, or set "
                    "the backend option `git_image`."
                )
            network = name
            container_id: str | None = None
            access = None
            try:
                create_network(
                    client,
                    network,
                    bridge=bridge_name(GIT_BRIDGE_PREFIX, name),
                    labels=owner_labels(run, KIND_NETWORK),
                    internal=True,
                    icc=True,
                )
                container_id = self._create_container(
                    image,
                    name,
                    owner_labels(run, KIND_SERVER),
                    {"PATH": _DEFAULT_PATH},
                    network,
                    command=["sh", "-c", daemon_script(self.lifetime)],
                    auto_remove=False,  # keep a failed daemon's output for the error message
                    limits=_SERVER_LIMITS,
                )
                start_daemon(client, container_id, name, image)
                access = make_access_mount(name, server_url(name), network)
            except BaseException:
                if container_id is not None:
                    with contextlib.suppress(Exception):
                        force_remove(client, container_id)
                with contextlib.suppress(Exception):
                    remove_network(client, network)
                raise
        return DockerGitServer(self._factory, run, container_id, name, network, access)

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


def _positive(option: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"backend docker: {option} must be a positive number or null (no limit), not {value!r}")
    return float(value)


def _memory(value: str | int | None) -> int | None:
    """Bytes of a memory size (``"4g"``, ``"512m"``, or a number of bytes)."""
    if value is None:
        return None
    try:
        size = int(docker.utils.parse_bytes(value))
    except (docker.errors.DockerException, ValueError, TypeError) as exc:
        raise ConfigError(f"backend docker: memory must be a size such as 4g or 512m, or null, not {value!r}") from exc
    if size < 6 * 1024 * 1024:
        raise ConfigError(f"backend docker: memory {value!r} is below Docker's minimum of 6m")
    return size
