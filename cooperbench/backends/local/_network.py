"""A local sandbox's own network: a network namespace that lives as long as the sandbox.

Each command is a fresh bubblewrap, so the namespace is held by a small process (``sh``
blocked on a pipe from the harness: when the harness dies, the pipe closes and the holder
exits), and bubblewrap is started from inside it: the harness thread that starts a command
joins the namespace (``setns``, which changes that thread only), forks, and returns to the
host's namespace (:meth:`SandboxNetwork.entered`), so no ``nsenter`` runs per command.
``slirp4netns`` gives it outbound access through a user-mode TCP/IP stack: the sandbox's
connections become the host's own ``connect()`` calls, so they work wherever the host's network
works, and nothing inside can listen on the host. It runs with ``--disable-host-loopback`` (its
gateway never maps to the host's 127.0.0.1), in its own sandbox with a seccomp filter, started
in a mount namespace of its own whose mounts are private (see :meth:`SandboxNetwork._start_slirp`);
every address of the host is made unreachable inside the namespace (unreachable routes the
sandbox, without capabilities, cannot remove), so neither the host's loopback services nor
services bound to the host's other addresses answer. The host's abstract unix sockets are per
network namespace, so they are out of reach too.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import ipaddress
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from cooperbench.errors import ConfigError, SandboxError

__all__ = ["HOLDER_MARK", "NetworkMode", "SandboxNetwork", "parse_network", "slirp_processes"]

log = logging.getLogger(__name__)

NetworkMode = Literal["isolated", "none", "host"]
HOLDER_MARK = "cooperbench-netns"
SLIRP_INSTALL = (
    "the local backend gives each sandbox its own network through slirp4netns. Install it "
    "(`sudo apt-get install slirp4netns`, `dnf install slirp4netns`, `pacman -S slirp4netns`), or set "
    "`network: false` (no network) or `network: host` (the host's network, no isolation) in the `backend:` section"
)
# slirp4netns's fixed layout: the gateway (the host, refused with --disable-host-loopback) and its DNS forwarder.
SLIRP_GATEWAY = "10.0.2.2"
SLIRP_DNS = "10.0.2.3"
_READY_TIMEOUT = 30.0


def parse_network(value: object) -> NetworkMode:
    """The ``network`` backend option: ``true`` (default), ``false`` or ``"host"``.

    Raises:
        ConfigError: any other value; the message names the key and the accepted values.
    """
    if value is True:
        return "isolated"
    if value is False:
        return "none"
    if value == "host":
        return "host"
    raise ConfigError(
        f"backend option `network`: expected true (the sandbox's own network with outbound access, the default), "
        f'false (no network) or "host" (the host\'s network: loopback services and host sockets reachable), '
        f"got {value!r}"
    )


_ADDRESS_TTL = 5.0
_addresses: tuple[float, list[str]] = (0.0, [])
_addresses_lock = threading.Lock()


def _host_addresses() -> list[str]:
    """Every IPv4 address of the host's interfaces (the sandbox has no IPv6 route out), cached briefly."""
    global _addresses
    with _addresses_lock:
        stamp, cached = _addresses
        if time.monotonic() - stamp < _ADDRESS_TTL:
            return cached
    found = _read_host_addresses()
    with _addresses_lock:
        _addresses = (time.monotonic(), found)
    return found


def _read_host_addresses() -> list[str]:
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=False).stdout
        entries = json.loads(out or "[]")
    except (OSError, ValueError):
        return []
    addresses = []
    for link in entries:
        for info in link.get("addr_info", []):
            with contextlib.suppress(ValueError, KeyError):
                addresses.append(str(ipaddress.ip_address(info["local"])))
    return addresses


CLONE_NEWNET = 0x40000000


def _libc_setns(fd: int, nstype: int) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if libc.setns(fd, nstype) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


# os.setns is Python 3.12+; libc's setns otherwise.
_setns: Callable[[int, int], None] = getattr(os, "setns", _libc_setns)


@contextlib.contextmanager
def joined(netns_fd: int) -> Iterator[None]:
    """Run the block with the calling thread (only) in the network namespace ``netns_fd``.

    A network namespace is a per-thread attribute: what the thread forks inside the block starts
    in that namespace, the harness's other threads never leave the host's. The thread returns
    to the namespace it was in even when the block raises.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(netns_fd, CLONE_NEWNET)
        try:
            yield
        finally:
            _setns(own, CLONE_NEWNET)
    finally:
        os.close(own)


def _find(tool: str) -> str:
    path = shutil.which(tool) or next((p for p in (f"/usr/bin/{tool}", f"/usr/sbin/{tool}") if os.path.exists(p)), None)
    if path is None:
        raise SandboxError(f"`{tool}` not found on PATH: {SLIRP_INSTALL}")
    return path


class SandboxNetwork:
    """The network namespace of one sandbox, with slirp4netns attached.

    Args:
        root: the sandbox's directory on the host (named in the holder's command line, so
            ``cooperbench cleanup`` finds the holder of a run it sweeps).

    Raises:
        SandboxError: a tool is missing, or the namespace or slirp4netns cannot be started.
    """

    def __init__(self, root: Path) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._slirp: subprocess.Popen[bytes] | None = None
        self._exit_w: int | None = None
        self._netns_fd: int | None = None
        self._users = 0
        unshare, slirp = _find("unshare"), _find("slirp4netns")
        try:
            self._holder = subprocess.Popen(
                [unshare, "--net", "--", "sh", "-c", "read _", HOLDER_MARK, str(root)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise SandboxError(f"cannot start the sandbox's network namespace holder: {exc}") from exc
        self._ready_r: int | None = None
        self._ready = False
        try:
            self._wait_for_namespace()
            self._start_slirp(unshare, slirp)
        except BaseException:
            self.close()
            raise

    def wait_ready(self) -> None:
        """Wait until slirp4netns has configured the namespace, then block the host's addresses.

        Split from the constructor so the sandbox's workspace is copied meanwhile.

        Raises:
            SandboxError: slirp4netns failed; the message has its error.
        """
        if self._ready:
            return
        try:
            self._await_slirp()
            self._block_host_addresses()
        except BaseException:
            self.close()
            raise
        self._ready = True

    @property
    def netns(self) -> str:
        return f"/proc/{self._holder.pid}/ns/net"

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """A block in which the calling thread is inside the namespace (see :func:`joined`).

        Raises:
            SandboxError: the network was closed.
        """
        with self._lock:
            fd = self._netns_fd
            if fd is None or self._closed:
                raise SandboxError("the sandbox's network namespace is closed")
            self._users += 1  # close() leaves the descriptor open until the last user is done
        try:
            with joined(fd):
                yield
        finally:
            with self._lock:
                self._users -= 1
                last = self._closed and self._users == 0
            if last:
                self._close_netns()

    def _close_netns(self) -> None:
        with self._lock:
            fd, self._netns_fd = self._netns_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _wait_for_namespace(self) -> None:
        own = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._holder.poll() is not None:
                err = self._holder.stderr.read().decode("utf-8", "replace").strip() if self._holder.stderr else ""
                raise SandboxError(
                    f"cannot create a network namespace for the sandbox (unshare --net: {err or 'exited'}); "
                    "creating one needs root or CAP_SYS_ADMIN. Set `network: false` or `network: host` in the "
                    "`backend:` section to run without one"
                )
            with contextlib.suppress(OSError):
                if os.readlink(self.netns) != own:
                    # Held open, the namespace outlives a holder that dies early; closed in close().
                    fd = os.open(self.netns, os.O_RDONLY | os.O_CLOEXEC)
                    if os.readlink(f"/proc/self/fd/{fd}") != own:
                        self._netns_fd = fd
                        return
                    os.close(fd)
            time.sleep(0.0005)
        raise SandboxError(f"the sandbox's network namespace did not appear within {_READY_TIMEOUT:g} s")

    def _start_slirp(self, unshare: str, slirp: str) -> None:
        ready_r, ready_w = os.pipe()
        exit_r, exit_w = os.pipe()
        self._exit_w = exit_w
        # slirp4netns's sandbox makes only "/" private (not recursively), pivots into a tmpfs and
        # detaches the old root. Detaching unmounts every mount whose parent is a shared mount in
        # the host's namespace too: Docker's /var/lib/docker is one, so each sandbox start took the
        # rootfs mounts of running containers and builds away (files missing, "exec /bin/sh: no such
        # file", broken cached layers). A mount namespace of private mounts around it propagates nothing.
        argv = [
            unshare, "--mount", "--propagation", "private", "--",
            slirp, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp",
            f"--ready-fd={ready_w}", f"--exit-fd={exit_r}", str(self._holder.pid), "tap0",
        ]  # fmt: skip
        try:
            self._slirp = subprocess.Popen(
                argv, pass_fds=(ready_w, exit_r), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            os.close(ready_r)
            raise SandboxError(f"cannot start slirp4netns: {exc}. {SLIRP_INSTALL}") from exc
        finally:
            os.close(ready_w)
            os.close(exit_r)
        self._ready_r = ready_r

    def _await_slirp(self) -> None:
        assert self._ready_r is not None and self._slirp is not None
        try:
            ready = _read_with_timeout(self._ready_r, _READY_TIMEOUT)
        finally:
            os.close(self._ready_r)
            self._ready_r = None
        if not ready:
            err = ""
            if self._slirp.poll() is not None and self._slirp.stderr is not None:
                err = self._slirp.stderr.read().decode("utf-8", "replace").strip()[-500:]
            raise SandboxError(f"slirp4netns did not bring up the sandbox's network: {err or 'no answer'}")

    def _block_host_addresses(self) -> None:
        lines = [f"route add unreachable {addr}/32" for addr in dict.fromkeys([*_host_addresses(), SLIRP_GATEWAY])]
        with self.entered():
            ip = subprocess.Popen(
                ["ip", "-batch", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        _, stderr = ip.communicate("\n".join(lines) + "\n")
        done = subprocess.CompletedProcess(ip.args, ip.returncode, "", stderr)
        if done.returncode != 0 and "File exists" not in done.stderr:
            raise SandboxError(f"cannot block the host's addresses in the sandbox's network: {done.stderr.strip()}")

    def close(self) -> None:
        """Stop slirp4netns and the holder. Idempotent; never raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            users = self._users
        if users == 0:
            self._close_netns()
        for fd in (self._exit_w, self._ready_r):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        # Neither process holds anything worth a graceful exit: the namespace dies with the holder.
        procs = [p for p in (self._slirp, getattr(self, "_holder", None)) if p is not None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        # A killed process takes tens of milliseconds to be gone (the kernel tears its namespaces
        # down); the sandbox's cleanup does not wait for that, a thread reaps them.
        threading.Thread(target=_reap, args=(procs,), name="cooperbench-netns-reap", daemon=True).start()


def _reap(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=60)
        for pipe in (proc.stdin, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def _read_with_timeout(fd: int, timeout: float) -> bytes:
    import select

    readable, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, 1) if readable else b""


def slirp_processes(holders: set[int]) -> list[int]:
    """Pids of the slirp4netns processes attached to one of ``holders``."""
    from cooperbench.backends.local._runs import process_argvs

    pids = []
    for pid, argv in process_argvs():
        # argv ends with [..., <holder pid>, "tap0", ""] (cmdline is NUL-terminated)
        target = argv[-3] if len(argv) >= 3 else ""
        if os.path.basename(argv[0]) == "slirp4netns" and target.isdigit() and int(target) in holders:
            pids.append(pid)
    return pids
