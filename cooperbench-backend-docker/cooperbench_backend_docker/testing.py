"""Images for testing the docker backend where no registry is reachable.

:func:`ensure_base_image` builds a small Debian image (bash, git, python3 with pytest and venv)
with ``debootstrap`` from the apt mirror this machine already uses, and imports it into the
Docker Engine; :func:`ensure_task_images` builds each task image of a dataset on top of it
from the task's own ``Dockerfile`` (``ARG BASE_IMAGE``). Both are cached by image tag and safe
to call from several processes at once (a file lock serialises the builds), so pytest
fixtures can call them freely.

Command line (builds the base image, then the example dataset's task images)::

    python -m cooperbench_backend_docker.testing [--dataset examples/dataset]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from filelock import FileLock

from cooperbench.errors import SandboxError

__all__ = [
    "BASE_IMAGE",
    "BASE_PACKAGES",
    "PIP_BASE_IMAGE",
    "LocalRegistry",
    "debian_mirror",
    "ensure_base_image",
    "ensure_pip_base_image",
    "ensure_task_images",
    "main",
]

BASE_IMAGE = "cooperbench-test-base:bookworm"
PIP_BASE_IMAGE = "cooperbench-test-base-pip:bookworm"
BASE_PACKAGES = ("bash", "git", "python3", "python3-pytest", "python3-venv", "python-is-python3", "ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
_BUILD_LOCK_TIMEOUT = 1800.0


def _lock_for(name: str) -> FileLock:
    lock_dir = Path(tempfile.gettempdir()) / "cooperbench-docker-locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock_dir / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".lock")), timeout=_BUILD_LOCK_TIMEOUT)


def _source_entries(paths: Iterable[Path]) -> Iterable[tuple[str, list[str]]]:
    """Yield ``(uri, suites)`` of every ``deb`` source in apt's one-line and deb822 files."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".list", ".sources"))
        elif path.is_file():
            files.append(path)
    for file in files:
        text = file.read_text(encoding="utf-8", errors="replace")
        if file.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.lstrip().startswith("#") and not line.startswith((" ", "\t")):
                        key, _, value = line.partition(":")
                        fields[key.strip().lower()] = value.strip()
                if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
                    for uri in fields.get("uris", "").split():
                        yield uri, fields.get("suites", "").split()
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    yield words[1], [words[2]]


def debian_mirror(suite: str = "bookworm", sources: Iterable[Path] = _APT_SOURCES) -> str:
    """The Debian mirror this machine's apt fetches ``suite`` from (``deb.debian.org`` if none is configured)."""
    for uri, suites in _source_entries(sources):
        if suite in suites:
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def _image_exists(client: object, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        return False
    return True


def ensure_base_image(
    tag: str = BASE_IMAGE,
    *,
    suite: str = "bookworm",
    mirror: str | None = None,
    packages: Iterable[str] = BASE_PACKAGES,
    base_url: str | None = None,
) -> str:
    """Build the Debian test base image with debootstrap unless the Engine already has ``tag``.

    Args:
        tag: the image tag to build and cache under.
        suite: the Debian release.
        mirror: the Debian mirror; default: the one apt on this machine uses.
        packages: packages installed on top of the ``minbase`` variant.
        base_url: the Docker daemon's address (default: ``DOCKER_HOST`` or the local socket).

    Returns:
        ``tag``.

    Raises:
        SandboxError: the daemon is down, or debootstrap or the import failed (the message
            holds the end of the build log and what to check).
    """
    from cooperbench_backend_docker._client import ClientFactory, docker_errors

    factory = ClientFactory(base_url)
    client = factory.get()
    try:
        if _image_exists(client, tag):
            return tag
        with _lock_for(tag):
            if _image_exists(client, tag):  # another process built it while we waited
                return tag
            if shutil.which("debootstrap") is None:
                raise SandboxError(
                    f"cannot build the test base image {tag}: `debootstrap` is not installed; "
                    "install it (`apt-get install debootstrap`) or import an image of that tag yourself."
                )
            with tempfile.TemporaryDirectory(prefix="cooperbench-rootfs-", dir="/var/tmp") as tmp:
                root = Path(tmp) / "root"
                _debootstrap(root, suite, mirror or debian_mirror(suite), packages)
                archive = Path(tmp) / "rootfs.tar"
                subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(archive), "."], check=True)
                repository, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
                changes = [f"ENV PATH={_DEFAULT_PATH}", "ENV LANG=C.UTF-8", 'CMD ["bash"]']
                with docker_errors(f"importing the test base image {tag}", base_url):
                    client.api.import_image_from_file(str(archive), repository=repository, tag=version, changes=changes)
            return tag
    finally:
        factory.close()


def _debootstrap(root: Path, suite: str, mirror: str, packages: Iterable[str]) -> None:
    log = root.parent / "debootstrap.log"
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", suite, str(root), mirror]
    with log.open("wb") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise SandboxError(
            f"debootstrap of Debian {suite} from {mirror} failed (exit {proc.returncode}); it must run as root "
            f"and reach the mirror (pass another with `mirror=`). End of its log:\n{tail}"
        )
    # Slim the image: package caches are useless inside it.
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (root / cache).glob("*"):
            if entry.is_file():
                entry.unlink()
    python = root / "usr/bin/python"
    if not python.exists():
        python.symlink_to("python3")


def ensure_task_images(
    dataset_dir: str | os.PathLike[str], *, base_image: str = BASE_IMAGE, base_url: str | None = None
) -> dict[str, str]:
    """Build (or reuse) the image of every task of a dataset on top of ``base_image``.

    Goes through :meth:`DockerBackend.resolve_image`, so it is the same local / pull / build
    path a run takes, with ``BASE_IMAGE`` passed as a build argument.

    Returns:
        ``{task key: image name}``.

    Raises:
        SandboxError: an image could not be built.
    """
    from cooperbench.dataset import load_tasks
    from cooperbench_backend_docker.backend import DockerBackend

    backend = DockerBackend(build_args={"BASE_IMAGE": base_image}, pull=False, base_url=base_url)
    images: dict[str, str] = {}
    for task in load_tasks(Path(dataset_dir)):
        with _lock_for(task.image_name(backend.image_prefix)):
            images[task.key] = backend.resolve_image(task)
    return images


def ensure_pip_base_image(
    tag: str = PIP_BASE_IMAGE,
    *,
    base_image: str = BASE_IMAGE,
    ca_bundle: Path | None = None,
    base_url: str | None = None,
) -> str:
    """The test base image with a Python venv (``pip``) first on ``PATH``, for tasks that install from the index.

    Debian's own Python refuses ``pip install`` (PEP 668); a venv is what the public task images'
    ``python:3.x`` bases give. This machine's CA bundle is copied in and named in ``PIP_CERT``, so
    the image reaches the package index where a proxy with its own CA stands in between.

    Raises:
        SandboxError: the daemon is down or the build failed.
    """
    import io
    import tarfile

    from cooperbench_backend_docker._client import ClientFactory, docker_errors

    bundle = ca_bundle or Path("/etc/ssl/certs/ca-certificates.crt")
    factory = ClientFactory(base_url)
    client = factory.get()
    try:
        if _image_exists(client, tag):
            return tag
        with _lock_for(tag):
            if _image_exists(client, tag):
                return tag
            lines = [f"FROM {base_image}"]
            files = {}
            if bundle.is_file():
                files["ca-certificates.crt"] = bundle.read_bytes()
                lines.append("COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt")
            lines += [
                "RUN python3 -m venv /opt/venv && /opt/venv/bin/pip --version",
                "ENV PATH=/opt/venv/bin:" + _DEFAULT_PATH,
                "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1",
            ]
            files["Dockerfile"] = ("\n".join(lines) + "\n").encode()
            context = io.BytesIO()
            with tarfile.open(fileobj=context, mode="w") as tar:
                for name, data in files.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
            context.seek(0)
            log: list[str] = []
            with docker_errors(f"building the test image {tag}", base_url):
                for message in client.api.build(fileobj=context, custom_context=True, tag=tag, rm=True, decode=True):
                    log.extend(str(message.get("stream", "")).splitlines())
                    if message.get("error"):
                        raise SandboxError(f"building {tag} failed: {message['error']}\n" + "\n".join(log[-15:]))
            return tag
    finally:
        factory.close()


class LocalRegistry:
    """A real registry (Debian's ``docker-registry``) on a port of its own, for tests; a context manager.

    It listens on ``127.0.0.1`` at a port the kernel picks (``addr: 127.0.0.1:0``) and is asked
    which one from its log, so nothing guesses a free port. The Docker Engine talks plain HTTP to
    registries on loopback addresses, so no TLS is needed.

    Attributes:
        address: ``127.0.0.1:<port>``, the prefix of image names in this registry.
    """

    def __init__(self, root: Path, *, binary: str = "docker-registry", start_timeout: float = 60.0) -> None:
        self.root = Path(root)
        self.binary = binary
        self.start_timeout = start_timeout
        self.address = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalRegistry:
        path = shutil.which(self.binary)
        if path is None:
            raise SandboxError(f"`{self.binary}` is not installed (apt-get install docker-registry)")
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.root / 'data'}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n"
        )
        log = self.root / "registry.log"
        with log.open("wb") as out:
            self._proc = subprocess.Popen([path, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.start_timeout
        while not self.address:
            found = re.search(r"listening on (127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
            if found:
                self.address = found.group(1)
            elif self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise SandboxError(f"the test registry did not start; its log:\n{log.read_text(errors='replace')}")
            else:
                time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


def main(argv: list[str] | None = None) -> int:
    """Build the test base image and the task images of ``--dataset``; print what was built and how long it took."""
    parser = argparse.ArgumentParser(prog="python -m cooperbench_backend_docker.testing", description=__doc__)
    parser.add_argument("--dataset", type=Path, default=None, help="also build the images of this dataset's tasks")
    parser.add_argument("--tag", default=BASE_IMAGE, help="tag of the base image")
    parser.add_argument("--mirror", default=None, help="Debian mirror (default: the one apt uses)")
    args = parser.parse_args(argv)
    try:
        start = time.monotonic()
        ensure_base_image(args.tag, mirror=args.mirror)
        print(f"{args.tag}: ready in {time.monotonic() - start:.1f}s")
        if args.dataset is not None:
            start = time.monotonic()
            for key, image in ensure_task_images(args.dataset, base_image=args.tag).items():
                print(f"{key}: {image}")
            print(f"task images ready in {time.monotonic() - start:.1f}s")
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
