"""What a sandbox can reach: the outside world yes; the host, other sandboxes and other runs no."""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest
from cooperbench_backend_docker._network import FIREWALL_CHAIN, bridge_name, network_name

from cooperbench.backends.base import Mount, RunLabels

pytestmark = pytest.mark.docker

HOST_CA = "/etc/ssl/certs/ca-certificates.crt"


@contextlib.contextmanager
def host_listener(address: str) -> Iterator[int]:
    """A TCP server on this host at ``address`` (port 0: the kernel picks), accepting until the block ends."""
    server = socket.create_server((address, 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                conn.sendall(b"host-secret\n")
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def connect_probe(address: str, port: int) -> str:
    """A command that prints REACHED only when it can read from ``address:port``."""
    return f"timeout 5 bash -c 'exec 3<>/dev/tcp/{address}/{port} && read -r line <&3 && echo REACHED:$line' 2>&1"


def host_addresses() -> list[str]:
    """This host's IPv4 addresses (every interface, docker bridges included), loopback excepted."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    found = [line.split()[3].split("/")[0] for line in out.splitlines()]
    return [a for a in found if not a.startswith("127.")]


def test_the_firewall_is_installed_as_root(backend, run, task_image):
    box = backend.create_sandbox(task_image, run=run)
    try:
        state = backend.describe()["firewall"]
        assert state["enforced"] is True, state
        rules = subprocess.run(["iptables", "-S", FIREWALL_CHAIN], capture_output=True, text=True, check=True).stdout
        assert "-i cbr+" in rules and "-i cbg+" in rules
        attached = backend.client.api.inspect_container(box.container_id)["NetworkSettings"]["Networks"]
        assert list(attached) == [network_name(run)], "one network: the run's"
        options = backend.client.api.inspect_network(network_name(run))["Options"]
        assert options["com.docker.network.bridge.name"] == bridge_name("cbr", run.run_id)
        assert options["com.docker.network.bridge.enable_icc"] == "false"
    finally:
        box.cleanup()


def test_services_on_the_host_are_unreachable(backend, run, task_image):
    box = backend.create_sandbox(task_image, run=run)
    try:
        gateway = backend.client.api.inspect_network(network_name(run))["IPAM"]["Config"][0]["Gateway"]
        with host_listener("0.0.0.0") as port:
            # Positive control: the listener answers from the host itself.
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                assert conn.recv(100) == b"host-secret\n"
            for address in [gateway, *host_addresses()]:
                result = box.exec(connect_probe(address, port), timeout=30)
                assert "REACHED" not in result.output, f"{address}:{port} reached from the sandbox"
        with host_listener("127.0.0.1") as port:
            result = box.exec(connect_probe("127.0.0.1", port), timeout=30)
            assert "REACHED" not in result.output, "the host's loopback is not the sandbox's"
    finally:
        box.cleanup()


def test_the_outside_world_is_reachable(backend, run, task_image):
    """Agents install packages: `pip download` of a small package from the index works."""
    # This machine reaches the index through a proxy with its own CA: hand the host's CA bundle in.
    box = backend.create_sandbox(task_image, run=run, mounts=[Mount(source=HOST_CA, target="/host-ca.crt")])
    try:
        result = box.exec(
            "python3 -m venv /tmp/venv && /tmp/venv/bin/pip download --no-deps --cert /host-ca.crt -q -d /tmp/dl "
            "six==1.16.0 && ls /tmp/dl",
            timeout=300,
        )
        assert result.returncode == 0, result.output
        assert "six-1.16.0" in result.output
    finally:
        box.cleanup()


def test_sandboxes_of_a_run_cannot_reach_each_other(backend, run, task_image):
    one, two = backend.create_sandbox(task_image, run=run), backend.create_sandbox(task_image, run=run)
    try:
        started = two.exec(
            "nohup python3 -c \"import socket; s=socket.create_server(('0.0.0.0', 8765)); "
            "[c.sendall(b'two-secret\\n') or c.close() for c in iter(lambda: s.accept()[0], None)]\" "
            ">/dev/null 2>&1 & sleep 0.5; echo started"
        )
        assert started.returncode == 0, started.output
        assert "REACHED" in two.exec(connect_probe("127.0.0.1", 8765)).output, "positive control inside two"
        address = backend.client.api.inspect_container(two.container_id)["NetworkSettings"]["Networks"][
            network_name(run)
        ]["IPAddress"]
        result = one.exec(connect_probe(address, 8765), timeout=30)
        assert "REACHED" not in result.output, result.output
    finally:
        one.cleanup()
        two.cleanup()


def test_another_runs_sandbox_is_unreachable(backend, run, task_image):
    other = RunLabels(f"test-other-{secrets.token_hex(4)}")
    mine, theirs = backend.create_sandbox(task_image, run=run), backend.create_sandbox(task_image, run=other)
    try:
        theirs.exec(
            "nohup python3 -c \"import socket; s=socket.create_server(('0.0.0.0', 8766)); "
            "[c.sendall(b'x\\n') or c.close() for c in iter(lambda: s.accept()[0], None)]\" >/dev/null 2>&1 &"
            " sleep 0.5"
        )
        address = backend.client.api.inspect_container(theirs.container_id)["NetworkSettings"]["Networks"][
            network_name(other)
        ]["IPAddress"]
        assert "REACHED" not in mine.exec(connect_probe(address, 8766), timeout=30).output
    finally:
        mine.cleanup()
        theirs.cleanup()
        backend.cleanup(run_name=other.run_name)


def test_the_run_network_goes_with_the_last_sandbox(backend, run, task_image):
    first, second = backend.create_sandbox(task_image, run=run), backend.create_sandbox(task_image, run=run)
    api = backend.client.api
    first.cleanup()
    assert api.networks(names=[network_name(run)]), "the second sandbox still needs it"
    assert second.exec("echo up").output == "up\n"
    second.cleanup()
    assert not api.networks(names=[network_name(run)])
    assert backend.resources(run.run_name) == []


def test_firewall_off_warns_and_require_refuses_where_it_cannot_be_installed(base_image, run, task_image):
    from cooperbench_backend_docker import _network
    from cooperbench_backend_docker.backend import DockerBackend

    from cooperbench.errors import SandboxError

    off = DockerBackend(pull=False, firewall="off")
    with pytest.warns(RuntimeWarning, match="sandboxes can reach services on this host.*firewall. is off"):
        box = off.create_sandbox(task_image, run=run)
    box.cleanup()
    assert off.describe()["firewall"] == {
        "mode": "off",
        "enforced": False,
        "detail": "the backend option `firewall` is off",
    }
    # A remote daemon's host is not ours to firewall: `require` refuses before starting anything.
    remote = DockerBackend(pull=False, firewall="require", base_url="tcp://192.0.2.1:2375")
    state = _network._install_firewall("tcp://192.0.2.1:2375")
    assert not state.enforced and "not on this machine" in state.detail
    with pytest.raises(SandboxError, match="sandboxes can reach services on this host"):
        remote._check_firewall()
