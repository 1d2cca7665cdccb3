"""The task container on one VM, driven over SSH: the GCP backend's sandbox and git server objects."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from cooperbench.backends.base import REPO_DIR, ExecResult, Mount
from cooperbench.backends.remote import ServerAccess, authorize_command, exec_result, wrap
from cooperbench.errors import SandboxError
from cooperbench_backend_gcp._vm import SSHChannel

if TYPE_CHECKING:
    from cooperbench_backend_gcp.backend import GCPBackend

__all__ = ["CONTAINER", "GCPGitServer", "GCPSandbox"]

CONTAINER = "sandbox"
# How long past a command's own timeout the SSH channel gives up (the wrapper should act first).
_EXEC_BACKSTOP = 60


class GCPSandbox:
    """The task container on one VM; see :class:`cooperbench.backends.base.Sandbox` for the contract."""

    def __init__(self, name: str, channel: SSHChannel, backend: GCPBackend) -> None:
        self.id = name
        self.channel = channel
        self.backend = backend
        self.closed = False
        self._cleanup_lock = threading.Lock()

    def _alive(self) -> None:
        if self.closed:
            raise SandboxError(f"gcp: sandbox {self.id} was cleaned up; create a new one")

    def _docker_exec(
        self, argv: list[str], *, interactive: bool = False, cwd: str | None = None, env: dict[str, str] | None = None
    ) -> list[str]:
        command = ["sudo", "docker", "exec"] + (["-i"] if interactive else [])
        if cwd:
            command += ["-w", cwd]
        for key, value in (env or {}).items():
            command += ["-e", f"{key}={value}"]
        return [*command, CONTAINER, *argv]

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
        out, err, code = self.channel.run(
            self._docker_exec(wrap(command, limit), cwd=cwd or REPO_DIR, env=env), timeout=limit + _EXEC_BACKSTOP
        )
        return exec_result(out, err, code, started=started)

    def authorize(self, base: str, token: str) -> None:
        """Make git send a git server's token to that server at ``base`` (and only there)."""
        result = self.exec(authorize_command(base, token))
        if result.returncode != 0:
            raise SandboxError(f"gcp: cannot configure git in sandbox {self.id}: {result.output.strip()}")

    def write_file(self, path: str, data: bytes | str, *, mode: int = 0o644) -> None:
        self._alive()
        payload = data.encode() if isinstance(data, str) else bytes(data)
        script = 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"'
        out, err, code = self.channel.run(
            self._docker_exec(["sh", "-c", script, "write", path, format(mode, "o")], interactive=True),
            stdin=payload,
            timeout=600,
        )
        if code != 0:
            raise SandboxError(
                f"gcp: cannot write {path} in sandbox {self.id}: {(out + err).decode('utf-8', 'replace')}"
            )

    def read_file(self, path: str) -> bytes:
        self._alive()
        script = '[ -f "$1" ] || exit 44; exec cat "$1"'
        out, err, code = self.channel.run(self._docker_exec(["sh", "-c", script, "read", path]), timeout=600)
        if code == 44:
            raise FileNotFoundError(f"{path}: no such file in sandbox {self.id}")
        if code != 0:
            raise SandboxError(f"gcp: cannot read {path} in sandbox {self.id}: {err.decode('utf-8', 'replace')}")
        return out

    def cleanup(self) -> None:
        with self._cleanup_lock:
            if self.closed:
                return
            self.closed = True
        self.channel.close()
        self.backend._delete_quietly(self.id)


class GCPGitServer:
    """A git server VM; ``url`` is its repository's URL on the VPC.

    Attributes:
        mounts: the access mount: a sandbox created with it may reach this server (and no other sandbox).
    """

    def __init__(self, url: str, vm: GCPSandbox, mounts: tuple[Mount, ...], access: ServerAccess) -> None:
        self.url = url
        self.vm = vm
        self.mounts = mounts
        self._access = access

    def cleanup(self) -> None:
        for mount in self.mounts:
            self._access.remove(mount)
        self.vm.cleanup()
