"""Finding and removing what the docker backend created, by label.

Every container and network carries the run's labels plus the host and the owning
process's pid and start time, so a resource is *stale* exactly when the process that made it
on this host is gone (a pid reused by a later process does not count as the owner).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cooperbench_backend_docker._client import LABEL_BACKEND, LABEL_HOST, LABEL_KIND, LABEL_PID_START, force_remove
from cooperbench_backend_docker._network import remove_network

if TYPE_CHECKING:
    from docker import DockerClient

    from cooperbench.backends.base import RunLabels

__all__ = ["list_resources", "owner_labels", "remove_resources"]

BACKEND_NAME = "docker"


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counts from after the parenthesised command name, which may hold spaces.
    return stat.rsplit(")", 1)[1].split()[19]


def owner_labels(run: RunLabels, kind: str) -> dict[str, str]:
    """The labels of a resource of ``run`` created by this process."""
    labels = dict(run.as_labels())
    labels[LABEL_BACKEND] = BACKEND_NAME
    labels[LABEL_KIND] = kind
    labels[LABEL_HOST] = socket.gethostname()
    start = _start_time(int(labels.get("cooperbench.pid", os.getpid())))
    if start is not None:
        labels[LABEL_PID_START] = start
    return labels


def is_stale(labels: dict[str, str]) -> bool:
    """Whether the process that created a resource with these labels is gone."""
    if labels.get(LABEL_HOST) != socket.gethostname():
        return False  # another machine's process: we cannot tell, so leave it
    try:
        pid = int(labels.get("cooperbench.pid", ""))
    except ValueError:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, owned by another user
    recorded = labels.get(LABEL_PID_START)
    return recorded is not None and _start_time(pid) not in (None, recorded)


def _filters(run_name: str | None) -> dict[str, list[str]]:
    labels = [f"{LABEL_BACKEND}={BACKEND_NAME}"]
    if run_name is not None:
        labels.append(f"cooperbench.run_name={run_name}")
    return {"label": labels}


def _describe_container(container: dict[str, Any]) -> str:
    labels = container.get("Labels") or {}
    name = (container.get("Names") or [container["Id"][:12]])[0].lstrip("/")
    return f"container {name} ({labels.get(LABEL_KIND, '?')} of run {labels.get('cooperbench.run_name')})"


def _describe_network(network: dict[str, Any]) -> str:
    return f"network {network['Name']} (of run {(network.get('Labels') or {}).get('cooperbench.run_name')})"


def list_resources(client: DockerClient, *, run_name: str | None) -> list[str]:
    """Describe the backend's containers (running or not) and networks, all or of ``run_name``."""
    filters = _filters(run_name)
    containers = [_describe_container(c) for c in client.api.containers(all=True, filters=filters)]
    return containers + [_describe_network(n) for n in client.api.networks(filters=filters)]


def remove_resources(client: DockerClient, *, run_name: str | None, stale_only: bool) -> list[str]:
    """Remove the backend's containers, then its networks (all, or of ``run_name``, or only stale ones)."""
    filters = _filters(run_name)
    removed: list[str] = []
    api = client.api
    for container in api.containers(all=True, filters=filters):
        if stale_only and not is_stale(container.get("Labels") or {}):
            continue
        if force_remove(client, container["Id"]):
            removed.append(_describe_container(container))
    for network in api.networks(filters=filters):
        if stale_only and not is_stale(network.get("Labels") or {}):
            continue
        if remove_network(client, network["Name"]):
            removed.append(_describe_network(network))
    return removed
