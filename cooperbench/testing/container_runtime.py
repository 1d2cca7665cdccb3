"""A tiny local container runtime on bubblewrap: the machine behind the fake cloud SDKs.

Not a backend. The cloud backend distributions test their real backend code against fakes
of the cloud SDKs (``cooperbench_backend_modal.testing`` fakes Modal,
``cooperbench_backend_gcp.testing`` fakes Google Cloud and SSH), and the sandboxes those
fakes hand out have to run real commands somewhere; this module is that somewhere. A fake
for another cloud SDK can build on it the same way: :meth:`LocalRuntime.build` for images,
:meth:`LocalRuntime.create` for containers, :meth:`Container.popen` to run in one.

The model, kept deliberately small:

- An *image* is a directory (its "layer") holding the files at the container-owned paths,
  plus the ``ENV`` and ``WORKDIR`` of its Dockerfile. Every base image is the host's own
  filesystem: ``FROM`` only picks a previously built image of that name, if any.
- A *container* starts as a copy of its image's layer. Inside it the host's filesystem is
  visible read-only, and the owned paths (:data:`OWNED_PATHS`) are the container's own and
  writable, so two containers never see each other's files.
- Every process of a container carries a marker environment variable, so removing a
  container kills everything it started, background processes included (``docker exec``
  semantics: a process started by one exec outlives that exec).
- Containers share the host network: a port a container listens on is that port on
  ``127.0.0.1``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["OWNED_PATHS", "BuildError", "Container", "Image", "LocalRuntime"]

# Paths each container owns (writable, private); everything else is the host, read-only. /run is
# the container's own (empty) like on a real machine: harness files are mounted under /run/cooperbench.
OWNED_PATHS = ("/workspace", "/patches", "/tmp", "/root", "/srv", "/run", "/usr/local/bin")
_TOP_OWNED = frozenset(p.strip("/") for p in OWNED_PATHS if p.count("/") == 1)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MARKER = "COOPERBENCH_FAKE_CONTAINER"
# Owning a container engine's socket is owning the host: hide them like the local backend does.
_ENGINE_SOCKETS = ("/run/docker.sock", "/var/run/docker.sock", "/run/containerd/containerd.sock")


class BuildError(RuntimeError):
    """A Dockerfile step failed; the message holds the step and its output."""


@dataclass
class Image:
    """A built image: its layer directory, environment and working directory."""

    id: str
    layer: Path
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"


def owned_path(root: Path, path: str) -> Path | None:
    """The host path behind container path ``path`` in a container rooted at ``root``, or ``None``."""
    norm = os.path.normpath("/" + path.lstrip("/"))
    for owned in OWNED_PATHS:
        if norm == owned or norm.startswith(owned + "/"):
            return root / norm.lstrip("/")
    return None


def _host_root_args() -> list[str]:
    args: list[str] = []
    for entry in sorted(os.scandir("/"), key=lambda e: e.name):
        if entry.name in _TOP_OWNED or entry.name in ("proc", "dev"):
            continue
        path = f"/{entry.name}"
        if entry.is_symlink():
            args += ["--symlink", os.readlink(path), path]
        elif entry.is_dir() or entry.is_file():
            args += ["--ro-bind", path, path]
    for sock in sorted({os.path.realpath(s) for s in _ENGINE_SOCKETS if os.path.exists(s)}):
        args += ["--ro-bind", "/dev/null", sock]
    return args


@dataclass
class Container:
    """One container: a root directory for the owned paths, an environment, a working directory."""

    id: str
    root: Path
    env: dict[str, str]
    workdir: str
    runtime: LocalRuntime

    def argv(self, command: list[str], *, cwd: str | None = None, binds: dict[str, Path] | None = None) -> list[str]:
        """The ``bwrap`` command line running ``command`` inside this container."""
        args = [self.runtime.bwrap, *self.runtime.host_args, "--proc", "/proc", "--dev", "/dev"]
        for owned in OWNED_PATHS:
            src = self.root / owned.lstrip("/")
            src.mkdir(parents=True, exist_ok=True)
            args += ["--bind", str(src), owned]
        for dest, src in (binds or {}).items():
            args += ["--bind", str(src), dest]
        if os.geteuid() == 0:
            # bwrap run by root keeps every capability; without them the read-only host stays read-only.
            args += ["--cap-drop", "ALL"]
        return [*args, "--chdir", cwd or self.workdir, "--", *command]

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment a process of this container runs with (``extra`` on top, the marker last)."""
        env = {"PATH": DEFAULT_PATH, "HOME": "/root", "LANG": "C.UTF-8", **self.env, **(extra or {})}
        env[MARKER] = self.id
        return env

    def popen(
        self,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stdin: int | None = subprocess.DEVNULL,
        binds: dict[str, Path] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` in the container (its own session, so it can be killed as a group)."""
        return subprocess.Popen(
            self.argv(command, cwd=cwd, binds=binds),
            env=self.environment(env),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def kill_all(self) -> None:
        """Kill every process of this container, wherever it was started from."""
        needle = f"{MARKER}={self.id}\0".encode()
        for _ in range(20):
            found = False
            for pid_dir in Path("/proc").iterdir():
                if not pid_dir.name.isdigit():
                    continue
                try:
                    data = (pid_dir / "environ").read_bytes()
                except OSError:
                    continue
                if needle in data:
                    found = True
                    with contextlib.suppress(OSError):
                        os.kill(int(pid_dir.name), signal.SIGKILL)
            if not found:
                return
            time.sleep(0.05)

    def remove(self) -> None:
        """Kill the container's processes and delete its files."""
        self.kill_all()
        shutil.rmtree(self.root, ignore_errors=True)


class LocalRuntime:
    """Images and containers under one state directory (removed by :meth:`close`).

    Args:
        state_dir: where layers and container roots live; a new temporary directory by default.

    Raises:
        RuntimeError: bubblewrap is not installed.
    """

    def __init__(self, state_dir: Path | None = None) -> None:
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise RuntimeError("the fake cloud runtime needs bubblewrap: `sudo apt-get install bubblewrap`")
        self.bwrap = bwrap
        self.host_args = _host_root_args()
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="cooperbench-fake-cloud-"))
        self.images: dict[str, Image] = {}
        self.tags: dict[str, str] = {}  # image name -> image id
        self._seq = 0

    def _new_dir(self, kind: str) -> Path:
        self._seq += 1
        path = self.state_dir / kind / f"{self._seq:05d}-{os.urandom(3).hex()}"
        path.mkdir(parents=True)
        return path

    def empty_image(self) -> Image:
        """The host filesystem as an image (what every unknown base image stands for)."""
        image = self.images.get("im-host")
        if image is None:
            image = Image("im-host", self._new_dir("layers"))
            self.images[image.id] = image
        return image

    def create(self, image: Image, *, env: dict[str, str] | None = None, workdir: str | None = None) -> Container:
        """A new container holding a copy of ``image``'s layer."""
        root = self._new_dir("containers")
        shutil.copytree(image.layer, root, symlinks=True, dirs_exist_ok=True)
        return Container(f"c{root.name}", root, {**image.env, **(env or {})}, workdir or image.workdir, self)

    def close(self) -> None:
        """Kill every container's processes and delete the state directory."""
        containers = self.state_dir / "containers"
        if containers.is_dir():
            for root in containers.iterdir():
                Container(f"c{root.name}", root, {}, "/", self).kill_all()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    # -- building ---------------------------------------------------------------------------

    def build(self, dockerfile: Path, context: Path, build_args: dict[str, str] | None = None, tag: str = "") -> Image:
        """Build ``dockerfile`` with ``context``; cached by content, so a rebuild is free.

        Supports ``FROM ARG ENV WORKDIR COPY ADD RUN`` (others are ignored). Writes outside
        :data:`OWNED_PATHS` fail, as the host is read-only.

        Raises:
            BuildError: a step failed or uses something this runtime cannot do.
        """
        text = dockerfile.read_text(encoding="utf-8")
        digest = hashlib.sha256(text.encode() + json.dumps(build_args or {}, sort_keys=True).encode())
        for file in sorted(p for p in context.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(context)).encode() + b"\0" + file.read_bytes())
        image_id = "im-" + digest.hexdigest()[:24]
        if image_id not in self.images:
            self.images[image_id] = self._build(image_id, text, context, dict(build_args or {}), dockerfile)
        if tag:
            self.tags[tag] = image_id
        return self.images[image_id]

    def _build(self, image_id: str, text: str, context: Path, build_args: dict[str, str], where: Path) -> Image:
        image = Image(image_id, self._new_dir("layers"))
        args: dict[str, str] = {}
        for lineno, instr, rest in _instructions(text):
            step = f"{where}:{lineno}: {instr} {rest}"
            if instr == "ARG":
                name, _, default = rest.partition("=")
                args[name.strip()] = build_args.get(name.strip(), default.strip().strip('"'))
            elif instr == "FROM":
                base_name = _expand(rest, {**args, **image.env}).split()[0]
                base = self.images.get(self.tags.get(base_name, ""))
                if base is not None:
                    shutil.copytree(base.layer, image.layer, symlinks=True, dirs_exist_ok=True)
                    image.env, image.workdir = dict(base.env), base.workdir
            elif instr == "ENV":
                image.env.update(_parse_env(_expand(rest, {**args, **image.env})))
            elif instr == "WORKDIR":
                image.workdir = os.path.normpath(os.path.join(image.workdir, _expand(rest, {**args, **image.env})))
                target = owned_path(image.layer, image.workdir)
                if target is not None:
                    target.mkdir(parents=True, exist_ok=True)
            elif instr in ("COPY", "ADD"):
                self._copy(image, context, _expand(rest, {**args, **image.env}), step)
            elif instr == "RUN":
                command = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
                container = Container(f"b{image.layer.name}", image.layer, {**args, **image.env}, image.workdir, self)
                proc = container.popen(command)
                out, err = proc.communicate()
                container.kill_all()
                if proc.returncode != 0:
                    output = (out + err).decode("utf-8", "replace")[-4000:]
                    raise BuildError(f"{step}: exited with {proc.returncode}:\n{output}")
        return image

    def _copy(self, image: Image, context: Path, rest: str, step: str) -> None:
        parts = [p for p in shlex.split(rest) if not p.startswith("--")]
        if len(parts) < 2:
            raise BuildError(f"{step}: COPY needs a source and a destination")
        *sources, dest = parts
        dest_path = dest if dest.startswith("/") else os.path.join(image.workdir, dest)
        target = owned_path(image.layer, dest_path)
        if target is None:
            raise BuildError(f"{step}: {dest_path} is outside the writable paths {OWNED_PATHS} of the fake runtime")
        matches = [p for s in sources for p in sorted(context.glob(s))] or []
        if not matches:
            raise BuildError(f"{step}: no file in {context} matches {sources}")
        into_dir = dest.endswith("/") or len(matches) > 1 or (target.is_dir() and not target.is_symlink())
        for src in matches:
            out = target / src.name if into_dir and not src.is_dir() else target
            if src.is_dir():
                shutil.copytree(src, out, symlinks=True, dirs_exist_ok=True)
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, out)


def _instructions(text: str) -> list[tuple[int, str, str]]:
    steps: list[tuple[int, str, str]] = []
    buffer, start = "", 0
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        start = start or lineno
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        instr, _, rest = buffer.partition(" ")
        steps.append((start, instr.upper(), rest.strip()))
        buffer, start = "", 0
    return steps


def _expand(value: str, variables: dict[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, value)


def _parse_env(rest: str) -> dict[str, str]:
    if "=" not in rest.split(" ", 1)[0]:
        key, _, value = rest.partition(" ")
        return {key: value.strip()}
    return dict(item.split("=", 1) for item in shlex.split(rest))
