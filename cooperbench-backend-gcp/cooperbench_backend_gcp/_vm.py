"""One Compute Engine VM and the SSH channel to its Docker Engine.

Every sandbox (and every git server) is a VM of its own running Container-Optimized OS.
The backend reaches it over SSH with a key pair it generated itself (the public half goes
into the instance's ``ssh-keys`` metadata, OS Login is switched off for the instance), and
drives the task container with ``sudo docker`` commands. File contents travel on the SSH
channel's stdin, never in a command line.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
import time
from dataclasses import dataclass
from typing import Any

from cooperbench.errors import SandboxError
from cooperbench_backend_gcp._sdk import GoogleCloudSDK

__all__ = ["SSHChannel", "VMSpec", "create_vm", "delete_vm"]


@dataclass(frozen=True)
class VMSpec:
    """What a VM is made of (backend options)."""

    project: str
    zone: str
    machine_type: str
    vm_image: str
    disk_size_gb: int
    network: str
    use_internal_ip: bool
    ssh_user: str
    lifetime: int


def create_vm(
    sdk: GoogleCloudSDK,
    client: Any,
    spec: VMSpec,
    name: str,
    labels: dict[str, str],
    metadata: dict[str, str],
    public_key: str,
    timeout: float,
) -> tuple[str, str]:
    """Create the instance and wait for it; return ``(ssh address, internal address)``.

    Raises:
        SandboxError: Compute Engine refused or the instance did not come up.
    """
    c = sdk.compute_v1
    items = [
        c.Items(key="ssh-keys", value=f"{spec.ssh_user}:{public_key} {spec.ssh_user}"),
        c.Items(key="enable-oslogin", value="FALSE"),
        *(c.Items(key=k, value=v) for k, v in metadata.items()),
    ]
    access = [] if spec.use_internal_ip else [c.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")]
    instance = c.Instance(
        name=name,
        machine_type=f"zones/{spec.zone}/machineTypes/{spec.machine_type}",
        labels=labels,
        metadata=c.Metadata(items=items),
        disks=[
            c.AttachedDisk(
                boot=True,
                auto_delete=True,
                initialize_params=c.AttachedDiskInitializeParams(
                    source_image=spec.vm_image, disk_size_gb=spec.disk_size_gb
                ),
            )
        ],
        network_interfaces=[c.NetworkInterface(network=spec.network, access_configs=access)],
        # Compute Engine deletes the VM itself when its lifetime is over, whatever happens to us.
        scheduling=c.Scheduling(
            max_run_duration=c.Duration(seconds=spec.lifetime), instance_termination_action="DELETE"
        ),
    )
    client.insert(project=spec.project, zone=spec.zone, instance_resource=instance).result(timeout=timeout)
    created = client.get(project=spec.project, zone=spec.zone, instance=name)
    interface = created.network_interfaces[0]
    internal = interface.network_i_p
    external = interface.access_configs[0].nat_i_p if interface.access_configs else ""
    return (internal if spec.use_internal_ip or not external else external), internal


def delete_vm(client: Any, project: str, zone: str, name: str, timeout: float = 600) -> None:
    client.delete(project=project, zone=zone, instance=name).result(timeout=timeout)


class SSHChannel:
    """Commands on one VM over SSH (paramiko), with the backend's own key.

    Args:
        sdk: gives ``paramiko``.
        host: the VM's address.
        user: the login the key was installed for.
        key: a paramiko private key.
    """

    def __init__(self, sdk: GoogleCloudSDK, host: str, user: str, key: Any) -> None:
        self.sdk, self.host, self.user, self.key = sdk, host, user, key
        self._client: Any = None
        self._lock = threading.Lock()

    def connect(self, timeout: float) -> None:
        """Connect, retrying while the VM boots, then wait for its Docker Engine.

        Raises:
            SandboxError: no SSH or no Docker within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            client = self.sdk.paramiko.SSHClient()
            # A fresh VM's host key cannot be known in advance; the VM was created by us a moment ago.
            client.set_missing_host_key_policy(self.sdk.paramiko.AutoAddPolicy())
            try:
                client.connect(
                    self.host, username=self.user, pkey=self.key, timeout=20, allow_agent=False, look_for_keys=False
                )
            except Exception as exc:
                last = exc
                time.sleep(3)
                continue
            self._client = client
            break
        else:
            raise SandboxError(
                f"gcp: cannot reach {self.host} over SSH within {timeout:.0f}s ({last}); "
                "the VPC firewall must allow tcp:22 from this machine (default-allow-ssh)"
            )
        while time.monotonic() < deadline:
            _, _, code = self.run("sudo docker info >/dev/null", timeout=60)
            if code == 0:
                return
            time.sleep(2)
        raise SandboxError(f"gcp: the Docker Engine on {self.host} did not start within {timeout:.0f}s")

    def run(
        self, command: str | list[str], *, stdin: bytes | None = None, timeout: float | None = None
    ) -> tuple[bytes, bytes, int]:
        """Run ``command`` on the VM; return ``(stdout, stderr, exit status)``.

        Raises:
            SandboxError: not connected, or the connection broke.
        """
        if self._client is None:
            raise SandboxError(f"gcp: no SSH connection to {self.host}")
        line = command if isinstance(command, str) else shlex.join(command)
        try:
            channel_in, channel_out, channel_err = self._client.exec_command(line, timeout=timeout)
            if stdin is not None:
                channel_in.write(stdin)
            channel_in.channel.shutdown_write()
            out = channel_out.read()
            err = channel_err.read()
            return out, err, channel_out.channel.recv_exit_status()
        except Exception as exc:
            raise SandboxError(f"gcp: SSH to {self.host} failed during {line[:80]!r}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
