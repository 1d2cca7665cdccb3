"""The sandbox backend contract.

A *backend* turns a task into sandboxes. It resolves the task's image, creates sandboxes
from it (one per agent, one per evaluation), and creates the per-run git server agents
share code through. Every resource a backend creates is tagged with the run's name and id
(:class:`RunLabels`), so :meth:`Backend.cleanup` can remove what a crashed run left behind.

Inside every sandbox the task repository is at ``/workspace/repo`` (a git repository at the
task's base commit, clean) and ``/patches`` exists and is writable, so a task's own
``runner.sh`` runs unmodified (the evaluator writes it to ``/patches/runner.sh``).

:mod:`cooperbench.testing.conformance` checks all of this; every backend runs it.

Backends raise :class:`~cooperbench.errors.SandboxError` (a kind of
:class:`~cooperbench.errors.InfraError`) for infrastructure failures; the runner records
them as ``infra_error`` and a resumed run retries the pair.
"""

from __future__ import annotations

import os
import posixpath
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from cooperbench.dataset import Task

__all__ = [
    "PATCHES_DIR",
    "REPO_DIR",
    "Backend",
    "ExecResult",
    "GitServer",
    "ListsResources",
    "Mount",
    "RunLabels",
    "Sandbox",
    "SandboxPurpose",
]

REPO_DIR = "/workspace/repo"
PATCHES_DIR = "/patches"

SandboxPurpose = Literal["agent", "eval", "check"]


@dataclass(frozen=True)
class Mount:
    """A host file, directory or unix socket shown at ``target`` inside a sandbox.

    The harness uses mounts to give one sandbox, and no other, what it must reach: its pair's
    git repository, its own messaging endpoint. A backend that cannot provide a mount (a
    remote machine has no access to this host's files) raises
    :class:`~cooperbench.errors.SandboxError` naming it from ``create_sandbox``.

    Attributes:
        source: the path on the host (the harness's machine); it must exist.
        target: the absolute path inside the sandbox, outside the host directories a sandbox
            sees read-only (``/usr``, ``/etc``, ...). Sockets conventionally go under
            ``/run/cooperbench/``.
        read_only: writes through the mount fail (a socket stays connectable either way).
    """

    source: Path
    target: str
    read_only: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", Path(self.source))
        target = self.target
        if not isinstance(target, str) or not target.startswith("/") or posixpath.normpath(target) != target:
            raise ValueError(f"Mount target must be a normalised absolute path, got {target!r}")
        if target == "/":
            raise ValueError("Mount target cannot be / (the sandbox's root)")


@dataclass(frozen=True)
class RunLabels:
    """Identifies the run that owns a resource.

    Attributes:
        run_name: the user's run name (``-n``); a new run sweeps stale resources of its own name.
        run_id: unique per invocation, so concurrent runs of one name do not collide.
    """

    run_name: str
    run_id: str = field(default_factory=lambda: secrets.token_hex(6))

    def as_labels(self) -> dict[str, str]:
        return {
            "cooperbench.run_name": self.run_name,
            "cooperbench.run_id": self.run_id,
            "cooperbench.pid": str(os.getpid()),
        }


@dataclass
class ExecResult:
    """The outcome of one command in a sandbox.

    Attributes:
        output: stdout and stderr interleaved, decoded as UTF-8 with invalid bytes replaced.
        returncode: the exit status; ``-9``/``124``-style values are backend specific when
            ``timed_out`` is true, so check ``timed_out``.
        timed_out: the command hit its timeout and its whole process tree was killed;
            ``output`` keeps what it printed until then.
        duration: wall time in seconds.
        resource_limit: ``"memory"`` or ``"pids"`` when the sandbox's resource limits cut the
            command short (a process killed for memory, the command ended for reaching the
            process limit); the output then ends with a line saying so.
    """

    output: str
    returncode: int
    timed_out: bool = False
    duration: float = 0.0
    resource_limit: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style access (``result.get("output")``) as the Environment contract promises."""
        return getattr(self, key, default)

    def __getitem__(self, key: str) -> Any:
        if not hasattr(self, key):
            raise KeyError(key)
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        out = {"output": self.output, "returncode": self.returncode, "timed_out": self.timed_out}
        if self.resource_limit is not None:
            out["resource_limit"] = self.resource_limit
        return out


@runtime_checkable
class Sandbox(Protocol):
    """One isolated workspace holding the task repository.

    Two sandboxes never see each other's files. Every method is safe to call from any
    thread; one sandbox is driven by one caller at a time.
    """

    id: str

    def exec(
        self,
        command: str | list[str],
        *,
        timeout: float | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> ExecResult:
        """Run a command and wait for it.

        Args:
            command: a shell command line (run with ``bash -c``) or an argv list.
            timeout: seconds; on expiry the command's whole process tree is killed and the
                result has ``timed_out=True`` and the output printed so far. ``None`` means
                the backend's default limit.
            env: extra environment variables.
            cwd: working directory; defaults to ``/workspace/repo``.

        Returns:
            An :class:`ExecResult`. A non-zero exit is a result, not an error.

        Raises:
            SandboxError: the sandbox is gone or unreachable.
        """
        ...

    def write_file(self, path: str, data: bytes | str, *, mode: int = 0o644) -> None:
        """Create or replace the file at absolute ``path`` (parents created), of any size.

        Raises:
            SandboxError: the sandbox is gone or the file cannot be written.
        """
        ...

    def read_file(self, path: str) -> bytes:
        """Return the bytes of the file at absolute ``path``.

        Raises:
            FileNotFoundError: no such file in the sandbox.
            SandboxError: the sandbox is gone or unreachable.
        """
        ...

    def cleanup(self) -> None:
        """Destroy the sandbox and everything it holds. Idempotent; never raises."""
        ...


@runtime_checkable
class GitServer(Protocol):
    """A shared git remote the agents of one pair push to and fetch from.

    Attributes:
        url: the URL of the shared repository as sandboxes see it; agents run ``git remote
            add team <url>``. ``local``: ``file:///git/<id>.git``, the bare repository
            mounted (through :attr:`mounts`) into the sandboxes of the pair's agents only;
            container backends serve it on a network only the run's sandboxes join.
        mounts: what a sandbox must have mounted to reach the server (pass them to
            ``create_sandbox(mounts=...)``); empty for a server reached over the network.
            A sandbox created without them must not reach the repository.
    """

    url: str
    mounts: tuple[Mount, ...]

    def cleanup(self) -> None:
        """Remove the server and its repositories. Idempotent; never raises."""
        ...


@runtime_checkable
class Backend(Protocol):
    """A sandbox provider, registered under a name through ``cooperbench_register_backends``.

    Instantiated with keyword options from the ``backend`` section of the configuration;
    unknown options raise :class:`~cooperbench.errors.ConfigError`.
    """

    name: str

    def resolve_image(self, task: Task) -> str:
        """Make the task's image available and return the reference sandboxes are created from.

        Called once per task before any agent starts; may build (a template, an image).

        Raises:
            SandboxError: the image cannot be found or built; the message says why and how to fix it.
        """
        ...

    def create_sandbox(
        self, image: str, *, run: RunLabels, purpose: SandboxPurpose = "agent", mounts: Sequence[Mount] = ()
    ) -> Sandbox:
        """Start a sandbox from a reference returned by :meth:`resolve_image` (or an image name).

        Args:
            image: the reference.
            run: the run the sandbox belongs to (its labels tag every resource).
            purpose: what the sandbox is for (recorded in its id or labels).
            mounts: host paths this sandbox, and no other, sees (see :class:`Mount`). Callers
                pass ``mounts`` only when it is non-empty, so a backend without the parameter
                keeps working as long as nobody needs a mount from it.

        Raises:
            SandboxError: the sandbox cannot be started, or a mount cannot be provided (the
                message names it).
        """
        ...

    def create_git_server(self, *, run: RunLabels) -> GitServer:
        """Start a git server of ``run`` holding a new, empty shared repository.

        Every call makes a new repository (the runner makes one per coop pair), which a
        sandbox of ``run`` created afterwards with the server's ``mounts`` reaches at the
        server's ``url``.

        Raises:
            SandboxError: the server cannot be started.
        """
        ...

    def cleanup(self, *, run_name: str | None = None, stale_only: bool = False) -> list[str]:
        """Remove resources this backend created (all, or those of ``run_name``).

        Args:
            run_name: only resources of this run name.
            stale_only: only resources whose owning process is gone (used by a new run to
                sweep what a crashed run of its name left behind without touching a live one).

        Returns:
            A description of each resource removed.
        """
        ...


@runtime_checkable
class ListsResources(Protocol):
    """Optional part of the backend contract: listing what a backend holds.

    The runner does not need it; the conformance suite does, to check that cleanup leaves
    nothing behind, so every backend that runs the suite implements it.
    """

    def resources(self, run_name: str | None = None) -> list[str]:
        """Describe every resource that exists for runs (all, or those named ``run_name``).

        Returns:
            One line per sandbox, container, network, repository, process or directory;
            empty once everything of those runs was cleaned up.
        """
        ...
