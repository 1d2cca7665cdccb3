"""A stand-in for the ``modal`` SDK whose sandboxes are real local bubblewrap containers.

The Modal backend takes the SDK as a parameter (``ModalBackend(sdk=...)``, the real
``modal`` module by default), so its tests, and a plugin author's, run it against
:class:`FakeModal` with nothing faked on our side of the boundary::

    from cooperbench_backend_modal.backend import ModalBackend
    from cooperbench_backend_modal.testing import FakeModal

    fake = FakeModal()
    backend = ModalBackend(sdk=fake)
    ...
    fake.close()

What the fake implements (the subset of Modal 1.x the backend uses): ``App.lookup``;
``Image.from_registry / from_dockerfile / debian_slim / from_id`` with ``.entrypoint``,
``.apt_install`` and ``.build``; ``Sandbox.create / list / from_id`` and a sandbox's
``exec`` (a process with ``stdout``/``stderr``/``wait``), ``filesystem.write_bytes /
read_bytes``, ``tunnels``, ``get_tags``, ``terminate``; the lifetime cap (``timeout=``);
``config.config.get("token_id")``; the ``exception`` classes.

Where it differs from Modal, on purpose and documented:

- Images are built by :mod:`cooperbench.testing.container_runtime` (see its docstring): every
  base image is the host's own filesystem, so a task's Dockerfile builds if the host has what
  it needs (bash, git, python3 with pytest). ``apt_install`` is recorded, not run.
- A registry image exists only when registered with :meth:`FakeModal.add_registry_image`.
- Sandboxes share the host network; a tunnel to a port is that port on ``127.0.0.1``, and an
  encrypted tunnel's ``url`` is plain ``http://`` (there is no TLS locally).
- ``FakeModal(authenticated=False)`` behaves like a machine without a Modal token.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cooperbench.testing.container_runtime import BuildError, Container, LocalRuntime, owned_path

__all__ = ["FakeModal", "FakeSandbox", "exception"]


class _Error(Exception):
    pass


def _exception_namespace() -> types.SimpleNamespace:
    def sub(name: str, base: type[Exception]) -> type[Exception]:
        return type(name, (base,), {"__module__": __name__})

    error = sub("Error", _Error)
    fs_error = sub("SandboxFilesystemError", error)
    return types.SimpleNamespace(
        Error=error,
        AuthError=sub("AuthError", error),
        NotFoundError=sub("NotFoundError", error),
        InvalidError=sub("InvalidError", error),
        RemoteError=sub("RemoteError", error),
        SandboxTerminatedError=sub("SandboxTerminatedError", error),
        SandboxTimeoutError=sub("SandboxTimeoutError", error),
        SandboxFilesystemError=fs_error,
        SandboxFilesystemNotFoundError=sub("SandboxFilesystemNotFoundError", fs_error),
        SandboxFilesystemIsADirectoryError=sub("SandboxFilesystemIsADirectoryError", fs_error),
        SandboxFilesystemPermissionError=sub("SandboxFilesystemPermissionError", fs_error),
    )


#: The fake's exception classes, named as in ``modal.exception``.
exception = _exception_namespace()


@dataclass
class FakeTunnel:
    """``modal.Tunnel``: a port of a sandbox as seen from outside (here: ``127.0.0.1``)."""

    host: str
    port: int
    unencrypted_host: str
    unencrypted_port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def tcp_socket(self) -> tuple[str, int]:
        return (self.unencrypted_host, self.unencrypted_port)


class FakeApp:
    def __init__(self, name: str, app_id: str) -> None:
        self.name = name
        self.app_id = app_id


class FakeImage:
    """A recipe, as ``modal.Image``: built on :meth:`build` (or when a sandbox needs it)."""

    def __init__(self, fake: FakeModal, recipe: tuple[Any, ...], image_id: str | None = None) -> None:
        self._fake = fake
        self.recipe = recipe
        self._id = image_id
        self.packages: tuple[str, ...] = ()

    @property
    def object_id(self) -> str:
        if self._id is None:
            raise AttributeError(f"Attempting to get object_id of unhydrated {self.recipe}")
        return self._id

    def entrypoint(self, entrypoint_commands: list[str]) -> FakeImage:
        return self  # sandboxes of the fake always run the command they are created with

    def apt_install(self, *packages: str) -> FakeImage:
        image = FakeImage(self._fake, self.recipe, self._id)
        image.packages = self.packages + packages
        return image

    def build(self, app: FakeApp | None = None) -> FakeImage:
        self._fake._require_auth()
        if self._id is None:
            self._id = self._fake._build(self.recipe)
        return self


class _Stream:
    def __init__(self, process: FakeProcess, index: int) -> None:
        self._process, self._index = process, index

    def read(self) -> bytes | str:
        self._process._finish()
        data = self._process._buffers[self._index]
        return data.decode("utf-8", "replace") if self._process.text else bytes(data)


class FakeProcess:
    """``modal.container_process.ContainerProcess``: ``stdout.read()``, ``stderr.read()``, ``wait()``."""

    def __init__(self, popen: subprocess.Popen[bytes], text: bool, timeout: float | None) -> None:
        self._popen, self.text, self._timeout = popen, text, timeout
        self._buffers = [bytearray(), bytearray()]
        self._readers = [threading.Thread(target=self._pump, args=(i,), daemon=True) for i in (0, 1)]
        for reader in self._readers:
            reader.start()
        self._lock = threading.Lock()
        self._returncode: int | None = None
        self.stdout, self.stderr = _Stream(self, 0), _Stream(self, 1)

    def _pump(self, index: int) -> None:
        pipe: Any = self._popen.stdout if index == 0 else self._popen.stderr
        for chunk in iter(lambda: pipe.read1(65536), b""):
            self._buffers[index] += chunk

    def _finish(self) -> int:
        with self._lock:
            if self._returncode is None:
                try:
                    code = self._popen.wait(self._timeout)
                except subprocess.TimeoutExpired:
                    subprocess.run(["kill", "-KILL", "--", f"-{self._popen.pid}"], check=False, capture_output=True)
                    self._popen.wait()
                    code = -1  # what Modal reports for an exec it ended
                # Like a container exec, the exec ends with its process, not with its pipes.
                _drain(self._readers, self._buffers)
                self._returncode = code
            return self._returncode

    def wait(self) -> int:
        return self._finish()

    def poll(self) -> int | None:
        return self._returncode if self._returncode is not None else self._popen.poll()


def _drain(readers: list[threading.Thread], buffers: list[bytearray], quiet: float = 2.0) -> None:
    """Read on after the process exited while output flows; stop after ``quiet`` seconds without any.

    A background process the command left behind may hold the pipe open forever.
    """
    last, idle_since = -1, time.monotonic()
    while any(r.is_alive() for r in readers):
        size = sum(len(b) for b in buffers)
        if size != last:
            last, idle_since = size, time.monotonic()
        elif time.monotonic() - idle_since > quiet:
            return
        time.sleep(0.02)


class _Filesystem:
    def __init__(self, sandbox: FakeSandbox) -> None:
        self._sandbox = sandbox

    def write_bytes(self, data: bytes, remote_path: str) -> None:
        target = self._sandbox._path(remote_path)
        if target is None:
            raise exception.SandboxFilesystemPermissionError(f"{remote_path}: read-only file system")
        if target.is_dir():
            raise exception.SandboxFilesystemIsADirectoryError(remote_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(bytes(data))

    def read_bytes(self, remote_path: str) -> bytes:
        target = self._sandbox._path(remote_path) or Path(remote_path)
        if target.is_dir():
            raise exception.SandboxFilesystemIsADirectoryError(remote_path)
        if not target.is_file():
            raise exception.SandboxFilesystemNotFoundError(f"{remote_path}: no such file")
        return target.read_bytes()


class FakeSandbox:
    """``modal.Sandbox`` backed by one local container."""

    def __init__(self, fake: FakeModal, container: Container, app: FakeApp, tags: dict[str, str], **options: Any):
        self._fake = fake
        self.container = container
        self.app = app
        self.object_id = "sb-" + container.id
        self.tags = dict(tags)
        self.options = options
        self.ports = [*options.get("encrypted_ports", ()), *options.get("unencrypted_ports", ())]
        self.terminated = False
        self.filesystem = _Filesystem(self)
        self.main: subprocess.Popen[bytes] | None = None
        self._reaper: threading.Timer | None = None

    def _live(self) -> None:
        self._fake._require_auth()
        if self.terminated:
            raise exception.SandboxTerminatedError(f"sandbox {self.object_id} has terminated")

    def _path(self, remote_path: str) -> Path | None:
        self._live()
        return owned_path(self.container.root, remote_path)

    def exec(
        self,
        *args: str,
        timeout: int | None = None,
        workdir: str | None = None,
        env: dict[str, str | None] | None = None,
        text: bool = True,
        **_: Any,
    ) -> FakeProcess:
        self._live()
        extra = {k: v for k, v in (env or {}).items() if v is not None}
        return FakeProcess(self.container.popen(list(args), env=extra, cwd=workdir), text, timeout)

    def tunnels(self, timeout: int = 50) -> dict[int, FakeTunnel]:
        self._live()
        return {port: FakeTunnel("127.0.0.1", port, "127.0.0.1", port) for port in self.ports}

    def get_tags(self) -> dict[str, str]:
        self._live()
        return dict(self.tags)

    def set_tags(self, tags: dict[str, str]) -> None:
        self._live()
        self.tags = dict(tags)

    def poll(self) -> int | None:
        return 0 if self.terminated else None

    def terminate(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        self.terminated = True
        self.container.remove()


class _AppAPI:
    def __init__(self, fake: FakeModal) -> None:
        self._fake = fake

    def lookup(self, name: str, *, create_if_missing: bool = False, **_: Any) -> FakeApp:
        self._fake._require_auth()
        with self._fake._lock:
            if name not in self._fake.apps:
                if not create_if_missing:
                    raise exception.NotFoundError(f"App {name!r} not found")
                self._fake.apps[name] = FakeApp(name, f"ap-{next(self._fake._ids):06d}")
            return self._fake.apps[name]


class _ImageAPI:
    def __init__(self, fake: FakeModal) -> None:
        self._fake = fake

    def from_registry(self, tag: str, **_: Any) -> FakeImage:
        return FakeImage(self._fake, ("registry", tag))

    def from_dockerfile(
        self,
        path: str | Path,
        *,
        context_dir: str | Path | None = None,
        build_args: dict[str, str] | None = None,
        **_: Any,
    ) -> FakeImage:
        context = Path(context_dir) if context_dir is not None else Path(path).parent
        return FakeImage(self._fake, ("dockerfile", Path(path), context, dict(build_args or {})))

    def debian_slim(self, python_version: str | None = None, **_: Any) -> FakeImage:
        return FakeImage(self._fake, ("host",))

    def from_id(self, image_id: str, **_: Any) -> FakeImage:
        return FakeImage(self._fake, ("id", image_id), image_id)


class _SandboxAPI:
    def __init__(self, fake: FakeModal) -> None:
        self._fake = fake

    def create(
        self,
        *args: str,
        app: FakeApp | None = None,
        image: FakeImage | None = None,
        timeout: int | None = 300,
        tags: dict[str, str] | None = None,
        workdir: str | None = None,
        env: dict[str, str | None] | None = None,
        **options: Any,
    ) -> FakeSandbox:
        fake = self._fake
        fake._require_auth()
        if app is None:
            raise exception.InvalidError("App is required when creating a Sandbox outside a Modal container")
        built = (image or FakeImage(fake, ("host",))).build(app)
        local = fake.runtime.images.get(built.object_id)
        if local is None:
            raise exception.NotFoundError(f"Image {built.object_id} not found")
        extra = {k: v for k, v in (env or {}).items() if v is not None}
        with fake._lock:
            container = fake.runtime.create(local, env=extra, workdir=workdir)
            sandbox = FakeSandbox(fake, container, app, tags or {}, **options)
            fake.sandboxes[sandbox.object_id] = sandbox
        sandbox.main = container.popen(list(args) or ["sleep", "infinity"])
        if timeout:
            sandbox._reaper = threading.Timer(timeout, sandbox.terminate)
            sandbox._reaper.daemon = True
            sandbox._reaper.start()
        return sandbox

    def list(self, *, app_id: str | None = None, tags: dict[str, str] | None = None, **_: Any) -> Iterator[FakeSandbox]:
        self._fake._require_auth()
        with self._fake._lock:
            sandboxes = list(self._fake.sandboxes.values())
        for sandbox in sandboxes:
            if sandbox.terminated or (app_id is not None and sandbox.app.app_id != app_id):
                continue
            if all(sandbox.tags.get(k) == v for k, v in (tags or {}).items()):
                yield sandbox

    def from_id(self, sandbox_id: str, **_: Any) -> FakeSandbox:
        self._fake._require_auth()
        try:
            return self._fake.sandboxes[sandbox_id]
        except KeyError:
            raise exception.NotFoundError(f"Sandbox {sandbox_id} not found") from None


class _Config:
    def __init__(self, fake: FakeModal) -> None:
        self._fake = fake

    def get(self, key: str, **_: Any) -> Any:
        if key in ("token_id", "token_secret"):
            return f"fake-{key}" if self._fake.authenticated else None
        return None


class FakeModal:
    """A module-like stand-in for ``modal``; pass it as ``ModalBackend(sdk=FakeModal())``.

    Args:
        authenticated: whether a Modal token is configured (``False``: calls raise ``AuthError``).
        runtime: the local container runtime; a new one (own temporary directory) by default.

    Raises:
        RuntimeError: bubblewrap is not installed.
    """

    def __init__(self, *, authenticated: bool = True, runtime: LocalRuntime | None = None) -> None:
        self.authenticated = authenticated
        self.runtime = runtime or LocalRuntime()
        self.exception = exception
        self.config = types.SimpleNamespace(config=_Config(self))
        self.App = _AppAPI(self)
        self.Image = _ImageAPI(self)
        self.Sandbox = _SandboxAPI(self)
        self.apps: dict[str, FakeApp] = {}
        self.sandboxes: dict[str, FakeSandbox] = {}
        self.builds: list[tuple[Any, ...]] = []  # every recipe built, in order (tests read it)
        self._registry: dict[str, tuple[Path, Path, dict[str, str]]] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)

    def add_registry_image(
        self, name: str, dockerfile: Path, context: Path | None = None, build_args: dict[str, str] | None = None
    ) -> None:
        """Make ``Image.from_registry(name)`` resolve to an image built from ``dockerfile``."""
        self._registry[name] = (Path(dockerfile), Path(context or Path(dockerfile).parent), dict(build_args or {}))

    def _require_auth(self) -> None:
        if not self.authenticated:
            raise exception.AuthError("Token missing. Could not authenticate client.")

    def _build(self, recipe: tuple[Any, ...]) -> str:
        with self._lock:
            self.builds.append(recipe)
            kind = recipe[0]
            if kind == "host":
                return self.runtime.empty_image().id
            if kind == "id":
                if recipe[1] not in self.runtime.images:
                    raise exception.NotFoundError(f"Image {recipe[1]} not found")
                return str(recipe[1])
            if kind == "registry":
                if recipe[1] not in self._registry:
                    raise exception.RemoteError(
                        f"Image build failed: pull access denied for {recipe[1]}, repository does not exist"
                    )
                dockerfile, context, build_args = self._registry[recipe[1]]
            else:
                dockerfile, context, build_args = recipe[1], recipe[2], recipe[3]
            try:
                return self.runtime.build(
                    dockerfile, context, build_args, tag=recipe[1] if kind == "registry" else ""
                ).id
            except BuildError as exc:
                raise exception.RemoteError(f"Image build failed: {exc}") from exc

    def close(self) -> None:
        """Terminate every sandbox and remove the runtime's files."""
        for sandbox in list(self.sandboxes.values()):
            sandbox.terminate()
        self.runtime.close()
