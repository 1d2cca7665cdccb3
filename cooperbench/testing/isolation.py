"""The isolation suite: what an agent inside a sandbox must not reach, probed from inside.

The conformance suite (:mod:`cooperbench.testing.conformance`) checks that a backend does
what it must; this suite checks that it keeps the agent under test, a curious or adversarial
process, away from what would let it cheat or escape. A backend distribution runs it against
itself in a few lines::

    import pytest
    from cooperbench.testing.isolation import BackendIsolation

    class TestDockerIsolation(BackendIsolation):
        @pytest.fixture(scope="class")
        @classmethod
        def backend(cls):
            return DockerBackend()

Each probe starts something real on the host (a unix socket server, a TCP listener on the
host's 127.0.0.1 and on its other addresses, an abstract unix socket, a ``redis-server``,
files with secret contents in the dataset, the harness checkout, ``$HOME``, ``/tmp`` ...),
then runs a Python script inside a sandbox (the sandbox needs ``python3``) that tries to
reach it. The probes:

- ``host_unix_sockets``: every unix socket file visible anywhere in the sandbox refuses a
  connection, host sockets planted for the probe included; the host's abstract sockets are
  unreachable.
- ``host_paths``: the dataset (the task's gold patch), the harness checkout, ``$HOME``,
  ``/root``, ``/home``, the host's ``/tmp``, ``/var/tmp``, ``/run`` and ``/dev/shm``, and the
  paths of :meth:`BackendIsolation.secret_paths` (a backend adds its cache) cannot be read.
- ``other_sandbox_files``: files another sandbox made (workspace, ``/tmp``, ``/patches``)
  are nowhere in this one.
- ``other_pair_git_remote``: a sandbox given one pair's git server cannot read or push to
  another pair's; one given none reaches neither.
- ``loopback_services``: TCP services on the host's ``127.0.0.1``/``::1`` and on each of the
  host's own addresses do not answer.
- ``other_run_messages``: a real ``redis-server`` of the host (the message bus of every run)
  does not answer ``PING``.
- ``history``: a task whose repository has commits after the base commit, a tag and another
  branch (:func:`cooperbench.testing.task_fixtures.task_with_future_history`) shows, inside
  the sandbox, the base commit and its ancestors only
  (:func:`cooperbench.git_history.leak_probe_script`: no other refs, reflog, object newer than
  the base).

A backend that cannot pass a probe overrides its test with ``@pytest.mark.xfail(reason=...)``
(defining the class fails otherwise). Each test calls a ``check_*`` function taking an
:class:`IsolationSubject`, so the probes also run outside the class: the core's own tests
show that each one fails on a deliberately weakened sandbox.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from cooperbench.backends.base import Backend, Sandbox, SandboxPurpose
from cooperbench.dataset import Task
from cooperbench.testing.conformance import GIT_IDENTITY, BackendSuite, Subject

__all__ = ["CHECKS", "BackendIsolation", "IsolationSubject"]

PROBE_PATH = "/tmp/cooperbench_isolation_probe.py"

# Runs inside the sandbox with the sandbox's python3; standard library only.
PROBE = r'''
import json, os, socket, stat, sys
req = json.loads(sys.argv[1])
out = {}
def find(predicate):
    """Paths of the whole tree (but /proc and /sys) that match a find(1) predicate, or None without find."""
    import shutil, subprocess
    if shutil.which("find") is None:
        return None
    argv = ["find", "/", "(", "-path", "/proc", "-o", "-path", "/sys", ")", "-prune", "-o", *predicate, "-print"]
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return done.stdout.decode(errors="replace").splitlines()
def walk(top, skip):
    stack = [top]
    while stack:
        path = stack.pop()
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        for e in entries:
            if e.path in skip:
                continue
            try:
                if e.is_symlink():
                    continue
                if e.is_dir():
                    stack.append(e.path)
                    continue
                yield e
            except OSError:
                continue
def connect_unix(address, timeout=3):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(address)
        return True
    except OSError:
        return False
    finally:
        s.close()
if "sockets" in req:
    reached = []
    seen = find(["-type", "s"])
    if seen is None:
        seen = []
        for e in walk("/", {"/proc", "/sys"}):
            try:
                if not e.is_file() and stat.S_ISSOCK(os.stat(e.path, follow_symlinks=False).st_mode):
                    seen.append(e.path)
            except OSError:
                pass
    for path in seen:
        if connect_unix(path):
            reached.append(path)
    for name in req.get("abstract", []):
        if connect_unix("\0" + name):
            reached.append("@" + name)
    for path in req["sockets"]:
        if connect_unix(path):
            reached.append(path)
    out["sockets_seen"], out["sockets_reached"] = seen, reached
if "read" in req:
    leaked = []
    for path, secret in req["read"]:
        try:
            with open(path, "rb") as fh:
                if secret.encode() in fh.read(1 << 20):
                    leaked.append(path)
        except OSError:
            pass
    out["read"] = leaked
if "names" in req:
    wanted = set(req["names"])
    predicate = ["("]
    for name in sorted(wanted):
        predicate += ["-name", name, "-o"]
    found = find(predicate[:-1] + [")"])
    if found is None:
        found = [e.path for e in walk("/", {"/proc", "/sys"}) if e.name in wanted]
    out["names"] = found
if "tcp" in req:
    reached = []
    for host, port, payload, expect in req["tcp"]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(4)
        try:
            s.connect((host, port))
            if payload:
                s.sendall(payload.encode())
                data = s.recv(100).decode(errors="replace")
                if expect in data:
                    reached.append(f"{host}:{port} answered {data.strip()!r}")
            else:
                reached.append(f"{host}:{port}")
        except OSError:
            pass
        finally:
            s.close()
    out["tcp"] = reached
print("CBISOLATION" + json.dumps(out))
'''


@dataclass
class IsolationSubject(Subject):
    """The backend under test, a task, and its resolved image; hands out labelled agent sandboxes.

    Attributes:
        secret_paths: host paths (beyond the suite's own list) whose files a sandbox must not
            read; a backend adds where it keeps its state (the local backend: its cache).
    """

    secret_paths: tuple[Path, ...] = ()
    label_prefix: ClassVar[str] = "isolation"
    purpose: ClassVar[SandboxPurpose] = "agent"


def probe(box: Sandbox, request: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Run the probe script inside ``box`` with ``request``; return what it found."""
    box.write_file(PROBE_PATH, PROBE)
    result = box.exec(["python3", PROBE_PATH, json.dumps(request)], timeout=timeout, cwd="/")
    marker = result.output.rfind("CBISOLATION")
    if result.returncode != 0 or marker < 0:
        raise AssertionError(
            f"the isolation probe did not run inside the sandbox (it needs python3 there): {result.output[-2000:]!r}"
        )
    found: dict[str, Any] = json.loads(result.output[marker + len("CBISOLATION") :].splitlines()[0])
    return found


# ---------------------------------------------------------------------------------- host fixtures


class _Listener:
    """A server socket answering every connection with a fixed reply, on a thread."""

    def __init__(self, sock: socket.socket, reply: bytes) -> None:
        self.sock = sock
        self.reply = reply
        sock.listen(16)
        sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.sendall(self.reply)

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(5)


def _unix_listener(address: str) -> _Listener:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(address)
    if not address.startswith("\0"):
        os.chmod(address, 0o777)  # reachable by any uid, so only the sandbox's walls stop it
    return _Listener(sock, b"host-unix-socket\n")


def host_addresses() -> list[str]:
    """The host's own addresses (every interface, IPv4 and IPv6 except link-local), loopback first."""
    found = ["127.0.0.1"]
    with contextlib.suppress(OSError, ValueError):
        out = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, check=False).stdout
        for link in json.loads(out or "[]"):
            for info in link.get("addr_info", []):
                with contextlib.suppress(KeyError, ValueError):
                    addr = ipaddress.ip_address(info["local"])
                    if not addr.is_link_local:
                        found.append(str(addr))
    return list(dict.fromkeys(found))


@contextlib.contextmanager
def _tcp_listeners() -> Iterator[list[tuple[str, int]]]:
    """One TCP listener per host address (each on its own port), answering a fixed line."""
    listeners, targets = [], []
    try:
        for addr in host_addresses():
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((addr, 0))
            except OSError:
                sock.close()
                continue
            listeners.append(_Listener(sock, b"host-tcp-service\n"))
            targets.append((addr, sock.getsockname()[1]))
        with contextlib.suppress(OSError):
            sock6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            sock6.bind(("::1", 0))
            listeners.append(_Listener(sock6, b"host-tcp-service\n"))
            targets.append(("::1", sock6.getsockname()[1]))
        yield targets
    finally:
        for listener in listeners:
            listener.close()


@contextlib.contextmanager
def _secret_files(extra: Sequence[Path]) -> Iterator[list[tuple[str, str]]]:
    """Files with a random secret in each host place a sandbox must not read; yields (path, secret)."""
    import cooperbench

    token = secrets.token_hex(8)
    made: list[Path] = []
    places = [
        Path(tempfile.gettempdir()),
        Path("/tmp"),
        Path("/var/tmp"),
        Path("/run"),
        Path("/dev/shm"),
        Path.home(),
        Path("/root"),
        Path("/home"),
        Path(cooperbench.__file__).resolve().parent,
        *extra,
    ]
    found: list[tuple[str, str]] = []
    try:
        for place in dict.fromkeys(places):
            if not place.is_dir():
                continue
            path = place / f".cooperbench-isolation-{token}"
            secret = f"host-secret-{secrets.token_hex(8)}"
            try:
                path.write_text(secret)
                path.chmod(0o644)
            except OSError:
                continue
            made.append(path)
            found.append((str(path), secret))
        yield found
    finally:
        for path in made:
            with contextlib.suppress(OSError):
                path.unlink()


# ---------------------------------------------------------------------------------- probes


def check_host_unix_sockets(s: IsolationSubject) -> None:
    token = secrets.token_hex(6)
    planted: list[str] = []
    listeners: list[_Listener] = []
    try:
        for place in dict.fromkeys([Path("/run"), Path("/var/tmp"), Path("/tmp"), Path("/dev/shm"), Path.home()]):
            path = place / f"cbiso-{token}.sock"
            with contextlib.suppress(OSError):
                listeners.append(_unix_listener(str(path)))
                planted.append(str(path))
        abstract = f"cooperbench-isolation-{token}"
        listeners.append(_unix_listener("\0" + abstract))
        with s.sandbox() as box:
            found = probe(box, {"sockets": planted, "abstract": [abstract]})
    finally:
        for listener in listeners:
            listener.close()
        for planted_path in planted:
            with contextlib.suppress(OSError):
                os.unlink(planted_path)
    assert found["sockets_reached"] == [], (
        f"unix sockets of the host answer inside the sandbox: {found['sockets_reached']} "
        f"(visible sockets: {found['sockets_seen']})"
    )


def check_host_paths(s: IsolationSubject) -> None:
    gold = s.task.feature_file(s.task.feature_ids[0], "feature.patch")
    import cooperbench

    readme = Path(str(cooperbench.__file__)).resolve().parents[1] / "pyproject.toml"
    with _secret_files(s.secret_paths) as planted, s.sandbox() as box:
        targets = [*planted, (str(gold), gold.read_text()[:200])]
        if readme.is_file():
            targets.append((str(readme), readme.read_text()[:200]))
        found = probe(box, {"read": targets})
    assert found["read"] == [], f"host files outside the sandbox's allowlist are readable inside: {found['read']}"


def check_other_sandbox_files(s: IsolationSubject) -> None:
    run = s.labels()
    names = [f"cbiso-{secrets.token_hex(6)}" for _ in range(3)]
    with s.sandbox(run) as one, s.sandbox(run) as two:
        for directory, name in zip(("/workspace/repo", "/tmp", "/patches"), names, strict=True):
            one.write_file(f"{directory}/{name}", "made in the other sandbox\n")
        found = probe(two, {"names": names})
    assert found["names"] == [], f"files another sandbox made are visible: {found['names']}"


def check_other_pair_git_remote(s: IsolationSubject) -> None:
    run = s.labels()
    with s.git_server(run) as mine, s.git_server(run) as theirs, s.sandbox(run, theirs.mounts) as partner:
        pushed = partner.exec(
            f"git checkout -qb agent1 && git commit -q --allow-empty -m theirs && git push -q {theirs.url} agent1",
            env=GIT_IDENTITY,
        )
        assert pushed.returncode == 0, f"a sandbox given the server's mounts pushes to it: {pushed.output}"
        with s.sandbox(run, mine.mounts) as box:
            peek = box.exec(f"git ls-remote {theirs.url}", timeout=60)
            push = box.exec(
                f"git checkout -qb intruder && git commit -q --allow-empty -m x && git push -q {theirs.url} intruder",
                env=GIT_IDENTITY,
                timeout=60,
            )
        with s.sandbox(run) as gitless:
            bare = [gitless.exec(f"git ls-remote {server.url}", timeout=60) for server in (mine, theirs)]
        heads = partner.exec(f"git ls-remote {theirs.url}").output
    assert "agent1" not in peek.output, f"another pair's git remote is readable: {peek.output!r}"
    assert "intruder" not in heads, f"another pair's git remote accepted a push: {push.output!r}"
    for result in bare:
        assert result.returncode != 0 and "agent1" not in result.output, (
            f"a sandbox given no git server reaches the run's remotes: {result.output!r}"
        )


def check_loopback_services(s: IsolationSubject) -> None:
    with _tcp_listeners() as targets, s.sandbox() as box:
        assert targets, "no host address to listen on"
        found = probe(box, {"tcp": [[host, port, "", ""] for host, port in targets]})
    assert found["tcp"] == [], f"TCP services of the host answer inside the sandbox: {found['tcp']}"


def check_other_run_messages(s: IsolationSubject) -> None:
    from cooperbench.testing.redis_server import redis_server

    if shutil.which("redis-server") is None:
        pytest.fail("the probe needs redis-server on the host (Debian: apt-get install redis-server)")
    with redis_server() as server, s.sandbox() as box:
        import redis

        client = redis.Redis(port=server.port)
        client.set("cooperbench:other-run:secret", "another run's message")
        targets = [[addr, server.port, "PING\r\n", "PONG"] for addr in host_addresses()]
        found = probe(box, {"tcp": targets})
    assert found["tcp"] == [], f"the host's Redis (every run's messages) answers inside the sandbox: {found['tcp']}"


def check_history(s: IsolationSubject) -> None:
    from cooperbench.git_history import leak_probe_script
    from cooperbench.testing.task_fixtures import FUTURE_MARKER, task_with_future_history

    with tempfile.TemporaryDirectory(prefix="cb-isolation-history-") as scratch:
        fixture = task_with_future_history(Path(scratch), s.task)
        image = s.backend.resolve_image(fixture.task)
        with s.sandbox(image=image) as box:
            head = box.exec("git rev-parse HEAD").output.strip()
            leaks = box.exec(leak_probe_script("/workspace/repo", fixture.base), timeout=120)
            present = box.exec(
                "for c in " + " ".join(fixture.future_commits) + "; do git cat-file -e $c 2>/dev/null && echo $c; done;"
                f" git log --all --format=%s | grep {FUTURE_MARKER}; git for-each-ref --format='%(refname)'"
            ).output
    assert head == fixture.base, f"HEAD is the base commit {fixture.base}, got {head!r}"
    assert leaks.returncode == 0 and leaks.output.strip() == "", (
        f"the repository shows more than the base commit and its ancestors: {leaks.output.strip()!r}"
    )
    seen = [line for line in present.splitlines() if line.strip()]
    assert seen == [], f"commits, tags or branches newer than the base are in the sandbox: {seen}"


CHECKS = {name.removeprefix("check_"): obj for name, obj in list(globals().items()) if name.startswith("check_")}


class BackendIsolation(BackendSuite):
    """Base class of a backend's isolation tests: subclass it and provide the ``backend`` fixture.

    Override :meth:`secret_paths` to add host paths the backend keeps state in. Overriding a
    ``test_*`` method requires ``@pytest.mark.xfail(reason=...)`` on the override.
    """

    suite_kind = "an isolation test"

    @classmethod
    def secret_paths(cls, backend: Backend) -> tuple[Path, ...]:
        """Host directories of the backend's own state a sandbox must not read (default: none)."""
        return ()

    @pytest.fixture(scope="class")
    @classmethod
    def isolation(cls, backend: Backend, task: Task) -> Iterator[IsolationSubject]:
        subject = IsolationSubject(backend, task, backend.resolve_image(task), secret_paths=cls.secret_paths(backend))
        yield subject
        subject.close()

    def test_host_unix_sockets(self, isolation: IsolationSubject) -> None:
        check_host_unix_sockets(isolation)

    def test_host_paths(self, isolation: IsolationSubject) -> None:
        check_host_paths(isolation)

    def test_other_sandbox_files(self, isolation: IsolationSubject) -> None:
        check_other_sandbox_files(isolation)

    def test_other_pair_git_remote(self, isolation: IsolationSubject) -> None:
        check_other_pair_git_remote(isolation)

    def test_loopback_services(self, isolation: IsolationSubject) -> None:
        check_loopback_services(isolation)

    def test_other_run_messages(self, isolation: IsolationSubject) -> None:
        check_other_run_messages(isolation)

    def test_history(self, isolation: IsolationSubject) -> None:
        check_history(isolation)
