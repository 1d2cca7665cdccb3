"""Making a task's image available: a local image of its name, else a pull, else a build."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import docker.errors

from cooperbench.errors import SandboxError
from cooperbench_backend_docker._client import docker_errors

if TYPE_CHECKING:
    from docker import DockerClient

    from cooperbench.dataset import Task

__all__ = ["LABEL_TASK_HASH", "build_image", "has_image", "image_label", "pull_image"]

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


def pull_image(client: DockerClient, name: str, *, first_reply: float, overall: float) -> tuple[bool, str, bool]:
    """Try to pull ``name``; never raises.

    Args:
        first_reply: seconds to wait for the registry's first progress message.
        overall: seconds the whole pull may take.

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


def build_image(
    client: DockerClient,
    task: Task,
    name: str,
    *,
    build_args: Mapping[str, str],
    timeout: float,
    base_url: str | None,
    why_not_pulled: str | None,
) -> None:
    """Build ``name`` from the task's ``Dockerfile`` with the task folder as the build context.

    ``why_not_pulled`` says why the image is built rather than used or pulled; error messages quote it.

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
                    lines.extend(str(message["stream"]).rstrip("\n").splitlines())
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
