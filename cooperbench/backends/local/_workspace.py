"""A local sandbox's ``/workspace``: an overlay of its template, or a copy where none can be mounted.

As root, the workspace is a kernel overlayfs mount on the host: the template's ``workspace``
and ``shared`` directories are its read-only lower layers, the sandbox's ``upper`` directory
takes every change (copied up on first write, with the permission checks of the writer), so a
new sandbox costs one ``mount`` instead of copying the repository and hard-linking the
thousands of files of its virtualenv, and its removal deletes only what it changed. The
template is never written through the overlay. Where no overlay can be mounted (not root, a
cache on a filesystem overlayfs cannot use as upper layer, a path overlayfs options cannot
spell), the template is copied as before.

Overlay mounts live in the harness's mount namespace, below the sandbox's directory:
:func:`unmount_under` detaches them before a directory is deleted (sandbox cleanup, and the
sweep of a crashed run's directory by ``cooperbench cleanup``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import logging
import os
import subprocess
from pathlib import Path

from cooperbench.errors import SandboxError

__all__ = ["create_workspace", "mounts_under", "unmount_under"]

log = logging.getLogger(__name__)

MS_NOSUID = 0x2
MS_NODEV = 0x4
MNT_DETACH = 0x2
# Characters overlayfs's option string cannot hold in a directory name (separators, escapes).
_UNSPELLABLE = frozenset(",:\\=\n")


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _overlay(lowers: list[Path], upper: Path, work: Path, target: Path) -> OSError | None:
    """Mount the overlay; the error when the kernel refuses (None when mounted)."""
    paths = [*lowers, upper, work]
    if any(set(str(p)) & _UNSPELLABLE for p in paths):
        return OSError(errno.EINVAL, "a directory name holds a character overlayfs options cannot spell")
    # redirect_dir: renaming a directory of the template (`git mv src lib`, pip moving a package
    # aside) works as on a copy; without it overlayfs answers EXDEV. A kernel without the option
    # refuses the mount, and the sandbox gets a copy.
    options = f"lowerdir={':'.join(map(str, lowers))},upperdir={upper},workdir={work},redirect_dir=on"
    try:
        libc = _libc()
        done = libc.mount(b"overlay", os.fsencode(target), b"overlay", MS_NOSUID | MS_NODEV, os.fsencode(options))
    except (OSError, AttributeError) as exc:  # no libc mount() here
        return OSError(errno.ENOSYS, str(exc))
    if done != 0:
        code = ctypes.get_errno()
        return OSError(code, os.strerror(code))
    return None


_refused: list[str] = []


def create_workspace(template_workspace: Path, shared: Path | None, root: Path, *, shared_linked: bool) -> str:
    """Make ``root/workspace`` from the template: ``"overlay"`` when mounted, else ``"copy"``.

    ``shared`` (the template's task environment) is merged over the workspace. As overlay, the
    sandbox's changes go to ``root/upper`` (``root/work`` is overlayfs's scratch directory).
    A copy hard-links the files of ``shared`` when ``shared_linked`` (see ``Template.shared_linked``).

    Raises:
        SandboxError: the copy fails (the message names the template and the error).
    """
    workspace = root / "workspace"
    workspace.mkdir()
    if not _refused:
        upper, work = root / "upper", root / "work"
        upper.mkdir()
        work.mkdir()
        lowers = [shared, template_workspace] if shared is not None else [template_workspace]
        error = _overlay(lowers, upper, work, workspace)
        if error is None:
            return "overlay"
        upper.rmdir()
        work.rmdir()
        if error.errno in (errno.EPERM, errno.ENODEV, errno.ENOSYS):
            # Not root, or no overlayfs in this kernel: it will not work later either.
            _refused.append(str(error))
        log.info("local backend: cannot mount an overlay workspace at %s (%s); copying the template", workspace, error)
    copies = [["cp", "-a", "--reflink=auto", f"{template_workspace}/.", str(workspace)]]
    if shared is not None:
        # The task environment: hard links to files no sandbox can change (see Template.shared).
        link = "-l" if shared_linked else "--reflink=auto"
        copies.append(["cp", "-a", link, f"{shared}/.", str(workspace)])
    for argv in copies:
        copy = subprocess.run(argv, capture_output=True, text=True, check=False)
        if copy.returncode != 0:
            raise SandboxError(f"cannot copy the template {template_workspace} to {workspace}: {copy.stderr.strip()}")
    return "copy"


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in this process's mount namespace, deepest first.

    The table names mounts by their real path, so ``path`` is resolved first: a cache reached
    through a symlink (``~/.cache`` linked to another disk) must still find its workspaces.
    """
    path = Path(os.path.realpath(path))
    prefix = str(path).rstrip("/") + "/"
    found = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as table:
            for line in table:
                fields = line.split(" ", 5)
                if len(fields) > 4:
                    point = _unescape(fields[4])
                    if point == str(path) or point.startswith(prefix):
                        found.append(point)
    except OSError:
        return []
    return sorted(dict.fromkeys(found), key=lambda p: p.count("/"), reverse=True)


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def unmount_under(path: Path) -> list[str]:
    """Detach every mount at or below ``path`` (lazily: a process still using one keeps it alive).

    Returns:
        The mount points detached. Never raises; a mount that cannot be detached is logged.
    """
    detached: list[str] = []
    for point in mounts_under(path):
        try:
            done = _libc().umount2(os.fsencode(point), MNT_DETACH)
        except (OSError, AttributeError):
            return detached
        if done == 0:
            detached.append(point)
        else:
            code = ctypes.get_errno()
            if code not in (errno.EINVAL, errno.ENOENT):
                log.warning("local backend: cannot unmount %s: %s", point, os.strerror(code))
    return detached
