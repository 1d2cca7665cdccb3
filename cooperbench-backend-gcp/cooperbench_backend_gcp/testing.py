"""A stand-in for Google Cloud (Compute Engine, Batch, auth) and for SSH, on local containers.

The GCP backend takes its SDKs as one parameter (``GCPBackend(sdk=...)``, the real
``google.cloud.compute_v1``, ``google.cloud.batch_v1``, ``google.auth`` and ``paramiko`` by
default). :class:`FakeGoogleCloud` provides the same surface, so tests drive the real
backend code with nothing faked on our side::

    from cooperbench_backend_gcp.backend import GCPBackend
    from cooperbench_backend_gcp.testing import FakeGoogleCloud

    cloud = FakeGoogleCloud()
    backend = GCPBackend(sdk=cloud.sdk, project_id="demo")
    ...
    cloud.close()

What is real and what is fake:

- The message types (``compute_v1.Instance``, ``batch_v1.Job``, ...), the API exception
  classes and paramiko's key classes are the real ones; only the clients are replaced.
- ``InstancesClient`` keeps VMs in memory: labels are validated as Compute Engine does, list
  filters of the form ``labels.KEY = "VALUE"`` / ``labels.KEY:*`` work, and a VM's
  ``scheduling.max_run_duration`` deletes it. VM addresses are distinct loopback addresses.
- ``paramiko.SSHClient`` connects to a fake VM only with a key listed in its ``ssh-keys``
  metadata, and understands exactly the ``sudo docker`` commands a VM is sent (``info``,
  ``pull``, ``build -``, ``run -d``, ``exec``, ``rm -f``); containers are local bubblewrap
  containers (:mod:`cooperbench.testing.container_runtime`: the host filesystem read-only, the
  container's own paths writable, the host network shared).
- A registry image exists only when registered with :meth:`FakeGoogleCloud.add_registry_image`,
  except the public images in ``host_images`` (``python:3.12-bookworm``, the git server's
  default, among them), which stand for the host's own filesystem.
- ``BatchServiceClient.create_job`` records the job; :meth:`FakeGoogleCloud.run_batch_job`
  runs its tasks in local containers with the Cloud Storage volume at ``gcs_dir``.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import shlex
import subprocess
import tarfile
import tempfile
import threading
import time
import types
from pathlib import Path
from typing import Any

from cooperbench.testing.container_runtime import BuildError, Container, Image, LocalRuntime
from cooperbench_backend_gcp._sdk import GoogleCloudSDK

__all__ = ["FakeGoogleCloud", "FakeVM"]

_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


class _Operation:
    def __init__(self, error: Exception | None = None) -> None:
        self._error = error

    def result(self, timeout: float | None = None) -> None:
        if self._error is not None:
            raise self._error


class FakeVM:
    """One fake Compute Engine instance: its resource, its images and its containers."""

    def __init__(self, cloud: FakeGoogleCloud, resource: Any, index: int) -> None:
        self.cloud = cloud
        self.resource = resource
        self.internal_ip = f"127.0.{index // 250}.{index % 250 + 2}"
        self.external_ip = f"127.1.{index // 250}.{index % 250 + 2}"
        self.images: dict[str, Image] = {}
        self.containers: dict[str, Container] = {}
        self.timer: threading.Timer | None = None

    @property
    def ssh_keys(self) -> str:
        return next((i.value for i in self.resource.metadata.items if i.key == "ssh-keys"), "")

    def destroy(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        for container in self.containers.values():
            container.remove()
        self.containers.clear()


class _InstancesClient:
    def __init__(self, cloud: FakeGoogleCloud, credentials: Any = None, **_: Any) -> None:
        self.cloud = cloud

    def _api(self) -> Any:
        self.cloud._require_auth()
        return self.cloud.api_exceptions

    def insert(self, *, project: str, zone: str, instance_resource: Any) -> _Operation:
        api = self._api()
        for key, value in instance_resource.labels.items():
            if not _LABEL.match(key) or not _LABEL_VALUE.match(value):
                raise api.BadRequest(f"Invalid value for field 'resource.labels': {key}={value!r}")
        with self.cloud.lock:
            if (project, zone, instance_resource.name) in self.cloud.vms:
                raise api.Conflict(f"The resource '{instance_resource.name}' already exists")
            resource = type(instance_resource).deserialize(type(instance_resource).serialize(instance_resource))
            vm = FakeVM(self.cloud, resource, next(self.cloud.counter))
            resource.status = "RUNNING"
            for interface in resource.network_interfaces:
                interface.network_i_p = vm.internal_ip
                for access in interface.access_configs:
                    access.nat_i_p = vm.external_ip
            self.cloud.vms[(project, zone, resource.name)] = vm
        lifetime = resource.scheduling.max_run_duration.seconds
        if lifetime:
            vm.timer = threading.Timer(lifetime, self.cloud._delete, args=(project, zone, resource.name))
            vm.timer.daemon = True
            vm.timer.start()
        return _Operation()

    def get(self, *, project: str, zone: str, instance: str) -> Any:
        api = self._api()
        vm = self.cloud.vms.get((project, zone, instance))
        if vm is None:
            raise api.NotFound(f"The resource 'projects/{project}/zones/{zone}/instances/{instance}' was not found")
        return vm.resource

    def delete(self, *, project: str, zone: str, instance: str) -> _Operation:
        api = self._api()
        if not self.cloud._delete(project, zone, instance):
            raise api.NotFound(f"The resource 'projects/{project}/zones/{zone}/instances/{instance}' was not found")
        return _Operation()

    def list(self, *, project: str, zone: str, filter: str = "", **_: Any) -> list[Any]:
        self._api()
        terms = [t.strip() for t in filter.split(" AND ") if t.strip()]
        with self.cloud.lock:
            vms = [vm for (p, z, _), vm in self.cloud.vms.items() if (p, z) == (project, zone)]
        return [vm.resource for vm in vms if all(_matches(vm.resource.labels, term) for term in terms)]


def _matches(labels: Any, term: str) -> bool:
    has = re.fullmatch(r"labels\.([a-z0-9_-]+):\*", term)
    if has:
        return has.group(1) in labels
    equal = re.fullmatch(r'labels\.([a-z0-9_-]+)\s*=\s*"?([^"]*)"?', term)
    if not equal:
        raise ValueError(f'the fake supports only labels.KEY = "VALUE" and labels.KEY:* filters, not {term!r}')
    return labels.get(equal.group(1)) == equal.group(2)


class _File:
    def __init__(self, session: _Session, index: int) -> None:
        self.channel, self._index = session, index

    def write(self, data: bytes) -> None:
        self.channel.stdin_data += data

    def read(self) -> bytes:
        self.channel._run()
        return bytes(self.channel.buffers[self._index])


class _Session:
    """One ``exec_command``: runs when its stdin is closed or its output is read."""

    def __init__(self, vm: FakeVM, command: str) -> None:
        self.vm, self.command = vm, command
        self.stdin_data = b""
        self.buffers = [bytearray(), bytearray()]
        self.status: int | None = None
        self._lock = threading.Lock()

    def shutdown_write(self) -> None:
        self._run()

    def recv_exit_status(self) -> int:
        self._run()
        assert self.status is not None
        return self.status

    def _run(self) -> None:
        with self._lock:
            if self.status is None:
                self.status = self.vm.cloud._docker(self.vm, self.command, self.stdin_data, self.buffers)


class _SSHClient:
    def __init__(self, cloud: FakeGoogleCloud) -> None:
        self.cloud = cloud
        self.vm: FakeVM | None = None

    def set_missing_host_key_policy(self, policy: Any) -> None:
        pass

    def connect(self, hostname: str, *, username: str, pkey: Any, **_: Any) -> None:
        vm = self.cloud._vm_at(hostname)
        if vm is None:
            raise OSError(f"[Errno 111] Connection refused: {hostname}:22")
        wanted = f"{username}:{pkey.get_name()} {pkey.get_base64()}"
        if not any(line.startswith(wanted) for line in vm.ssh_keys.splitlines()):
            raise self.cloud.paramiko.AuthenticationException("Authentication failed.")
        self.vm = vm

    def exec_command(self, command: str, timeout: float | None = None, **_: Any) -> tuple[_File, _File, _File]:
        if self.vm is None or self.cloud._vm_at(self.vm.external_ip) is not self.vm:
            raise self.cloud.paramiko.SSHException("SSH session not active")
        session = _Session(self.vm, command)
        return _File(session, -1), _File(session, 0), _File(session, 1)

    def close(self) -> None:
        self.vm = None


class _Auth:
    def __init__(self, cloud: FakeGoogleCloud) -> None:
        import google.auth.exceptions

        self.cloud = cloud
        self.exceptions = google.auth.exceptions

    def default(self, scopes: Any = None, **_: Any) -> tuple[Any, str | None]:
        if not self.cloud.authenticated:
            raise self.exceptions.DefaultCredentialsError(
                "Your default credentials were not found. To set up Application Default Credentials, see "
                "https://cloud.google.com/docs/authentication/external/set-up-adc for more information."
            )
        return object(), self.cloud.project


class FakeGoogleCloud:
    """Fake Compute Engine, Batch, auth and SSH; :attr:`sdk` is what the backend takes.

    Args:
        authenticated: whether application default credentials exist.
        project: the project the credentials carry (``None``: none, like user credentials).
        runtime: the local container runtime; a new one by default.
        host_images: registry names that resolve to the host's filesystem as an image.

    Raises:
        RuntimeError: bubblewrap is not installed.
    """

    def __init__(
        self,
        *,
        authenticated: bool = True,
        project: str | None = "fake-project",
        runtime: LocalRuntime | None = None,
        host_images: tuple[str, ...] = ("python:3.12-bookworm", "debian:bookworm"),
    ) -> None:
        import google.api_core.exceptions
        import paramiko
        from google.cloud import batch_v1, compute_v1

        self.authenticated = authenticated
        self.project = project
        self.runtime = runtime or LocalRuntime()
        self.api_exceptions = google.api_core.exceptions
        self.paramiko = paramiko
        self.compute_v1 = compute_v1
        self.vms: dict[tuple[str, str, str], FakeVM] = {}
        self.jobs: dict[str, Any] = {}
        self.gcs_dir = Path(tempfile.mkdtemp(prefix="cooperbench-fake-gcs-", dir=self.runtime.state_dir))
        self.lock = threading.RLock()
        self.counter = itertools.count()
        self._registry: dict[str, tuple[Path, Path, dict[str, str]]] = {}
        self.host_images = set(host_images)
        cloud = self
        compute = types.SimpleNamespace(**{n: getattr(compute_v1, n) for n in dir(compute_v1) if not n.startswith("_")})
        compute.InstancesClient = lambda **kw: _InstancesClient(cloud, **kw)
        batch = types.SimpleNamespace(**{n: getattr(batch_v1, n) for n in dir(batch_v1) if not n.startswith("_")})
        batch.BatchServiceClient = lambda **kw: _BatchClient(cloud)
        ssh = types.SimpleNamespace(**{n: getattr(paramiko, n) for n in dir(paramiko) if not n.startswith("_")})
        ssh.SSHClient = lambda: _SSHClient(cloud)
        self.sdk = GoogleCloudSDK(compute, batch, _Auth(self), google.api_core.exceptions, ssh)

    def add_registry_image(
        self, name: str, dockerfile: Path, context: Path | None = None, build_args: dict[str, str] | None = None
    ) -> None:
        """Make ``docker pull name`` (and Batch's ``image_uri=name``) find an image built from ``dockerfile``."""
        self._registry[name] = (Path(dockerfile), Path(context or Path(dockerfile).parent), dict(build_args or {}))

    def close(self) -> None:
        """Delete every VM and remove the runtime's files."""
        for key in list(self.vms):
            self._delete(*key)
        self.runtime.close()

    def _require_auth(self) -> None:
        if not self.authenticated:
            raise self.api_exceptions.Unauthenticated("Request had invalid authentication credentials.")

    def _delete(self, project: str, zone: str, name: str) -> bool:
        with self.lock:
            vm = self.vms.pop((project, zone, name), None)
        if vm is not None:
            vm.destroy()
        return vm is not None

    def _vm_at(self, address: str) -> FakeVM | None:
        with self.lock:
            return next((vm for vm in self.vms.values() if address in (vm.internal_ip, vm.external_ip)), None)

    def _pull(self, name: str) -> Image | None:
        if name in self.host_images:
            return self.runtime.empty_image()
        if name not in self._registry:
            return None
        dockerfile, context, build_args = self._registry[name]
        return self.runtime.build(dockerfile, context, build_args, tag=name)

    # -- the VM's Docker Engine ---------------------------------------------------------------

    def _docker(self, vm: FakeVM, command: str, stdin: bytes, buffers: list[bytearray]) -> int:
        argv = shlex.split(command)
        if argv[:2] != ["sudo", "docker"] or len(argv) < 3:
            buffers[1] += f"fake VM: only `sudo docker ...` commands are supported, not {command!r}\n".encode()
            return 127
        sub, args = argv[2], argv[3:]
        if sub == "info":
            return 0
        if sub == "pull":
            image = self._pull(args[-1])
            if image is None:
                buffers[1] += f"Error response from daemon: pull access denied for {args[-1]}\n".encode()
                return 1
            vm.images[args[-1]] = image
            return 0
        if sub == "build":
            return self._docker_build(vm, args, stdin, buffers)
        if sub == "run":
            return self._docker_run(vm, args, buffers)
        if sub == "exec":
            return self._docker_exec(vm, args, stdin, buffers)
        if sub == "rm":
            container = vm.containers.pop(args[-1], None)
            if container is not None:
                container.remove()
            return 0
        buffers[1] += f"fake docker: unsupported command {sub!r}\n".encode()
        return 125

    def _docker_build(self, vm: FakeVM, args: list[str], stdin: bytes, buffers: list[bytearray]) -> int:
        tag, build_args = "", {}
        it = iter(args)
        for arg in it:
            if arg == "-t":
                tag = next(it)
            elif arg == "--build-arg":
                key, _, value = next(it).partition("=")
                build_args[key] = value
        context = Path(tempfile.mkdtemp(prefix="context-", dir=self.runtime.state_dir))
        with tarfile.open(fileobj=io.BytesIO(stdin)) as archive:
            if hasattr(tarfile, "data_filter"):  # Python versions with extraction filters
                archive.extractall(context, filter="data")
            else:  # pragma: no cover - older patch releases of 3.10/3.11
                archive.extractall(context)
        try:
            vm.images[tag] = self.runtime.build(context / "Dockerfile", context, build_args)
        except BuildError as exc:
            buffers[1] += str(exc).encode()
            return 1
        buffers[0] += vm.images[tag].id.encode() + b"\n"
        return 0

    def _docker_run(self, vm: FakeVM, args: list[str], buffers: list[bytearray]) -> int:
        name, entrypoint, rest = "", None, list(args)
        while rest and rest[0].startswith("-"):
            flag = rest.pop(0)
            if flag == "--name":
                name = rest.pop(0)
            elif flag == "--entrypoint":
                entrypoint = rest.pop(0)
            elif flag in ("--network", "-e", "-p", "-v"):
                rest.pop(0)  # containers share the host network; nothing else is used
        image = vm.images.get(rest[0]) or self._pull(rest[0])
        if image is None:
            buffers[1] += f"Unable to find image '{rest[0]}' locally\nError: pull access denied\n".encode()
            return 125
        container = self.runtime.create(image)
        vm.containers[name] = container
        container.popen(([entrypoint] if entrypoint else []) + rest[1:])
        buffers[0] += container.id.encode() + b"\n"
        return 0

    def _docker_exec(self, vm: FakeVM, args: list[str], stdin: bytes, buffers: list[bytearray]) -> int:
        cwd, env, interactive, rest = None, {}, False, list(args)
        while rest and rest[0].startswith("-"):
            flag = rest.pop(0)
            if flag == "-i":
                interactive = True
            elif flag == "-w":
                cwd = rest.pop(0)
            elif flag == "-e":
                key, _, value = rest.pop(0).partition("=")
                env[key] = value
        container = vm.containers.get(rest[0])
        if container is None:
            buffers[1] += f"Error response from daemon: No such container: {rest[0]}\n".encode()
            return 1
        process = container.popen(
            rest[1:], env=env, cwd=cwd, stdin=subprocess.PIPE if interactive else subprocess.DEVNULL
        )
        return _collect(process, stdin if interactive else None, buffers)

    # -- Batch ----------------------------------------------------------------------------------

    def run_batch_job(self, name: str) -> list[int]:
        """Run every task of a submitted job in local containers; return their exit codes."""
        job = self.jobs[name]
        codes = []
        for group in job.task_groups:
            spec = group.task_spec
            container_spec = spec.runnables[0].container
            image = self._pull(container_spec.image_uri)
            if image is None:
                raise self.api_exceptions.NotFound(f"image {container_spec.image_uri} not found")
            volume = spec.volumes[0]
            bucket_dir = self.gcs_dir / volume.gcs.remote_path
            bucket_dir.mkdir(parents=True, exist_ok=True)
            for index in range(group.task_count):
                env = {**dict(group.task_environments[index].variables), "BATCH_TASK_INDEX": str(index)}
                container = self.runtime.create(image)
                argv = [container_spec.entrypoint, *container_spec.commands]
                process = container.popen(argv, env=env, binds={volume.mount_path: bucket_dir})
                codes.append(_collect(process, None, [bytearray(), bytearray()]))
                container.remove()
        return codes


class _BatchClient:
    def __init__(self, cloud: FakeGoogleCloud) -> None:
        self.cloud = cloud

    def create_job(self, *, parent: str, job: Any, job_id: str) -> Any:
        self.cloud._require_auth()
        job = type(job).deserialize(type(job).serialize(job))
        job.name = f"{parent}/jobs/{job_id}"
        self.cloud.jobs[job.name] = job
        return job

    def get_job(self, *, name: str) -> Any:
        self.cloud._require_auth()
        if name not in self.cloud.jobs:
            raise self.cloud.api_exceptions.NotFound(f"job {name} not found")
        return self.cloud.jobs[name]


def _collect(process: subprocess.Popen[bytes], stdin: bytes | None, buffers: list[bytearray]) -> int:
    """Feed ``stdin``, gather output until the process exits (not until its pipes close), return its status."""

    def pump(pipe: Any, buffer: bytearray) -> None:
        for chunk in iter(lambda: pipe.read1(65536), b""):
            buffer += chunk

    readers = [
        threading.Thread(target=pump, args=(p, b), daemon=True)
        for p, b in ((process.stdout, buffers[0]), (process.stderr, buffers[1]))
    ]
    for reader in readers:
        reader.start()
    if process.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(stdin or b"")
        process.stdin.close()
    code = process.wait()
    # Like a container exec, the exec ends with its process, not with its pipes: read on while
    # output flows, and stop after 2 s without any (a background process may hold the pipe).
    last, idle_since = -1, time.monotonic()
    while any(r.is_alive() for r in readers):
        size = len(buffers[0]) + len(buffers[1])
        if size != last:
            last, idle_since = size, time.monotonic()
        elif time.monotonic() - idle_since > 2.0:
            break
        time.sleep(0.02)
    return code
