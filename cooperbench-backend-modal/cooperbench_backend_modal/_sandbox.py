"""A Modal Sandbox as a CooperBench sandbox, and a git server sandbox."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from cooperbench.backends.base import REPO_DIR, ExecResult, Mount
from cooperbench.backends.remote import ServerAccess, authorize_command, exec_result, wrap
from cooperbench.errors import SandboxError

if TYPE_CHECKING:
    from cooperbench_backend_modal.backend import ModalBackend

__all__ = ["ModalGitServer", "ModalSandbox"]

# How long past a command's own timeout Modal's exec timeout fires (the wrapper should act first).
_EXEC_BACKSTOP = 30


class ModalSandbox:
    """One Modal Sandbox; see :class:`cooperbench.backends.base.Sandbox` for the contract."""

    def __init__(self, raw: Any, backend: ModalBackend) -> None:
        self.raw = raw
        self.backend = backend
        self.id = str(raw.object_id)
        self.closed = False

    def _alive(self) -> None:
        if self.closed:
            raise SandboxError(f"modal: sandbox {self.id} was cleaned up; create a new one")

    def authorize(self, base: str, token: str) -> None:
        """Make git send a git server's token to that server at ``base`` (and only there)."""
        result = self.exec(authorize_command(base, token))
        if result.returncode != 0:
            raise SandboxError(f"modal: cannot configure git in sandbox {self.id}: {result.output.strip()}")

    def exec(
        self,
        command: str | list[str],
        *,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> ExecResult:
        self._alive()
        limit = timeout if timeout is not None else self.backend.exec_timeout
        started = time.monotonic()
        try:
            process = self.raw.exec(
                *wrap(command, limit),
                workdir=cwd or REPO_DIR,
                env=dict(env) if env else None,
                timeout=int(limit) + _EXEC_BACKSTOP,
                text=False,
            )
            output = process.stdout.read()
            control = process.stderr.read()
            returncode = process.wait()
        except self.backend.sdk.exception.Error as exc:
            raise self.backend.translate(exc, f"exec in sandbox {self.id}") from exc
        # Modal reports -1 when its own exec timeout (the backstop) ended the command.
        backstop = returncode == -1 and time.monotonic() - started >= limit
        return exec_result(output, control, returncode, started=started, timed_out=backstop)

    def write_file(self, path: str, data: bytes | str, *, mode: int = 0o644) -> None:
        self._alive()
        payload = data.encode() if isinstance(data, str) else bytes(data)
        try:
            self.raw.filesystem.write_bytes(payload, path)
        except self.backend.sdk.exception.Error as exc:
            raise self.backend.translate(exc, f"cannot write {path} in sandbox {self.id}") from exc
        if mode != 0o644:
            result = self.exec(["chmod", format(mode, "o"), path], timeout=60, cwd="/")
            if result.returncode != 0:
                raise SandboxError(f"modal: cannot chmod {path} in sandbox {self.id}: {result.output.strip()}")

    def read_file(self, path: str) -> bytes:
        self._alive()
        exceptions = self.backend.sdk.exception
        try:
            return bytes(self.raw.filesystem.read_bytes(path))
        except exceptions.SandboxFilesystemNotFoundError as exc:
            raise FileNotFoundError(f"{path}: no such file in sandbox {self.id}") from exc
        except exceptions.Error as exc:
            raise self.backend.translate(exc, f"cannot read {path} in sandbox {self.id}") from exc

    def cleanup(self) -> None:
        if self.closed:
            return
        self.closed = True
        # Cleanup never raises; the lifetime cap removes whatever is left.
        with contextlib.suppress(Exception):
            self.raw.terminate()


class ModalGitServer:
    """One git server sandbox; ``url`` is its repository's URL through the tunnel.

    Attributes:
        mounts: the access mount: a sandbox created with it may reach this server (and no other sandbox).
    """

    def __init__(
        self, url: str, sandbox: ModalSandbox, run_id: str, mounts: tuple[Mount, ...], access: ServerAccess
    ) -> None:
        self.url = url
        self.sandbox = sandbox
        self.run_id = run_id
        self.mounts = mounts
        self._access = access

    def cleanup(self) -> None:
        for mount in self.mounts:
            self._access.remove(mount)
        self.sandbox.cleanup()
