"""A sandbox: one container of the task image, kept alive by a long ``sleep``."""

from __future__ import annotations

import contextlib
import io
import posixpath
import tarfile
import threading
import time
from collections.abc import Callable, Mapping

import docker.errors

from cooperbench.backends.base import ExecResult
from cooperbench.errors import SandboxError
from cooperbench_backend_docker._client import ClientFactory, docker_errors, force_remove
from cooperbench_backend_docker._exec import ExecRequest, describe, needs_script, run_exec, script_path
from cooperbench_backend_docker._limits import LimitWatch
from cooperbench_backend_docker._network import local_daemon

__all__ = ["DockerSandbox", "tar_of"]

_MAX_SYMLINK_DEPTH = 16
_GO_MODE_DIR = 1 << 31  # os.ModeDir in the Engine's path stat


def tar_of(path: str, data: bytes | None, mode: int) -> bytes:
    """A tar archive holding one file (``data``) or one directory (``data=None``) at ``path``, for ``put_archive``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.mode = mode
        info.mtime = int(time.time())
        if data is None:
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        else:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class DockerSandbox:
    """One container of the task image; see :class:`cooperbench.backends.base.Sandbox`.

    Args:
        factory: where the Docker client comes from.
        container_id: the container's id.
        name: the container's name, used as the sandbox id.
        default_timeout: seconds a command may run when ``exec`` gets no timeout.
        on_cleanup: called once with this sandbox after it was removed.
        limits: the sandbox's ``memory`` (bytes) and ``pids`` limits (``None``: no limit), named in the
            note a command's output gets when the sandbox hit one of them.
    """

    def __init__(
        self,
        factory: ClientFactory,
        container_id: str,
        name: str,
        *,
        default_timeout: float,
        on_cleanup: Callable[[DockerSandbox], None] | None = None,
        limits: Mapping[str, int | None] | None = None,
    ) -> None:
        self.id = name
        self.container_id = container_id
        self._factory = factory
        self._default_timeout = default_timeout
        self._on_cleanup = on_cleanup
        self._closed = False
        self._lock = threading.Lock()
        self._limits = LimitWatch(dict(limits or {}))
        self._local = local_daemon(factory.base_url)

    def __repr__(self) -> str:
        return f"DockerSandbox({self.id!r})"

    def _gone(self, exc: BaseException) -> SandboxError:
        return SandboxError(
            f"docker sandbox {self.id} is gone ({getattr(exc, 'explanation', None) or exc}): its container was "
            "removed (cleanup, `cooperbench cleanup`, `docker rm`) or its lifetime ran out (backend option "
            "`lifetime`); create a new sandbox."
        )

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError(f"docker sandbox {self.id} was cleaned up; create a new sandbox.")

    def exec(
        self,
        command: str | list[str],
        *,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> ExecResult:
        """Run a command; see :meth:`cooperbench.backends.base.Sandbox.exec`.

        Raises:
            SandboxError: the container is gone or the Engine does not answer.
        """
        self._check_open()
        if not command:
            raise SandboxError(f"docker sandbox {self.id}: empty command")
        request = ExecRequest(command, timeout if timeout is not None else self._default_timeout, dict(env or {}), cwd)
        api = self._factory.get().api
        try:
            with docker_errors(f"running `{describe(command)}` in docker sandbox {self.id}", self._factory.base_url):
                script = needs_script(request)
                if script:
                    assert isinstance(request.command, str)
                    api.put_archive(
                        self.container_id, "/", tar_of(script_path(request), request.command.encode(), 0o600)
                    )
                result = run_exec(api, self.container_id, request, script=script, local_host=self._local)
                if result.returncode != 0 or result.timed_out:
                    note, hit = self._limits.note(api, self.container_id)
                    if hit is not None:
                        result.output += note
                        result.resource_limit = hit
                return result
        except docker.errors.NotFound as exc:
            raise self._gone(exc) from exc
        except SandboxError as exc:
            if "is not running" in str(exc):
                raise self._gone(exc) from exc
            raise

    def write_file(self, path: str, data: bytes | str, *, mode: int = 0o644) -> None:
        """Create or replace the file at absolute ``path`` through the Engine's archive API.

        Raises:
            SandboxError: the path is not absolute, the container is gone, or the Engine refused the write.
        """
        self._check_open()
        if not path.startswith("/"):
            raise SandboxError(f"write_file needs an absolute path inside docker sandbox {self.id}, got {path!r}")
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        api = self._factory.get().api
        try:
            with docker_errors(f"writing {path} in docker sandbox {self.id}", self._factory.base_url):
                api.put_archive(self.container_id, "/", tar_of(posixpath.normpath(path), payload, mode))
        except docker.errors.NotFound as exc:
            raise self._gone(exc) from exc

    def read_file(self, path: str) -> bytes:
        """Return the bytes of the file at absolute ``path`` (symbolic links are followed).

        Raises:
            FileNotFoundError: no such file in the sandbox.
            IsADirectoryError: ``path`` is a directory.
            SandboxError: ``path`` is not absolute, the container is gone, or the Engine does not answer.
        """
        self._check_open()
        if not path.startswith("/"):
            raise SandboxError(f"read_file needs an absolute path inside docker sandbox {self.id}, got {path!r}")
        api = self._factory.get().api
        current = posixpath.normpath(path)
        for _ in range(_MAX_SYMLINK_DEPTH):
            try:
                with docker_errors(f"reading {path} in docker sandbox {self.id}", self._factory.base_url):
                    chunks, stat = api.get_archive(self.container_id, current)
                    target = stat.get("linkTarget") or ""
                    if target and target != current:
                        current = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
                        continue
                    if int(stat.get("mode", 0)) & _GO_MODE_DIR:  # do not download a whole tree to refuse it
                        raise IsADirectoryError(f"{path} is a directory in docker sandbox {self.id}")
                    archive = b"".join(chunks)
            except docker.errors.NotFound as exc:
                if self._container_missing(api):
                    raise self._gone(exc) from exc
                raise FileNotFoundError(f"{path}: no such file in docker sandbox {self.id}") from exc
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                member = tar.next()
                if member is None or not member.isfile():
                    got = "an empty archive" if member is None else f"{member.name!r} of tar type {member.type!r}"
                    raise SandboxError(
                        f"{path} in docker sandbox {self.id} is not a regular file (the Engine sent {got}, "
                        f"{len(archive)} bytes, stat {stat})"
                    )
                extracted = tar.extractfile(member)
                assert extracted is not None
                return extracted.read()
        raise SandboxError(f"{path} in docker sandbox {self.id}: too many levels of symbolic links")

    def _container_missing(self, api: object) -> bool:
        try:
            api.inspect_container(self.container_id)  # type: ignore[attr-defined]
        except docker.errors.NotFound:
            return True
        except Exception:
            return False
        return False

    def cleanup(self) -> None:
        """Remove the container and return once it is gone. Idempotent; never raises.

        A caller that comes while another is removing the container waits for it: whoever
        returns from ``cleanup()`` (an interrupt handler too) knows the sandbox is gone.
        """
        with self._lock:
            if self._closed:
                return
            try:
                # Already removed, or daemon gone: `cooperbench cleanup` sweeps what is left.
                with contextlib.suppress(Exception):
                    force_remove(self._factory.get(), self.container_id)
            finally:
                self._closed = True
            if self._on_cleanup is not None:
                with contextlib.suppress(Exception):
                    self._on_cleanup(self)
