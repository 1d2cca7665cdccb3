"""Networks of a run, and the host firewall that keeps sandboxes away from the host.

Every sandbox of a run sits on the run's own bridge network, created with the run's first
sandbox and removed with its last. Inter-container traffic is off on it (``enable_icc=false``):
sandboxes of a run reach the outside world, not each other. Containers of other runs are on
other bridges, which Docker's own isolation rules keep apart. A git server gets a network of its
own (internal: no way out), which only the sandboxes given its access mount join.

What Docker does not stop is a container connecting to the host itself: the bridge's gateway
address, the host's other addresses, services listening on them. :func:`ensure_host_firewall`
installs (once per boot, idempotently) an ``INPUT`` chain rejecting everything that arrives from
a CooperBench bridge, recognized by its interface name (``cbr…`` for run networks, ``cbg…`` for
git server networks), plus the link-local range (cloud metadata servers) in ``DOCKER-USER``.
That needs root and a local daemon; where it cannot be done the backend says so (option
``firewall``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import docker.errors
from filelock import FileLock

from cooperbench.errors import SandboxError

if TYPE_CHECKING:
    from docker import DockerClient

    from cooperbench.backends.base import RunLabels

__all__ = [
    "FIREWALL_CHAIN",
    "FirewallState",
    "bridge_name",
    "create_network",
    "ensure_host_firewall",
    "firewall_problem",
    "local_daemon",
    "network_name",
    "remove_network",
    "run_network",
]

log = logging.getLogger(__name__)

RUN_BRIDGE_PREFIX = "cbr"
GIT_BRIDGE_PREFIX = "cbg"
FIREWALL_CHAIN = "COOPERBENCH-INPUT"
FORWARD_CHAIN = "COOPERBENCH-FORWARD"
_IFNAMSIZ = 15  # a Linux interface name holds at most 15 characters

# Everything a sandbox sends to the host itself is refused (a reset, so probes fail at once
# instead of hanging); the metadata servers of cloud VMs live in the link-local range.
_INPUT_RULES = [
    ["-i", f"{prefix}+", *match, "-j", "REJECT", "--reject-with", reject]
    for prefix in (RUN_BRIDGE_PREFIX, GIT_BRIDGE_PREFIX)
    for match, reject in ((["-p", "tcp"], "tcp-reset"), ([], "icmp-port-unreachable"))
]
_INPUT6_RULES = [
    ["-i", f"{prefix}+", *match, "-j", "REJECT", "--reject-with", reject]
    for prefix in (RUN_BRIDGE_PREFIX, GIT_BRIDGE_PREFIX)
    for match, reject in ((["-p", "tcp"], "tcp-reset"), ([], "icmp6-port-unreachable"))
]
_FORWARD_RULES = [["-i", f"{RUN_BRIDGE_PREFIX}+", "-d", "169.254.0.0/16", "-j", "REJECT"]]


def network_name(run: RunLabels) -> str:
    """The name of the run's network."""
    return f"cb-run-{run.run_id}"


def bridge_name(prefix: str, key: str) -> str:
    """A Linux interface name for a bridge: ``prefix`` + a hash of ``key``, 15 characters at most."""
    return prefix + hashlib.sha256(key.encode()).hexdigest()[: _IFNAMSIZ - len(prefix)]


def run_network(client: DockerClient, run: RunLabels) -> str | None:
    """The run's network if it exists (looked up in the Engine, so every process and backend instance sees it)."""
    name = network_name(run)
    found = client.api.networks(names=[name], filters={"label": [f"cooperbench.run_id={run.run_id}"]})
    return name if any(n.get("Name") == name for n in found) else None


def create_network(
    client: DockerClient, name: str, *, bridge: str, labels: dict[str, str], internal: bool, icc: bool
) -> None:
    """Create a bridge network on the interface ``bridge``; a network of that name already there is kept."""
    options = {"com.docker.network.bridge.name": bridge, "com.docker.network.bridge.enable_icc": str(icc).lower()}
    try:
        client.api.create_network(
            name, driver="bridge", options=options, labels=labels, internal=internal, check_duplicate=True
        )
    except docker.errors.APIError as exc:
        if exc.status_code != 409:  # 409: made meanwhile by another thread or process of the run
            raise


def remove_network(client: DockerClient, name: str, *, only_if_unused: bool = False) -> bool:
    """Remove a network (disconnecting what is still attached, unless ``only_if_unused``).

    Returns:
        Whether it was removed (``False``: not there, or still in use and ``only_if_unused``).
    """
    try:
        network = client.api.inspect_network(name)
    except docker.errors.NotFound:
        return False
    attached = network.get("Containers") or {}
    if attached and only_if_unused:
        return False
    for container_id in attached:
        with contextlib.suppress(docker.errors.APIError):
            client.api.disconnect_container_from_network(container_id, network["Id"], force=True)
    try:
        client.api.remove_network(network["Id"])
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        if only_if_unused and exc.status_code in (403, 409):  # a container joined meanwhile
            return False
        raise
    return True


# ---------------------------------------------------------------------------------- firewall


@dataclass(frozen=True)
class FirewallState:
    """Whether the host firewall for sandboxes is in force, and if not, why."""

    enforced: bool
    detail: str


_firewall_lock = threading.Lock()
_firewall_states: dict[bool, FirewallState] = {}  # per kind of daemon: local or not


def _iptables(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, "-w", "30", *args], capture_output=True, text=True, check=False, timeout=60)


def _install_chain(binary: str, parent: str, chain: str, rules: list[list[str]]) -> None:
    """Create ``chain`` holding ``rules`` and jump to it first thing from ``parent`` (each step only if missing)."""
    if _iptables(binary, "-S", chain).returncode != 0:
        made = _iptables(binary, "-N", chain)
        if made.returncode != 0 and "exists" not in made.stderr:
            raise OSError(f"{binary} -N {chain}: {made.stderr.strip()}")
    for rule in rules:
        if _iptables(binary, "-C", chain, *rule).returncode != 0:
            added = _iptables(binary, "-A", chain, *rule)
            if added.returncode != 0:
                raise OSError(f"{binary} -A {chain} {' '.join(rule)}: {added.stderr.strip()}")
    if _iptables(binary, "-C", parent, "-j", chain).returncode != 0:
        jumped = _iptables(binary, "-I", parent, "1", "-j", chain)
        if jumped.returncode != 0:
            raise OSError(f"{binary} -I {parent} 1 -j {chain}: {jumped.stderr.strip()}")


def local_daemon(base_url: str | None) -> bool:
    address = base_url or os.environ.get("DOCKER_HOST") or "unix://"
    return address.startswith(("unix://", "npipe://")) or address.startswith("/")


def ensure_host_firewall(base_url: str | None) -> FirewallState:
    """Install the rules that keep CooperBench's containers from reaching this host, once per process.

    Never raises: the state says whether the rules are in force and, if not, why.
    """
    with _firewall_lock:
        key = local_daemon(base_url)
        if key not in _firewall_states:
            _firewall_states[key] = _install_firewall(base_url)
        return _firewall_states[key]


def _install_firewall(base_url: str | None) -> FirewallState:
    if not local_daemon(base_url):
        return FirewallState(
            False, f"the Docker daemon ({base_url}) is not on this machine, so its host is not ours to firewall"
        )
    if os.geteuid() != 0:
        return FirewallState(False, "installing the host firewall rules (iptables) needs root")
    iptables = shutil.which("iptables")
    if iptables is None:
        return FirewallState(False, "`iptables` is not installed")
    if _iptables(iptables, "-S", "DOCKER-USER").returncode != 0:
        return FirewallState(
            False,
            "the Docker daemon does not manage iptables here (no DOCKER-USER chain; is dockerd run with "
            "--iptables=false?)",
        )
    lock = FileLock(str(Path(tempfile.gettempdir()) / "cooperbench-docker-firewall.lock"), timeout=120)
    try:
        with lock:
            _install_chain(iptables, "INPUT", FIREWALL_CHAIN, _INPUT_RULES)
            _install_chain(iptables, "DOCKER-USER", FORWARD_CHAIN, _FORWARD_RULES)
            ip6tables = shutil.which("ip6tables")
            if ip6tables is not None and _iptables(ip6tables, "-S", "INPUT").returncode == 0:
                _install_chain(ip6tables, "INPUT", FIREWALL_CHAIN, _INPUT6_RULES)
    except (OSError, subprocess.SubprocessError) as exc:
        return FirewallState(False, f"installing the host firewall rules failed: {exc}")
    return FirewallState(True, f"iptables chains {FIREWALL_CHAIN} (INPUT) and {FORWARD_CHAIN} (DOCKER-USER)")


def firewall_problem(state: FirewallState) -> SandboxError:
    """The error (or warning text) for a firewall that is not in force."""
    return SandboxError(
        f"docker backend: sandboxes can reach services on this host ({state.detail}). Agents could connect to "
        "anything listening on the host's addresses (Redis, LLM endpoints, ...). Run the harness as root on the "
        "machine of the Docker daemon so it can install its iptables rules, or set the backend option "
        "`firewall: off` to accept this (it is then only a warning)."
    )
