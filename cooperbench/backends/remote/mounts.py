"""Providing :class:`~cooperbench.backends.base.Mount` on a sandbox that runs on another machine.

A remote sandbox cannot see this host's files, so a mount is provided as a copy: files and
directories are written into the sandbox when it is created, then made read-only. What a copy
cannot honour is refused with a :class:`~cooperbench.errors.SandboxError` naming the mount:

- a unix socket (it would lead nowhere on another machine);
- a writable mount (writes inside the sandbox would never reach the host);
- a source that does not exist.

:func:`check_copyable` runs before the sandbox is created, so a refused mount starts nothing.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from cooperbench.backends.base import ExecResult, Mount
from cooperbench.errors import SandboxError

__all__ = ["CopyTarget", "check_copyable", "copy_mounts"]

# Copies beyond this are refused: a mount is for small things (a credential, a scratchpad), not a dataset.
MAX_COPY_BYTES = 64 * 1024 * 1024


class CopyTarget(Protocol):
    """What :func:`copy_mounts` needs of a sandbox."""

    def write_file(self, path: str, data: bytes | str, *, mode: int = 0o644) -> None: ...

    def exec(
        self,
        command: str | list[str],
        *,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> ExecResult: ...


def _refuse(backend: str, mount: Mount, why: str) -> SandboxError:
    return SandboxError(f"{backend}: cannot provide mount {mount.source} -> {mount.target}: {why}")


def _files(backend: str, mount: Mount) -> list[tuple[Path, str]]:
    """``(host file, sandbox path)`` of every regular file a mount shows."""
    source = Path(mount.source)
    if not source.is_dir():
        return [(source, mount.target)]
    found: list[tuple[Path, str]] = []
    for root, _dirs, names in os.walk(source):
        for name in sorted(names):
            path = Path(root) / name
            kind = path.lstat().st_mode
            if stat.S_ISSOCK(kind):
                raise _refuse(backend, mount, f"{path} is a unix socket, which a sandbox elsewhere cannot reach")
            if stat.S_ISREG(kind):
                found.append((path, f"{mount.target}/{path.relative_to(source).as_posix()}"))
    return found


def check_copyable(backend: str, mounts: Sequence[Mount]) -> None:
    """Refuse, before anything starts, the mounts a copy cannot provide.

    Raises:
        SandboxError: a mount is a unix socket, writable, missing, or too large to copy.
    """
    for mount in mounts:
        source = Path(mount.source)
        try:
            kind = source.stat().st_mode
        except OSError:
            raise _refuse(backend, mount, "the source does not exist on this host") from None
        if stat.S_ISSOCK(kind):
            raise _refuse(backend, mount, "a unix socket of this host cannot be reached from a sandbox elsewhere")
        if not mount.read_only:
            raise _refuse(
                backend,
                mount,
                "writable mounts are not supported (files are copied into the sandbox, so its writes would never "
                "reach this host)",
            )
        size = sum(path.stat().st_size for path, _ in _files(backend, mount))
        if size > MAX_COPY_BYTES:
            raise _refuse(backend, mount, f"{size} bytes is more than the {MAX_COPY_BYTES} bytes a mount may copy")


def copy_mounts(backend: str, sandbox: CopyTarget, mounts: Sequence[Mount]) -> None:
    """Copy each mount's files into ``sandbox`` at its target, then make the copies read-only.

    Raises:
        SandboxError: a file cannot be read here or written there.
    """
    for mount in mounts:
        for path, target in _files(backend, mount):
            try:
                data = path.read_bytes()
                mode = path.stat().st_mode & 0o755 | 0o444
            except OSError as exc:
                raise _refuse(backend, mount, f"cannot read {path}: {exc.strerror or exc}") from exc
            sandbox.write_file(target, data, mode=mode)
        if Path(mount.source).is_dir():
            made = sandbox.exec(["mkdir", "-p", mount.target], timeout=60, cwd="/")
            if made.returncode != 0:
                raise _refuse(backend, mount, f"mkdir failed: {made.output.strip()}")
    if mounts:
        targets = " ".join(shlex.quote(m.target) for m in mounts)
        done = sandbox.exec(f"chmod -R a-w {targets}", timeout=60, cwd="/")
        if done.returncode != 0:
            raise SandboxError(f"{backend}: cannot make the mounted copies read-only: {done.output.strip()}")
