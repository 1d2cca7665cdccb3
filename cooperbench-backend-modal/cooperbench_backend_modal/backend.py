"""The ``modal`` backend: every sandbox is a Modal Sandbox of the task image.

Images: the upstream image name from a registry (``modal.Image.from_registry``), else the
task's own ``Dockerfile`` (``modal.Image.from_dockerfile`` with the task folder as context);
``image_source`` picks one or the other, ``auto`` tries the registry first. Modal builds and
caches the image; :meth:`ModalBackend.resolve_image` returns its id (``im-...``).

Resources: every sandbox belongs to one Modal app (``app_name``) and carries the run's
labels as sandbox tags, so :meth:`ModalBackend.cleanup` finds a run's sandboxes with
``modal.Sandbox.list(tags=...)``. Each sandbox has a lifetime cap (``sandbox_lifetime``)
after which Modal itself terminates it, so a crashed harness leaks nothing for long.

Git server: a sandbox of its own per ``create_git_server`` call, serving one bare repository
over git's smart HTTP (:mod:`cooperbench.backends.remote.git_http_server`, a standard-library
front of ``git http-backend``) on a port exposed through a Modal encrypted tunnel. Tunnels
are public, so the server answers only requests carrying its own secret token in a header;
the backend writes that header into the git configuration of the sandboxes created with the
server's access mount (the runner gives it to one pair's agents), scoped to the server's
address. Any other sandbox gets 403 even if it learns the URL.

Mounts are copied in (files and directories, read-only); unix sockets and writable mounts
cannot be provided and are refused with a ``SandboxError`` naming them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from cooperbench.backends.base import PATCHES_DIR, REPO_DIR, Mount, RunLabels, SandboxPurpose
from cooperbench.backends.remote import (
    ACCESS_TARGET,
    SERVER_SCRIPT,
    ServerAccess,
    check_copyable,
    copy_mounts,
    probe_command,
    server_source,
)
from cooperbench.dataset import DEFAULT_IMAGE_PREFIX
from cooperbench.errors import ConfigError, SandboxError
from cooperbench_backend_modal._sandbox import ModalGitServer, ModalSandbox

if TYPE_CHECKING:
    from cooperbench.dataset import Task

__all__ = ["CREDENTIALS_HINT", "ModalBackend", "ModalGitServer", "ModalSandbox"]

CREDENTIALS_HINT = (
    "Modal credentials are missing or invalid: run `modal token new` (writes ~/.modal.toml), or set "
    "MODAL_TOKEN_ID and MODAL_TOKEN_SECRET"
)
HOST_TAG = "cooperbench.host"
PURPOSE_TAG = "cooperbench.purpose"
_GIT_READY_TIMEOUT = 120.0
_GIT_START_TRIES = 3


def _free_local_port() -> int:
    """A TCP port no socket of this machine holds right now (the kernel's pick for a bind to port 0)."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def _load_modal() -> Any:
    try:
        import modal
        import modal.config
    except ImportError as exc:  # pragma: no cover - the distribution depends on modal
        raise SandboxError(
            f"the modal backend needs the `modal` package: pip install cooperbench-backend-modal ({exc})"
        ) from exc
    return modal


class ModalBackend:
    """Sandboxes on Modal.

    Args:
        app_name: the Modal app every sandbox of CooperBench is created in (created if missing).
        image_source: ``auto`` (registry image, else the task's Dockerfile), ``registry`` or ``dockerfile``.
        image_prefix: prefix of the registry image names (``akhatua/cooperbench-`` upstream).
        build_args: Dockerfile ``ARG`` values for images built from a task's Dockerfile.
        sandbox_lifetime: seconds after which Modal terminates a sandbox whatever happens.
        exec_timeout: per-command limit in seconds when the caller gives none.
        cpu: CPU cores requested per sandbox.
        memory: memory requested per sandbox, in MiB.
        sdk: the ``modal`` module, or a stand-in with the same API (see
            :mod:`cooperbench_backend_modal.testing`); imported when not given.

    Raises:
        ConfigError: an option is invalid.
        SandboxError: no Modal credentials are configured.
    """

    name = "modal"

    def __init__(
        self,
        *,
        app_name: str = "cooperbench",
        image_source: Literal["auto", "registry", "dockerfile"] = "auto",
        image_prefix: str = DEFAULT_IMAGE_PREFIX,
        build_args: dict[str, str] | None = None,
        sandbox_lifetime: int = 4 * 3600,
        exec_timeout: float = 3600.0,
        cpu: float = 2.0,
        memory: int = 4096,
        sdk: Any = None,
    ) -> None:
        if image_source not in ("auto", "registry", "dockerfile"):
            raise ConfigError(f"backend modal: image_source must be auto, registry or dockerfile, not {image_source!r}")
        if sandbox_lifetime <= 0 or exec_timeout <= 0:
            raise ConfigError("backend modal: sandbox_lifetime and exec_timeout must be positive")
        self.app_name = app_name
        self.image_source = image_source
        self.image_prefix = image_prefix
        self.build_args = dict(build_args or {})
        self.sandbox_lifetime = int(sandbox_lifetime)
        self.exec_timeout = float(exec_timeout)
        self.cpu = cpu
        self.memory = memory
        self.sdk = sdk if sdk is not None else _load_modal()
        if not (self.sdk.config.config.get("token_id") and self.sdk.config.config.get("token_secret")):
            raise SandboxError(CREDENTIALS_HINT)
        self._lock = threading.Lock()
        self._app: Any = None
        self._images: dict[str, str] = {}
        self._access = ServerAccess()  # each live git server's token, granted through its access mount

    # -- plumbing ---------------------------------------------------------------------------

    def translate(self, exc: BaseException, what: str) -> SandboxError:
        """Our error for an SDK exception raised while doing ``what``."""
        if isinstance(exc, self.sdk.exception.AuthError):
            return SandboxError(f"modal: {what}: {CREDENTIALS_HINT} ({exc})")
        return SandboxError(f"modal: {what}: {type(exc).__name__}: {exc}")

    def app(self) -> Any:
        with self._lock:
            if self._app is None:
                try:
                    self._app = self.sdk.App.lookup(self.app_name, create_if_missing=True)
                except self.sdk.exception.Error as exc:
                    raise self.translate(exc, f"cannot look up or create the app {self.app_name!r}") from exc
            return self._app

    def _tags(self, run: RunLabels, purpose: str) -> dict[str, str]:
        return {**run.as_labels(), PURPOSE_TAG: purpose, HOST_TAG: socket.gethostname()}

    # -- images -----------------------------------------------------------------------------

    def resolve_image(self, task: Task) -> str:
        """Build (or find in Modal's cache) the task's image and return its Modal image id.

        Raises:
            SandboxError: neither the registry image nor the task's Dockerfile gives an image.
        """
        with self._lock:
            cached = self._images.get(task.key)
        if cached is not None:
            return cached
        name = task.image_name(self.image_prefix)
        failures: list[str] = []
        image_id: str | None = None
        if self.image_source in ("auto", "registry"):
            try:
                image_id = self._build(self.sdk.Image.from_registry(name))
            except self.sdk.exception.AuthError as exc:
                raise self.translate(exc, f"building image {name}") from exc
            except self.sdk.exception.Error as exc:
                failures.append(f"registry image {name}: {exc}")
        if image_id is None and self.image_source in ("auto", "dockerfile"):
            dockerfile = task.path / "Dockerfile"
            if not dockerfile.is_file():
                failures.append(f"{dockerfile}: no Dockerfile")
            else:
                try:
                    image = self.sdk.Image.from_dockerfile(
                        str(dockerfile), context_dir=str(task.path), build_args=self.build_args
                    )
                    image_id = self._build(image)
                except self.sdk.exception.AuthError as exc:
                    raise self.translate(exc, f"building {dockerfile}") from exc
                except self.sdk.exception.Error as exc:
                    failures.append(f"{dockerfile}: {exc}")
        if image_id is None:
            raise SandboxError(
                f"modal: no image for {task.key}: " + "; ".join(failures) + ". Push the image to a registry Modal "
                "can pull from (--image-prefix / backend option image_prefix), or fix the task's Dockerfile "
                "(backend option image_source=dockerfile, build_args for its ARGs)"
            )
        with self._lock:
            self._images[task.key] = image_id
        return image_id

    def _build(self, image: Any) -> str:
        # Images keep their ENTRYPOINT (upstream's is runner.sh); a sandbox must run our own command.
        built = image.entrypoint([]).build(self.app())
        return str(built.object_id)

    def _image(self, reference: str) -> Any:
        if reference.startswith("im-"):
            return self.sdk.Image.from_id(reference)
        return self.sdk.Image.from_registry(reference).entrypoint([])

    # -- sandboxes --------------------------------------------------------------------------

    def create_sandbox(
        self, image: str, *, run: RunLabels, purpose: SandboxPurpose = "agent", mounts: Sequence[Mount] = ()
    ) -> ModalSandbox:
        """Start a Modal Sandbox of ``image`` (an id from :meth:`resolve_image`, or a registry name).

        ``mounts`` are copied in (files and directories, read-only); a git server's access mount
        (:attr:`ModalGitServer.mounts`) makes git in the sandbox carry that server's token.

        Raises:
            SandboxError: Modal refused, the image has no ``/workspace/repo``, or a mount cannot be provided
                (a unix socket, a writable mount, a missing source: named in the message).
        """
        grants, copies = self._access.split(mounts)
        check_copyable("modal", copies)
        try:
            raw = self.sdk.Sandbox.create(
                "sleep",
                "infinity",
                app=self.app(),
                image=self._image(image),
                timeout=self.sandbox_lifetime,
                cpu=self.cpu,
                memory=self.memory,
                tags=self._tags(run, purpose),
            )
        except self.sdk.exception.Error as exc:
            raise self.translate(exc, f"cannot create a sandbox of {image}") from exc
        sandbox = ModalSandbox(raw, self)
        try:
            check = sandbox.exec(f"mkdir -p {PATCHES_DIR} && test -d {REPO_DIR}/.git", timeout=120, cwd="/")
            if check.returncode != 0:
                raise SandboxError(
                    f"modal: image {image} has no git repository at {REPO_DIR} (or {PATCHES_DIR} cannot be created): "
                    f"{check.output.strip()[-500:]}. Task images must clone the task repository there"
                )
            copy_mounts("modal", sandbox, copies)
            for grant in grants:
                sandbox.authorize(grant.base, grant.token)
            if grants:  # the team remote's URL, as the access mount shows it (one line per server)
                sandbox.write_file(ACCESS_TARGET, "".join(f"{g.url}\n" for g in grants), mode=0o444)
        except BaseException:
            sandbox.cleanup()
            raise
        return sandbox

    def create_git_server(self, *, run: RunLabels) -> ModalGitServer:
        """Start a git server: smart HTTP in a sandbox of its own, behind a Modal tunnel.

        The tunnel is public, so the server answers only requests carrying its own token, which
        the backend puts into the git configuration of the sandboxes created with the server's
        :attr:`~ModalGitServer.mounts` (one pair's agents), scoped to this server's address.

        Modal needs the port before the sandbox exists. Any port works there (each sandbox has a
        network of its own); one that is free on this machine is taken, which also keeps servers
        apart where sandboxes share this machine's network (the local fake), and a server that
        still cannot bind its port is started again on another.

        Raises:
            SandboxError: the server sandbox cannot be started or never answers (the message has its log).
        """
        token = self._access.new_token()
        failures: list[str] = []
        for _ in range(_GIT_START_TRIES):
            server = self._start_git_server(run, token, _free_local_port(), failures)
            if server is not None:
                return server
        raise SandboxError(f"modal: the git server did not start ({len(failures)} tries): " + " | ".join(failures))

    def _start_git_server(self, run: RunLabels, token: str, port: int, failures: list[str]) -> ModalGitServer | None:
        script = (
            "set -e; mkdir -p /srv/git; git init --bare -q /srv/git/team.git; "
            "git -C /srv/git/team.git config http.receivepack true; "
            f"python3 /srv/{SERVER_SCRIPT} /srv/git {port} {token} /srv/port 2>/srv/server.log "
            "|| { echo $? > /srv/exited; exec sleep infinity; }"
        )
        try:
            image = self.sdk.Image.debian_slim().apt_install("git")
            raw = self.sdk.Sandbox.create(
                "bash",
                "-c",
                # The server script arrives through the filesystem API after start; "go" marks it complete.
                f"while [ ! -e /srv/go ]; do sleep 0.2; done; {script}",
                app=self.app(),
                image=image,
                timeout=self.sandbox_lifetime,
                cpu=0.5,
                memory=512,
                tags=self._tags(run, "git"),
                encrypted_ports=[port],
            )
            raw.filesystem.write_bytes(server_source(), f"/srv/{SERVER_SCRIPT}")
            raw.filesystem.write_bytes(b"", "/srv/go")
            base = raw.tunnels()[port].url.rstrip("/") + "/"
        except self.sdk.exception.Error as exc:
            raise self.translate(exc, "cannot start the git server sandbox") from exc
        box = ModalSandbox(raw, self)
        deadline = time.monotonic() + _GIT_READY_TIMEOUT
        local = f"http://127.0.0.1:{port}/team.git"
        while True:
            state = box.exec("cat /srv/exited /srv/server.log 2>/dev/null; test ! -e /srv/exited", timeout=30, cwd="/")
            if state.returncode != 0:  # the server exited: its port was taken, or worse
                failures.append(f"port {port}: {state.output.strip()[-500:]}")
                box.cleanup()
                return None
            probe = box.exec(probe_command(local, token), timeout=30, cwd="/")
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                box.cleanup()
                raise SandboxError(
                    f"modal: the git server did not answer within {_GIT_READY_TIMEOUT:.0f}s: {probe.output}\n"
                    f"its log: {state.output.strip()[-1000:]}"
                )
            time.sleep(0.5)
        url = base + "team.git"
        mount = self._access.add(url, base, token)
        return ModalGitServer(url, box, run.run_id, (mount,), self._access)

    def resources(self, run_name: str) -> list[str]:
        """Descriptions of the live sandboxes (git servers included) of ``run_name``."""
        return [_describe(raw, labels) for raw, labels in self._list(run_name)]

    def _list(self, run_name: str | None) -> list[tuple[Any, dict[str, str]]]:
        tags = {"cooperbench.run_name": run_name} if run_name is not None else None
        try:
            found = list(self.sdk.Sandbox.list(app_id=self.app().app_id, tags=tags))
        except self.sdk.exception.Error as exc:
            raise self.translate(exc, "cannot list sandboxes") from exc
        listed = []
        for raw in found:
            try:
                labels = raw.get_tags()
            except self.sdk.exception.Error:
                continue  # terminated meanwhile
            if "cooperbench.run_id" in labels:
                listed.append((raw, labels))
        return listed

    def cleanup(self, *, run_name: str | None = None, stale_only: bool = False) -> list[str]:
        """Terminate the app's sandboxes (of ``run_name``; only orphaned ones with ``stale_only``)."""
        removed: list[str] = []
        for raw, labels in self._list(run_name):
            if stale_only and not _is_stale(labels):
                continue
            ModalSandbox(raw, self).cleanup()
            removed.append(_describe(raw, labels))
        return removed


def _describe(raw: Any, labels: dict[str, str]) -> str:
    return (
        f"modal sandbox {raw.object_id} ({labels.get(PURPOSE_TAG, '?')} of run "
        f"{labels.get('cooperbench.run_name')}/{labels.get('cooperbench.run_id')})"
    )


def _is_stale(labels: dict[str, str]) -> bool:
    """Owned by a harness process on this host that is gone (elsewhere we cannot tell: not stale)."""
    if labels.get(HOST_TAG) != socket.gethostname():
        return False
    try:
        os.kill(int(labels.get("cooperbench.pid", "")), 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError):
        return False
    return False
