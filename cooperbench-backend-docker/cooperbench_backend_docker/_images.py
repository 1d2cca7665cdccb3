"""Making a task's image available: a local image of its name, else a pull, else a build."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import queue
import re
import shlex
import tarfile
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import docker.errors
import docker.utils

from cooperbench.backends.base import REPO_DIR
from cooperbench.errors import SandboxError
from cooperbench.git_history import scrub_script
from cooperbench_backend_docker._client import docker_errors

if TYPE_CHECKING:
    from docker import DockerClient

    from cooperbench.dataset import Task

__all__ = [
    "LABEL_HISTORY_CUT",
    "LABEL_TASK_HASH",
    "build_image",
    "ensure_history_cut",
    "has_image",
    "image_label",
    "image_provenance",
    "pull_image",
]

log = logging.getLogger(__name__)

# Words of a pull error that mean no registry answered (as opposed to "no such image").
_UNREACHABLE = ("dial tcp", "no such host", "i/o timeout", "connection refused", "network is unreachable", "timeout")
_BUILD_LOG_TAIL = 25
# On images we build: the content hash of the task folder they were built from.
LABEL_TASK_HASH = "cooperbench.task_hash"


def image_label(client: DockerClient, name: str, label: str) -> str | None:
    """The value of ``label`` on the local image ``name``: ``""`` when it has none, ``None`` when there is no image."""
    try:
        image = client.images.get(name)
    except docker.errors.ImageNotFound:
        return None
    return str((image.labels or {}).get(label, ""))


def has_image(client: DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def _split(name: str) -> tuple[str, str]:
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = name.rpartition(":")
        return repository, tag
    return name, "latest"


def pull_image(
    client: DockerClient,
    name: str,
    *,
    first_reply: float,
    overall: float,
    on_message: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[bool, str, bool]:
    """Try to pull ``name``; never raises.

    Args:
        first_reply: seconds to wait for the registry's first progress message.
        overall: seconds the whole pull may take.
        on_message: called with each progress message of the Engine (``id``, ``status``, ``progressDetail``).

    Returns:
        ``(pulled, reason it was not, whether no registry answered)``.
    """
    repository, tag = _split(name)
    replies: queue.Queue[dict[str, Any] | BaseException | None] = queue.Queue()

    def pump() -> None:
        try:
            for message in client.api.pull(repository, tag=tag, stream=True, decode=True):
                replies.put(message)
        except BaseException as exc:
            replies.put(exc)
        finally:
            replies.put(None)

    # A thread, because the SDK's pull has no timeout and an unanswering registry can hang it.
    threading.Thread(target=pump, daemon=True, name="cooperbench-pull").start()
    deadline = time.monotonic() + overall
    answered = False
    while True:
        limit = deadline - time.monotonic()
        if not answered:
            limit = min(limit, first_reply)
        try:
            reply = replies.get(timeout=max(0.0, limit))
        except queue.Empty:
            if answered:
                return False, f"the pull did not finish within {overall:.0f}s", False
            return False, f"no registry answered within {first_reply:.0f}s", True
        if reply is None:
            return has_image(client, name), "the pull ended without the image", False
        if isinstance(reply, BaseException):
            reason = str(getattr(reply, "explanation", None) or reply)
            return False, reason, any(word in reason for word in _UNREACHABLE)
        if "error" in reply:
            reason = str(reply["error"])
            return False, reason, any(word in reason for word in _UNREACHABLE)
        answered = True
        if on_message is not None:
            on_message(reply)


def build_image(
    client: DockerClient,
    task: Task,
    name: str,
    *,
    build_args: Mapping[str, str],
    timeout: float,
    base_url: str | None,
    why_not_pulled: str | None,
    on_line: Callable[[str], None] | None = None,
) -> None:
    """Build ``name`` from the task's ``Dockerfile`` with the task folder as the build context.

    ``why_not_pulled`` says why the image is built rather than used or pulled; error messages quote it.
    ``on_line`` is called with each line of the build log.

    Raises:
        SandboxError: there is no Dockerfile, or the build failed (the message holds the end of the build log).
    """
    dockerfile = task.path / "Dockerfile"
    why = why_not_pulled or "it is not in the local Docker Engine"
    if not dockerfile.is_file():
        raise SandboxError(
            f"image {name} of task {task.key} must be built ({why}), but there is no {dockerfile} to build it "
            f"from. Fix: build or load that image (`docker build -t {name} ...`, "
            "`docker load`), make a registry that has it reachable, or set the backend option `image_prefix` "
            "to the prefix your images are tagged with."
        )
    lines: list[str] = []
    labels = {"cooperbench.task": task.key, LABEL_TASK_HASH: task.content_hash}
    with docker_errors(f"building image {name} from {dockerfile}", base_url):
        try:
            stream = client.api.build(
                path=str(task.path),
                tag=name,
                buildargs=dict(build_args),
                rm=True,
                forcerm=True,
                decode=True,
                labels=labels,
                timeout=int(timeout),
            )
            for message in stream:
                if "stream" in message:
                    new_lines = str(message["stream"]).rstrip("\n").splitlines()
                    lines.extend(new_lines)
                    if on_line is not None:
                        for line in new_lines:
                            on_line(line)
                error = message.get("error") or (message.get("errorDetail") or {}).get("message")
                if error:
                    lines.append(str(error))
                    raise _BuildFailed(str(error))
        except (_BuildFailed, docker.errors.BuildError, docker.errors.APIError) as exc:
            tail = "\n".join(lines[-_BUILD_LOG_TAIL:])
            detail = getattr(exc, "explanation", None) or exc
            raise SandboxError(
                f"building image {name} of task {task.key} from {dockerfile} failed: {detail} (built because "
                f"{why}). Fix the Dockerfile (build arguments: {dict(build_args) or 'none'}; set them with the "
                f"backend option `build_args`), or provide the image under that name. End of the build log:\n{tail}"
            ) from exc
    if not has_image(client, name):
        raise SandboxError(f"building image {name} from {dockerfile} reported success but the image is missing")
    log.info("built %s for %s", name, task.key)


class _BuildFailed(Exception):
    pass


# On images whose repository history was cut at the base: the hash of the scrub script, and the
# image (and registry digest, for pulled images) the cut was made from.
LABEL_HISTORY_CUT = "cooperbench.history_cut"
LABEL_CUT_FROM = "cooperbench.history_cut_from"
LABEL_CUT_FROM_DIGEST = "cooperbench.history_cut_from_digest"


def _scrub_argv() -> list[str]:
    return shlex.split(scrub_script(REPO_DIR, "HEAD"))


def scrub_version() -> str:
    """A hash of the scrub script: an image cut with another version of it is cut again."""
    return hashlib.sha256(json.dumps(_scrub_argv()).encode()).hexdigest()[:16]


def registry_digest(name: str, digests: list[str]) -> str | None:
    """The registry digest (``repository@sha256:...``) of ``name``'s own repository among an image's.

    One image id can carry digests of several repositories (the same content pushed to or pulled
    from several registries); the one that says where ``name`` came from is its repository's.
    """
    repository, _ = docker.utils.parse_repository_tag(name)
    own = [d for d in digests if d.split("@", 1)[0] == repository]
    return own[0] if own else (digests[0] if digests else None)


def ensure_history_cut(client: DockerClient, name: str, *, timeout: float, base_url: str | None) -> None:
    """Make ``name`` an image whose ``/workspace/repo`` holds the base commit (HEAD) and its ancestors only.

    Done once per image: the image is rebuilt on top of itself with the history cut
    (:mod:`cooperbench.git_history`) in one ``RUN`` step, labelled, and tagged ``name`` again, so
    every sandbox of that name gets the cut repository. The image it was made from is named in
    its labels (with its registry digest when it was pulled).

    Raises:
        SandboxError: the image has no git repository at ``/workspace/repo`` at a commit, or the build failed.
    """
    source = client.api.inspect_image(name)
    config = source.get("Config") or {}
    labels = config.get("Labels") or {}
    version = scrub_version()
    if labels.get(LABEL_HISTORY_CUT) == version:
        return
    digests = source.get("RepoDigests") or []
    user = str(config.get("User") or "")
    lines = [f"FROM {source['Id']}", "USER root", f"RUN {json.dumps(_scrub_argv())}"]
    if user and user not in ("root", "0", "0:0"):
        lines.append(f"USER {json.dumps(user)[1:-1]}")
    dockerfile = "\n".join(lines) + "\n"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile.encode())
        tar.addfile(info, io.BytesIO(dockerfile.encode()))
    context.seek(0)
    cut_labels = {
        LABEL_HISTORY_CUT: version,
        LABEL_CUT_FROM: str(source["Id"]),
        LABEL_CUT_FROM_DIGEST: registry_digest(name, digests) or "",
    }
    lines_out: list[str] = []
    with docker_errors(f"cutting the repository history of image {name}", base_url):
        try:
            for message in client.api.build(
                fileobj=context,
                custom_context=True,
                tag=name,
                rm=True,
                forcerm=True,
                decode=True,
                labels=cut_labels,
                timeout=int(timeout),
            ):
                if "stream" in message:
                    lines_out.extend(str(message["stream"]).rstrip("\n").splitlines())
                error = message.get("error") or (message.get("errorDetail") or {}).get("message")
                if error:
                    raise _BuildFailed(str(error))
        except (_BuildFailed, docker.errors.BuildError, docker.errors.APIError) as exc:
            detail = str(getattr(exc, "explanation", None) or exc)
            status = re.search(r"returned a non-zero code: (\d+)", detail)
            if status:  # the builder quotes the whole script: say what matters
                detail = f"the cut exited with status {status.group(1)}"
            # The build's own steps (the script again) are noise; what the cut printed is not.
            said = [line for line in lines_out if not line.startswith(("Step ", " ---> ", "Removing intermediate"))]
            raise SandboxError(
                f"cutting the repository history of image {name} at its HEAD failed: {detail}. Task images must "
                f"hold a git repository at {REPO_DIR} checked out at the task's base commit, and git >= 2.29. "
                "Output:\n" + "\n".join(said[-_BUILD_LOG_TAIL:])
            ) from exc
    log.info("cut the repository history of %s at its base commit", name)


def image_provenance(client: DockerClient, name: str) -> dict[str, Any]:
    """What an image is: its id, registry digests, and what its history cut was made from."""
    image = client.api.inspect_image(name)
    labels = (image.get("Config") or {}).get("Labels") or {}
    digests = list(image.get("RepoDigests") or [])
    return {
        "image": name,
        "id": image.get("Id"),
        # where ``name`` came from: the digest its history cut was made from, else its repository's
        "registry_digest": labels.get(LABEL_CUT_FROM_DIGEST) or registry_digest(name, digests),
        "repo_digests": digests,
        "history_cut_from": labels.get(LABEL_CUT_FROM),
        "history_cut_from_digest": labels.get(LABEL_CUT_FROM_DIGEST) or None,
        "task_hash": labels.get(LABEL_TASK_HASH) or None,
    }
