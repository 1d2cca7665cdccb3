"""The ``gcp`` backend: every sandbox is a Compute Engine VM running the task container.

Design (see :mod:`cooperbench_backend_gcp._vm` for the VM and SSH layer):

- A sandbox is a Container-Optimized OS VM; the task container runs on it as ``sandbox``
  (``docker run --entrypoint sleep IMAGE infinity``) and every command is a ``docker exec``
  over SSH, under the same timeout wrapper as the other cloud backend (the whole process
  tree is killed on timeout, the output so far kept).
- Images: the upstream registry image (``docker pull``), else the task's ``Dockerfile``
  built on the VM from the task folder streamed as a tar over SSH (``docker build -``);
  ``image_source`` picks, ``auto`` tries the registry first. For large runs push the task
  images to Artifact Registry and set ``image_prefix``: every VM builds otherwise.
- Git server: a VM per ``create_git_server`` call running a git smart-HTTP server in a
  container on the host network, on a port the kernel picks (reported through a file);
  sandboxes reach it on its internal address (the VPC's ``default-allow-internal`` rule). It
  answers only requests carrying its own token, which the backend writes into the git
  configuration of the sandboxes created with the server's access mount (one pair's agents).
- Mounts are copied in (files and directories, read-only); unix sockets and writable mounts
  cannot be provided and are refused with a ``SandboxError`` naming them.
- Every VM carries the run's labels (``cooperbench-run-name``, ``-run-id``, ``-pid``,
  ``-host``, ``-purpose``) and a lifetime cap (Compute Engine deletes it), so
  :meth:`GCPBackend.cleanup` finds and deletes a run's VMs by label.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import tarfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cooperbench.backends.base import PATCHES_DIR, REPO_DIR, Mount, RunLabels, SandboxPurpose
from cooperbench.backends.remote import (
    ACCESS_TARGET,
    SERVER_SCRIPT,
    ServerAccess,
    check_copyable,
    copy_mounts,
    probe_command,
    server_source,
)
from cooperbench.dataset import DEFAULT_IMAGE_PREFIX
from cooperbench.errors import ConfigError, SandboxError
from cooperbench_backend_gcp._sandbox import CONTAINER, GCPGitServer, GCPSandbox
from cooperbench_backend_gcp._sdk import (
    CREDENTIALS_HINT,
    GoogleCloudSDK,
    credentials,
    host_label,
    label_value,
    load_sdk,
)
from cooperbench_backend_gcp._vm import SSHChannel, VMSpec, create_vm, delete_vm

if TYPE_CHECKING:
    from cooperbench.dataset import Task

__all__ = ["GCPBackend", "GCPGitServer", "GCPSandbox"]

DEFAULT_ZONE = "us-central1-a"


class GCPBackend:
    """Sandboxes on Compute Engine VMs.

    Args:
        project_id: the Google Cloud project (else GOOGLE_CLOUD_PROJECT, CLOUDSDK_CORE_PROJECT, or the
            credentials' project).
        zone: the zone VMs are created in (else COOPERBENCH_GCP_ZONE, else ``us-central1-a``).
        machine_type: machine type of sandbox VMs.
        git_machine_type: machine type of git server VMs.
        vm_image: boot image of the VMs (must run Docker and accept metadata SSH keys).
        disk_size_gb: boot disk size.
        network: the VPC network.
        use_internal_ip: reach VMs on their internal address (the harness runs inside the VPC).
        image_source: ``auto`` (registry image, else the task's Dockerfile), ``registry`` or ``dockerfile``.
        image_prefix: prefix of the registry image names.
        build_args: Dockerfile ``ARG`` values for images built from a task's Dockerfile.
        git_server_image: image of the git server container (needs git and python3).
        sandbox_lifetime: seconds after which Compute Engine deletes a VM whatever happens.
        exec_timeout: per-command limit in seconds when the caller gives none.
        boot_timeout: seconds to wait for a VM to boot and answer.
        sdk: the SDKs (:class:`~cooperbench_backend_gcp._sdk.GoogleCloudSDK`), or a fake one.

    Raises:
        ConfigError: an option is invalid.
        SandboxError: no credentials or no project.
    """

    name = "gcp"

    def __init__(
        self,
        *,
        project_id: str | None = None,
        zone: str | None = None,
        machine_type: str = "e2-standard-2",
        git_machine_type: str = "e2-small",
        vm_image: str = "projects/cos-cloud/global/images/family/cos-stable",
        disk_size_gb: int = 50,
        network: str = "global/networks/default",
        use_internal_ip: bool = False,
        image_source: Literal["auto", "registry", "dockerfile"] = "auto",
        image_prefix: str = DEFAULT_IMAGE_PREFIX,
        build_args: dict[str, str] | None = None,
        git_server_image: str = "python:3.12-bookworm",
        sandbox_lifetime: int = 4 * 3600,
        exec_timeout: float = 3600.0,
        boot_timeout: float = 600.0,
        sdk: GoogleCloudSDK | None = None,
    ) -> None:
        if image_source not in ("auto", "registry", "dockerfile"):
            raise ConfigError(f"backend gcp: image_source must be auto, registry or dockerfile, not {image_source!r}")
        if sandbox_lifetime <= 0 or exec_timeout <= 0 or boot_timeout <= 0:
            raise ConfigError("backend gcp: sandbox_lifetime, exec_timeout and boot_timeout must be positive")
        self.sdk = sdk if sdk is not None else load_sdk()
        creds, project = credentials(self.sdk, project_id)
        zone = zone or os.environ.get("COOPERBENCH_GCP_ZONE") or DEFAULT_ZONE
        self.spec = VMSpec(
            project,
            zone,
            machine_type,
            vm_image,
            disk_size_gb,
            network,
            use_internal_ip,
            "cooperbench",
            int(sandbox_lifetime),
        )
        self.git_spec = VMSpec(
            project,
            zone,
            git_machine_type,
            vm_image,
            20,
            network,
            use_internal_ip,
            "cooperbench",
            int(sandbox_lifetime),
        )
        self.image_source = image_source
        self.image_prefix = image_prefix
        self.build_args = dict(build_args or {})
        self.git_server_image = git_server_image
        self.exec_timeout = float(exec_timeout)
        self.boot_timeout = float(boot_timeout)
        self.instances = self.sdk.compute_v1.InstancesClient(credentials=creds)
        self.key = self.sdk.paramiko.RSAKey.generate(3072)
        self._public_key = f"{self.key.get_name()} {self.key.get_base64()}"
        self._lock = threading.Lock()
        self._images: dict[str, tuple[str | None, Path | None]] = {}  # reference -> (registry name, task dir)
        self._access = ServerAccess()  # each live git server's token, granted through its access mount

    # -- plumbing ---------------------------------------------------------------------------

    def translate(self, exc: BaseException, what: str) -> SandboxError:
        """Our error for an SDK exception raised while doing ``what``."""
        auth_errors = (
            self.sdk.api_exceptions.Unauthenticated,
            self.sdk.api_exceptions.Forbidden,
            self.sdk.auth.exceptions.GoogleAuthError,
        )
        if isinstance(exc, auth_errors):
            return SandboxError(f"gcp: {what}: {exc}. {CREDENTIALS_HINT}")
        return SandboxError(f"gcp: {what}: {type(exc).__name__}: {exc}")

    def _labels(self, run: RunLabels, purpose: str) -> dict[str, str]:
        return {
            "cooperbench-run-name": label_value(run.run_name),
            "cooperbench-run-id": label_value(run.run_id),
            "cooperbench-pid": str(os.getpid()),
            "cooperbench-host": host_label(),
            "cooperbench-purpose": purpose,
        }

    def _start_vm(self, spec: VMSpec, run: RunLabels, purpose: str) -> tuple[str, SSHChannel, str]:
        name = f"cb-{label_value(run.run_id)[:12]}-{purpose[:3]}-{secrets.token_hex(3)}"
        try:
            address, internal = create_vm(
                self.sdk,
                self.instances,
                spec,
                name,
                self._labels(run, purpose),
                {"cooperbench-run-name": run.run_name},
                self._public_key,
                self.boot_timeout,
            )
        except (self.sdk.api_exceptions.GoogleAPICallError, self.sdk.auth.exceptions.GoogleAuthError) as exc:
            self._delete_quietly(name)
            raise self.translate(exc, f"cannot create VM {name} in {spec.project}/{spec.zone}") from exc
        channel = SSHChannel(self.sdk, address, spec.ssh_user, self.key)
        try:
            channel.connect(self.boot_timeout)
        except SandboxError:
            self._delete_quietly(name)
            raise
        return name, channel, internal

    def _delete_quietly(self, name: str) -> None:
        # Cleanup never raises; the lifetime cap removes whatever is left.
        with contextlib.suppress(Exception):
            delete_vm(self.instances, self.spec.project, self.spec.zone, name)

    # -- images -----------------------------------------------------------------------------

    def resolve_image(self, task: Task) -> str:
        """Return the reference VMs get the task image from (pulled or built on each VM).

        Raises:
            SandboxError: ``image_source="dockerfile"`` and the task has no Dockerfile.
        """
        name = task.image_name(self.image_prefix)
        dockerfile = task.path / "Dockerfile"
        if self.image_source == "registry":
            return name
        if not dockerfile.is_file():
            if self.image_source == "dockerfile":
                raise SandboxError(f"gcp: {dockerfile}: no Dockerfile to build the image of {task.key} from")
            return name
        reference = f"cooperbench-build/{label_value(task.repo)}-task{task.task_id}:{task.content_hash}"
        with self._lock:
            self._images[reference] = (name if self.image_source == "auto" else None, task.path)
        return reference

    def _prepare_container(self, channel: SSHChannel, reference: str) -> None:
        with self._lock:
            registry, task_dir = self._images.get(reference, (reference, None))
        tag = reference
        failures = []
        ready = False
        if registry is not None:
            out, err, code = channel.run(["sudo", "docker", "pull", "-q", registry], timeout=1800)
            ready, tag = code == 0, registry
            if not ready:
                failures.append(f"docker pull {registry}: {(out + err).decode('utf-8', 'replace').strip()[-500:]}")
        if not ready and task_dir is not None:
            build = ["sudo", "docker", "build", "-q", "-t", reference]
            for key, value in self.build_args.items():
                build += ["--build-arg", f"{key}={value}"]
            out, err, code = channel.run([*build, "-"], stdin=_tar(task_dir), timeout=3600)
            ready, tag = code == 0, reference
            if not ready:
                failures.append(f"{task_dir / 'Dockerfile'}: {(out + err).decode('utf-8', 'replace').strip()[-1500:]}")
        if not ready:
            raise SandboxError(
                f"gcp: no image for {reference}: {'; '.join(failures)}. Push the image to a registry "
                "the VMs can pull from (image_prefix), or fix the Dockerfile (build_args for its ARGs)"
            )
        out, err, code = channel.run(
            ["sudo", "docker", "run", "-d", "--name", CONTAINER, "--entrypoint", "sleep", tag, "infinity"], timeout=600
        )
        if code != 0:
            raise SandboxError(f"gcp: cannot start the container of {tag}: {(out + err).decode('utf-8', 'replace')}")

    # -- sandboxes --------------------------------------------------------------------------

    def create_sandbox(
        self, image: str, *, run: RunLabels, purpose: SandboxPurpose = "agent", mounts: Sequence[Mount] = ()
    ) -> GCPSandbox:
        """Create a VM, start the task container on it, and return it as a sandbox.

        ``mounts`` are copied in (files and directories, read-only); a git server's access mount
        (:attr:`GCPGitServer.mounts`) makes git in the sandbox carry that server's token.

        Raises:
            SandboxError: the VM, the image or the container cannot be had, or a mount cannot be provided
                (a unix socket, a writable mount, a missing source: named in the message).
        """
        grants, copies = self._access.split(mounts)
        check_copyable("gcp", copies)
        name, channel, _ = self._start_vm(self.spec, run, purpose)
        sandbox = GCPSandbox(name, channel, self)
        try:
            self._prepare_container(channel, image)
            check = sandbox.exec(f"mkdir -p {PATCHES_DIR} && test -d {REPO_DIR}/.git", timeout=120, cwd="/")
            if check.returncode != 0:
                raise SandboxError(
                    f"gcp: image {image} has no git repository at {REPO_DIR}: {check.output[-500:]}. "
                    "Task images must clone the task repository there"
                )
            copy_mounts("gcp", sandbox, copies)
            for grant in grants:
                sandbox.authorize(grant.base, grant.token)
            if grants:  # the team remote's URL, as the access mount shows it (one line per server)
                sandbox.write_file(ACCESS_TARGET, "".join(f"{g.url}\n" for g in grants), mode=0o444)
        except BaseException:
            sandbox.cleanup()
            raise
        return sandbox

    def create_git_server(self, *, run: RunLabels) -> GCPGitServer:
        """Create a VM serving one empty bare repository over HTTP to the sandboxes given its mounts.

        The server binds a port the kernel picks (port 0) and reports it; it answers only
        requests carrying its own token, which only sandboxes created with the server's
        :attr:`~GCPGitServer.mounts` (one pair's agents) get.

        Raises:
            SandboxError: the VM or the server cannot be started (the message has the server's log).
        """
        token = self._access.new_token()
        name, channel, internal = self._start_vm(self.git_spec, run, "git")
        vm = GCPSandbox(name, channel, self)
        try:
            script = (
                "while [ ! -e /srv/go ]; do sleep 0.2; done; set -e; mkdir -p /srv/git; "
                "git init --bare -q /srv/git/team.git; git -C /srv/git/team.git config http.receivepack true; "
                f"python3 /srv/{SERVER_SCRIPT} /srv/git 0 {token} /srv/port 2>/srv/server.log "
                "|| { echo $? > /srv/exited; exec sleep infinity; }"
            )
            out, err, code = channel.run(
                [
                    "sudo",
                    "docker",
                    "run",
                    "-d",
                    "--name",
                    CONTAINER,
                    "--network",
                    "host",
                    "--entrypoint",
                    "bash",
                    self.git_server_image,
                    "-c",
                    script,
                ],
                timeout=1800,
            )
            if code != 0:
                raise SandboxError(
                    f"gcp: cannot start the git server container: {(out + err).decode('utf-8', 'replace')}"
                )
            vm.write_file(f"/srv/{SERVER_SCRIPT}", server_source())
            vm.write_file("/srv/go", b"")
            port = _await_port(vm, name)
            deadline = time.monotonic() + 120
            while True:
                probe = vm.exec(probe_command(f"http://127.0.0.1:{port}/team.git", token), timeout=30, cwd="/")
                if probe.returncode == 0:
                    break
                if time.monotonic() > deadline:
                    raise SandboxError(
                        f"gcp: the git server on {name} (port {port}) did not answer: {probe.output[-500:]}\n"
                        f"its log: {_server_log(vm)}"
                    )
                time.sleep(0.5)
        except BaseException:
            vm.cleanup()
            raise
        base = f"http://{internal}:{port}/"
        url = base + "team.git"
        mount = self._access.add(url, base, token)
        return GCPGitServer(url, vm, (mount,), self._access)

    # -- listing and cleanup ----------------------------------------------------------------

    def _list(self, run_name: str | None) -> list[Any]:
        filter_ = (
            ('labels.cooperbench-run-name = "' + label_value(run_name) + '"')
            if run_name is not None
            else ("labels.cooperbench-run-id:*")
        )
        try:
            found = list(self.instances.list(project=self.spec.project, zone=self.spec.zone, filter=filter_))
        except (self.sdk.api_exceptions.GoogleAPICallError, self.sdk.auth.exceptions.GoogleAuthError) as exc:
            raise self.translate(exc, f"cannot list VMs in {self.spec.project}/{self.spec.zone}") from exc
        if run_name is None:
            return found
        # Labels are lowercased; the exact run name is in the metadata.
        return [vm for vm in found if _metadata(vm).get("cooperbench-run-name", run_name) == run_name]

    def resources(self, run_name: str) -> list[str]:
        """Descriptions of the VMs (sandboxes and git servers) of ``run_name``."""
        return [_describe(vm) for vm in self._list(run_name)]

    def cleanup(self, *, run_name: str | None = None, stale_only: bool = False) -> list[str]:
        """Delete the VMs of ``run_name`` (all of CooperBench's; only orphaned ones with ``stale_only``)."""
        removed = []
        for vm in self._list(run_name):
            if stale_only and not _is_stale(dict(vm.labels)):
                continue
            try:
                delete_vm(self.instances, self.spec.project, self.spec.zone, vm.name)
            except self.sdk.api_exceptions.NotFound:
                continue
            except self.sdk.api_exceptions.GoogleAPICallError as exc:
                raise self.translate(exc, f"cannot delete VM {vm.name}") from exc
            removed.append(_describe(vm))
        return removed


_PORT_TIMEOUT = 120.0


def _server_log(vm: GCPSandbox) -> str:
    result = vm.exec("cat /srv/server.log 2>&1; cat /srv/exited 2>/dev/null", timeout=30, cwd="/")
    return result.output.strip()[-1500:] or "(empty)"


def _await_port(vm: GCPSandbox, name: str) -> int:
    """The port the git server on ``vm`` bound, once it listens.

    Raises:
        SandboxError: the server exited or reported no port in time (the message has its log).
    """
    deadline = time.monotonic() + _PORT_TIMEOUT
    while True:
        state = vm.exec("cat /srv/port 2>/dev/null || { test ! -e /srv/exited && exit 44; }", timeout=30, cwd="/")
        if state.returncode == 0 and state.output.strip().isdigit():
            return int(state.output.strip())
        if state.returncode != 44 or time.monotonic() > deadline:
            raise SandboxError(f"gcp: the git server on {name} did not start; its log: {_server_log(vm)}")
        time.sleep(0.2)


def _metadata(vm: Any) -> dict[str, str]:
    return {item.key: item.value for item in vm.metadata.items}


def _describe(vm: Any) -> str:
    labels = dict(vm.labels)
    return (
        f"gcp vm {vm.name} ({labels.get('cooperbench-purpose', '?')} of run "
        f"{_metadata(vm).get('cooperbench-run-name')}/{labels.get('cooperbench-run-id')})"
    )


def _is_stale(labels: dict[str, str]) -> bool:
    """Owned by a harness process on this host that is gone (elsewhere we cannot tell: not stale)."""
    if labels.get("cooperbench-host") != host_label():
        return False
    try:
        os.kill(int(labels.get("cooperbench-pid", "")), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError):
        return False
    return False


def _tar(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(directory, arcname=".")
    return buffer.getvalue()
