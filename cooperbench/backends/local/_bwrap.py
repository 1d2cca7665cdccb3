"""Running commands under bubblewrap: finding ``bwrap``, building its argv, killing on timeout.

Every command runs in a fresh ``bwrap`` with its own PID namespace: when the command (or a
timeout) ends, the namespace's init dies and the kernel kills every process left in it, so
nothing a command started outlives it.

Two views of the host: :func:`isolated_argv` (agent and evaluation sandboxes) shows only an
allowlist of it (:mod:`._hostview`); :func:`sandbox_argv` (template builds, which run the
dataset's own trusted ``setup.sh`` and need the user's git mirrors) shows the whole host
read-only, top-level directory by top-level directory.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cooperbench.backends.base import Mount
from cooperbench.backends.local import _hostview
from cooperbench.errors import SandboxError

__all__ = [
    "Bind",
    "Completed",
    "find_bwrap",
    "isolated_argv",
    "mount_binds",
    "probe",
    "run",
    "sandbox_argv",
    "sandbox_env",
]

INSTALL_HINT = (
    "the local backend runs sandboxes with bubblewrap. Install it: `sudo apt-get install bubblewrap` "
    "(Debian/Ubuntu), `sudo dnf install bubblewrap` (Fedora), `sudo pacman -S bubblewrap` (Arch), "
    "`sudo zypper install bubblewrap` (openSUSE); or choose another backend, e.g. --backend docker"
)

# Paths each sandbox gets its own copy of; the host's versions (if any) stay hidden.
SANDBOX_PATHS = frozenset({"dev", "proc", "tmp", "workspace", "patches", "git", "task", "run"})
# Of those, the ones a Mount may not replace whole (it may go below them).
_OWN_ROOTS = frozenset({"/dev", "/proc", "/tmp", "/workspace", "/patches", "/task"})

# Sockets of container engines: reachable through a read-only bind (connect() needs no write
# access to the mount), and owning one is owning the host. Masked with /dev/null.
ENGINE_SOCKETS = (
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/podman/podman.sock",
    "/run/crio/crio.sock",
)

# Host environment variables a sandbox inherits: locale, proxies, package-index and CA
# settings (so pip behaves as on the host). Nothing else leaks in, API keys included.
_FORWARD = frozenset(
    {
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TZ",
        "USER",
        "LOGNAME",
        "TERM",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO",
    }
)
_FORWARD_PREFIXES = ("PIP_", "UV_")

log = logging.getLogger(__name__)

# After a kill, how long to wait for the pipes to close before giving up on the output.
_KILL_GRACE = 5.0


@dataclass(frozen=True)
class Bind:
    """A host path mounted at ``dest`` inside the sandbox."""

    src: Path
    dest: str
    writable: bool = True


@dataclass
class Completed:
    """What a finished (or killed) process left: raw output, status, whether it timed out.

    ``limit`` names the resource limit the harness ended it for (``"pids"``), if any.
    """

    stdout: bytes
    stderr: bytes
    returncode: int
    timed_out: bool
    duration: float
    limit: str | None = None


def mount_binds(mounts: Sequence[Mount]) -> tuple[Bind, ...]:
    """The binds of a sandbox's :class:`~cooperbench.backends.base.Mount` list, checked.

    Raises:
        SandboxError: a source does not exist, or a target is inside a host directory the
            sandbox sees read-only (no mount point can be made there) or replaces one of the
            sandbox's own directories.
    """
    binds = []
    for mount in mounts:
        if not isinstance(mount, Mount):
            raise SandboxError(f"local backend: mounts must be cooperbench.backends.base.Mount, got {mount!r}")
        if not os.path.exists(mount.source):
            raise SandboxError(
                f"local backend: cannot mount {mount.source} at {mount.target}: no such file or directory"
            )
        top = Path(mount.target).parts[1]
        if mount.target in _OWN_ROOTS or top in _hostview.os_top_dirs() or mount.target in ("/var", "/var/tmp"):
            raise SandboxError(
                f"local backend: cannot mount {mount.source} at {mount.target}: the target must lie outside the "
                "host directories a sandbox sees read-only and must not replace /workspace, /patches or /tmp "
                "(use a path under /run/cooperbench/, /git/ or /workspace/)"
            )
        binds.append(Bind(mount.source, mount.target, writable=not mount.read_only))
    return tuple(binds)


def sandbox_env(*, home: str, path_prefix: Sequence[str] = ()) -> dict[str, str]:
    """The environment commands start with: forwarded host settings, ``HOME``, ``TMPDIR`` and ``PATH``.

    ``PATH`` is the host's minus the harness's own virtualenv (its ``python`` must not be the
    sandbox's), after ``path_prefix``.
    """
    env = {k: v for k, v in os.environ.items() if k in _FORWARD or k.startswith(_FORWARD_PREFIXES)}
    own_bin = os.path.join(sys.prefix, "bin") if sys.prefix != sys.base_prefix else None
    host_path = [p for p in os.environ.get("PATH", os.defpath).split(os.pathsep) if p and p != own_bin]
    env["PATH"] = os.pathsep.join([*path_prefix, *host_path])
    env.setdefault("LANG", "C.UTF-8")
    env.update({"HOME": home, "TMPDIR": "/tmp"})
    return env


def find_bwrap() -> str:
    """Absolute path of ``bwrap`` on ``PATH``.

    Raises:
        SandboxError: bubblewrap is not installed; the message says how to install it.
    """
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxError(f"bubblewrap (`bwrap`) not found on PATH ({os.environ.get('PATH', '')}): {INSTALL_HINT}")
    return path


@functools.lru_cache(maxsize=8)
def probe(bwrap: str) -> None:
    """Check once per process that ``bwrap`` can create namespaces here.

    Raises:
        SandboxError: bwrap fails (typically user namespaces are disabled); the message has its error.
    """
    argv = [bwrap, "--die-with-parent", "--unshare-pid", *host_root_args(), "--dev", "/dev", "--proc", "/proc", "true"]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"{bwrap}: cannot start bubblewrap: {exc}") from exc
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        hint = "use --backend docker, or report this with the message above"
        if "namespace" in message or "not permitted" in message:
            hint = (
                "unprivileged user namespaces look disabled: enable them "
                "(`sysctl kernel.unprivileged_userns_clone=1`, or on Ubuntu 24.04+ "
                "`sysctl kernel.apparmor_restrict_unprivileged_userns=0`), or use --backend docker"
            )
        raise SandboxError(f"{bwrap} cannot create a sandbox on this host: {message}; {hint}")


@functools.lru_cache(maxsize=1)
def host_root_args() -> tuple[str, ...]:
    """bwrap arguments that show the host's ``/`` read-only, except the sandbox's own paths."""
    args: list[str] = []
    for entry in sorted(os.scandir("/"), key=lambda e: e.name):
        if entry.name in SANDBOX_PATHS:
            continue
        path = f"/{entry.name}"
        if entry.is_symlink():
            args += ["--symlink", os.readlink(path), path]
        elif entry.is_dir() or entry.is_file():
            args += ["--ro-bind", path, path]
    for sock in dict.fromkeys(os.path.realpath(s) for s in ENGINE_SOCKETS):
        if os.path.exists(sock) and _visible(sock):
            args += ["--ro-bind", "/dev/null", sock]
    if os.geteuid() == 0:
        # A root-run bwrap keeps every capability unless told otherwise; without them the
        # read-only mounts cannot be remounted writable from inside.
        args += ["--cap-drop", "ALL"]
    return tuple(args)


def _visible(path: str | Path) -> bool:
    """Whether a host path shows inside a sandbox (it is not under one of the sandbox's own paths)."""
    parts = Path(path).parts
    return len(parts) > 1 and parts[1] not in SANDBOX_PATHS


def sandbox_argv(
    bwrap: str,
    binds: Sequence[Bind],
    command: Sequence[str],
    *,
    cwd: str,
    hide: Sequence[Path] = (),
    share_net: bool = True,
) -> list[str]:
    """The full ``bwrap`` command line for one command in one sandbox.

    Args:
        bwrap: path of the bwrap binary.
        binds: the sandbox's own directories (``/workspace``, ``/patches``, ``/tmp``, ...).
        command: argv run inside.
        cwd: working directory inside the sandbox.
        hide: host directories replaced by an empty tmpfs (the backend's cache, so one run's
            sandboxes cannot read another's files through the read-only host view).
        share_net: keep the host network (agents install packages); ``False`` unshares it.
    """
    argv = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--new-session"]
    if not share_net:
        argv.append("--unshare-net")
    argv += host_root_args()
    argv += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/run"]
    for path in hide:
        if _visible(path) and path.is_dir():
            argv += ["--tmpfs", str(path)]
    for bind in binds:
        argv += ["--bind" if bind.writable else "--ro-bind", str(bind.src), bind.dest]
    for harness in harness_paths():
        argv += ["--ro-bind", harness, harness]
    argv += ["--chdir", cwd, "--", *command]
    return argv


def isolated_argv(
    bwrap: str,
    binds: Sequence[Bind],
    command: Sequence[str],
    *,
    cwd: str,
    view: Sequence[str],
    unshare_net: bool,
) -> list[str]:
    """The command line of one command in an agent or evaluation sandbox.

    Args:
        bwrap: path of the bwrap binary.
        binds: the sandbox's own directories and its mounts, in mount order.
        command: argv run inside.
        cwd: working directory inside the sandbox.
        view: the sandbox's view of the host (:func:`._hostview.host_view_args`, computed once
            per sandbox: finding the host's sockets reads the kernel's tables).
        unshare_net: give the command a network namespace of its own (no network at all);
            ``False`` keeps the one bwrap is started in (see :func:`run`'s ``enter``).
    """
    argv = [bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--new-session"]
    if unshare_net:
        argv.append("--unshare-net")
    argv += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/run", "--dir", "/var", "--tmpfs", "/var/tmp"]
    argv += ["--symlink", "../run", "/var/run"]
    argv += view
    for bind in binds:
        argv += ["--bind" if bind.writable else "--ro-bind", str(bind.src), bind.dest]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]
    argv += ["--chdir", cwd, "--", *command]
    return argv


@functools.lru_cache(maxsize=1)
def harness_paths() -> tuple[str, ...]:
    """The harness's interpreter and virtualenv when they live under a sandbox's own paths (say ``/tmp``).

    Task virtualenvs borrow the harness's packages (pytest); a harness installed under ``/tmp``
    would otherwise be hidden by the sandbox's private ``/tmp``. Shown read-only, at the same path.
    """
    found = []
    for prefix in dict.fromkeys([sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix)]):
        if os.path.isdir(prefix) and not _visible(prefix):
            found.append(prefix)
    return tuple(found)


# bwrap binds the host's directories recursively; a container engine mounting or unmounting an
# overlay under one of them at that very moment makes the remount fail ("Unable to apply mount
# flags"). Nothing ran in the sandbox yet, so the command is simply started again.
_MOUNT_RACE = b"Unable to apply mount flags"
_MOUNT_RACE_TRIES = 4


def run(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    timeout: float | None,
    stdin: bytes | None = None,
    merge_stderr: bool = True,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
    on_end: Callable[[subprocess.Popen[bytes]], None] | None = None,
    place: Callable[[int], None] | None = None,
    enter: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
) -> Completed:
    """Run ``argv`` to completion; on timeout kill its process group and keep the output so far.

    Args:
        place: moves a pid into the cgroups the sandboxed command must run in. bwrap
            (``argv[0]``) reports its sandbox's init process and waits (``--info-fd``,
            ``--block-fd``) while ``place`` moves the init, so everything the command forks is
            inside from the start.
        enter: a context in which the calling thread starts bwrap (the sandbox's network namespace).

    Raises:
        SandboxError: the process cannot be started.
    """
    for attempt in range(1, _MOUNT_RACE_TRIES + 1):
        done = _run_once(argv, env=env, timeout=timeout, stdin=stdin, merge_stderr=merge_stderr,
                         on_start=on_start, on_end=on_end, place=place, enter=enter)  # fmt: skip
        first_line = (done.stdout if merge_stderr else done.stderr).split(b"\n", 1)[0]
        if not (done.returncode == 1 and first_line.startswith(b"bwrap: ") and _MOUNT_RACE in first_line):
            return done
        time.sleep(0.05 * attempt)
    return done


def _run_once(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    timeout: float | None,
    stdin: bytes | None,
    merge_stderr: bool,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None,
    on_end: Callable[[subprocess.Popen[bytes]], None] | None,
    place: Callable[[int], None] | None = None,
    enter: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
) -> Completed:
    started = time.monotonic()
    fds: tuple[int, ...] = ()
    if place is not None:
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe()
        fds = (info_w, block_r)
        argv = [argv[0], "--info-fd", str(info_w), "--block-fd", str(block_r), *argv[1:]]
    try:
        with enter() if enter is not None else contextlib.nullcontext():
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                env=env,
                start_new_session=True,  # its own process group, killed as one
                pass_fds=fds,
            )
    except OSError as exc:
        raise SandboxError(f"cannot start {argv[0]}: {exc}") from exc
    finally:
        for fd in fds:
            os.close(fd)
    if place is not None:
        _enter_cgroups(info_r, block_w, place)
    if on_start is not None:
        on_start(proc)
    timed_out = False
    try:
        try:
            out, err = proc.communicate(input=stdin, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            timed_out = True
            kill(proc)
            try:
                out, err = proc.communicate(timeout=_KILL_GRACE)
            except subprocess.TimeoutExpired:
                # Something escaped the kill and holds the pipe: return what was read.
                out, err = exc.stdout or b"", exc.stderr or b""
    except BaseException:
        kill(proc)
        raise
    finally:
        if on_end is not None:
            on_end(proc)
    return Completed(
        out or b"",
        err or b"",
        proc.returncode if proc.returncode is not None else -9,
        timed_out,
        time.monotonic() - started,
    )


def _enter_cgroups(info_r: int, block_w: int, place: Callable[[int], None]) -> None:
    """Move the sandbox's init (bwrap reports its pid, then waits) into the cgroups, then let it go on."""
    try:
        raw = b""
        while b"}" not in raw:
            chunk = os.read(info_r, 4096)  # bwrap writes its status at once, or exits (EOF)
            if not chunk:
                break
            raw += chunk
        try:
            child = int(json.loads(raw)["child-pid"])
        except (ValueError, KeyError, TypeError):
            return  # bwrap failed before starting the sandbox; its error is in its output
        place(child)
    finally:
        os.close(info_r)
        with contextlib.suppress(OSError):
            os.write(block_w, b"g")
        os.close(block_w)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group of ``proc`` (bwrap's ``--die-with-parent`` takes the sandbox with it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
