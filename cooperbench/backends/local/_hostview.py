"""What of the host a local sandbox sees: an allowlist, never the whole host minus a few paths.

A sandbox's root is an empty tmpfs (bubblewrap's) holding only:

- the operating system, read-only: ``/usr`` (and the merged-usr links ``/bin``, ``/lib``, ...),
  ``/etc`` and ``/opt``, each minus what only root may read (``/etc/shadow``, private keys:
  files without the world-read bit, directories without world read and search), and ``/sys``;
- the interpreter and toolchains of the task, read-only at their host paths: what the
  template lists in its ``ro_paths`` (an interpreter under pyenv's root, rustup's home, which
  live under ``/root`` on many machines), and the certificate bundles and wheel folders that
  forwarded settings name;
- the sandbox's own directories (``/workspace``, ``/patches``, ``/tmp``, a fresh ``/run``,
  ``/var/tmp``, ``/dev``, ``/proc``) and its mounts.

Nothing else exists inside: not the dataset, the logs, the cache, the harness checkout,
``/root``, ``/home``, the host's ``/tmp``, ``/var`` or ``/run``. Host unix sockets are found
from the kernel's socket tables (``/proc/<pid>/net/unix`` of every network namespace), not from
a list of known paths, and any that lies in a visible directory is covered with ``/dev/null``.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["OS_DIRS", "forwarded_paths", "hidden_sockets", "host_view_args", "os_top_dirs"]

# Top-level host directories shown read-only (when they exist).
OS_DIRS = ("usr", "etc", "opt", "sys")
# Merged-usr names: a symlink on modern systems, else a directory shown read-only like /usr.
_USR_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Directories below which only root-readable entries are searched for and hidden. /usr holds
# no secrets by design, and walking it (hundreds of thousands of files) would cost seconds.
_SCRUBBED = ("/etc", "/opt")
_SCRUB_DEPTH = {"/etc": 8, "/opt": 3}


def os_top_dirs() -> frozenset[str]:
    """Names of the top-level host directories a sandbox sees read-only."""
    return frozenset(name for name in (*OS_DIRS, *_USR_LINKS) if os.path.lexists(f"/{name}"))


@functools.lru_cache(maxsize=1)
def _os_args() -> tuple[str, ...]:
    args: list[str] = []
    for name in _USR_LINKS:
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in OS_DIRS:
        if os.path.isdir(f"/{name}"):
            args += ["--ro-bind", f"/{name}", f"/{name}"]
    for top in _SCRUBBED:
        for path, is_dir in _root_only(top, _SCRUB_DEPTH[top]):
            args += ["--tmpfs", path] if is_dir else ["--ro-bind", "/dev/null", path]
    # /etc entries that point into the host's /run or /var (resolv.conf under systemd-resolved):
    # the file they name is shown at that path inside the sandbox's own /run.
    for entry in _scandir("/etc"):
        if entry.is_symlink():
            target = os.path.realpath(entry.path)
            if Path(target).parts[1:2] in (("run",), ("var",)) and _world_readable_file(target):
                args += ["--ro-bind", target, target]
    return tuple(args)


def _scandir(path: str) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(path))
    except OSError:
        return []


def _world_readable_file(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & stat.S_IROTH)


def _root_only(top: str, depth: int) -> list[tuple[str, bool]]:
    """Entries under ``top`` that another user could not read: (path, is a directory)."""
    found: list[tuple[str, bool]] = []
    stack = [(top, 0)]
    while stack:
        path, level = stack.pop()
        for entry in _scandir(path):
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            if stat.S_ISDIR(st.st_mode):
                if (st.st_mode & (stat.S_IROTH | stat.S_IXOTH)) != (stat.S_IROTH | stat.S_IXOTH):
                    found.append((entry.path, True))
                elif level < depth:
                    stack.append((entry.path, level + 1))
            elif not st.st_mode & stat.S_IROTH:
                found.append((entry.path, False))
    return sorted(found)


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _is_os_path(path: str) -> bool:
    parts = Path(path).parts
    return len(parts) > 1 and parts[1] in (*OS_DIRS, *_USR_LINKS)


_PATH_SETTINGS = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "PIP_FIND_LINKS",
)


@functools.lru_cache(maxsize=1)
def forwarded_paths() -> tuple[str, ...]:
    """Host paths named by the settings sandboxes inherit: certificate bundles, local wheel folders.

    ``SSL_CERT_FILE``, ``PIP_CERT``, ``PIP_FIND_LINKS`` and the like are forwarded into sandboxes
    (so pip and git behave as on the host); what they name is shown read-only, at its path.
    """
    found = []
    for key in _PATH_SETTINGS:
        for value in os.environ.get(key, "").split():
            if value.startswith("/") and os.path.exists(value):
                real = os.path.realpath(value)
                if not _is_os_path(real):
                    found.append(real)
    return tuple(dict.fromkeys(found))


def _netns_ids() -> dict[str, int]:
    """One pid per network namespace of the host (sockets are listed per namespace)."""
    seen: dict[str, int] = {}
    for entry in _scandir("/proc"):
        if entry.name.isdigit():
            try:
                seen.setdefault(os.readlink(f"/proc/{entry.name}/ns/net"), int(entry.name))
            except OSError:
                continue
    return seen


def hidden_sockets(visible: Sequence[str]) -> list[str]:
    """Host unix socket files that lie under ``visible`` directories.

    Every bound (named) unix socket of every network namespace is listed by the kernel in
    ``/proc/<pid>/net/unix``; a path there is the binder's view, so it is checked on the host
    (it must exist here as a socket) before it is hidden.
    """
    found = set()
    for pid in _netns_ids().values():
        try:
            lines = Path(f"/proc/{pid}/net/unix").read_text(errors="replace").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split(None, 7)
            if len(fields) == 8 and fields[7].startswith("/"):
                found.add(fields[7])
    sockets = []
    for path in sorted(found):
        real = os.path.realpath(path)
        if not _under(real, visible):
            continue
        try:
            if stat.S_ISSOCK(os.stat(real).st_mode):
                sockets.append(real)
        except OSError:
            continue
    return sockets


def host_view_args(ro_paths: Sequence[str] = ()) -> list[str]:
    """bwrap arguments that build the sandbox's view of the host (see the module docstring)."""
    args = list(_os_args())
    tools = [p for p in dict.fromkeys([*map(os.path.realpath, ro_paths), *forwarded_paths()]) if os.path.exists(p)]
    for path in tools:
        args += ["--ro-bind", path, path]
    visible = [f"/{name}" for name in OS_DIRS if os.path.isdir(f"/{name}")] + tools
    for sock in hidden_sockets(visible):
        args += ["--ro-bind", "/dev/null", sock]
    return args
