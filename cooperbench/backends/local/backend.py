"""The ``local`` backend: bubblewrap sandboxes on this host, from cached workspace templates."""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cooperbench.backends.base import Mount, RunLabels, SandboxPurpose
from cooperbench.backends.local import _bwrap, _hostview
from cooperbench.backends.local._gitserver import LocalGitServer
from cooperbench.backends.local._limits import SandboxCgroup, parse_limits
from cooperbench.backends.local._network import NetworkMode, SandboxNetwork, parse_network
from cooperbench.backends.local._paths import cache_root
from cooperbench.backends.local._runs import RunDirs, describe, list_runs, remove_tree, sweep
from cooperbench.backends.local._sandbox import LocalSandbox
from cooperbench.backends.local._template import META_FILE, Template, ensure_template, load_template
from cooperbench.backends.local._workspace import create_workspace
from cooperbench.dataset import Task
from cooperbench.errors import SandboxError

__all__ = ["REF_PREFIX", "LocalBackend"]

REF_PREFIX = "local-template:"

# Shared by every LocalBackend of this process: which run directories are in use, and which
# upstream image names were resolved to which template (agents are handed upstream names).
_RUN_DIRS = RunDirs()
_RESOLVED: dict[tuple[Path, str], str] = {}
_RESOLVED_LOCK = threading.Lock()


class LocalBackend:
    """Sandboxes on this host: an overlay of the task's workspace template per sandbox, bubblewrap per command.

    Inside a sandbox the repository is at ``/workspace/repo``, patches at ``/patches``, and
    ``/tmp`` is private; for Python tasks ``/workspace/.venv`` comes first on ``PATH``, and the
    task's ``runner.sh`` is on ``PATH`` too. Of the host, a sandbox sees an allowlist only: the
    operating system and the toolchains read-only (see :mod:`._hostview`), never the dataset,
    logs, cache, harness, ``/root`` or ``/home``, nor any host unix socket. Each command runs
    in its own PID namespace (nothing it starts outlives it), in the sandbox's own network
    namespace (outbound access through slirp4netns; the host's loopback and addresses
    unreachable), and in the sandbox's cgroups (memory, process and CPU limits).
    docs/security.md says what this guards against and what it does not.

    Args:
        cache_dir: where templates and run resources live; default ``$COOPERBENCH_CACHE_DIR``,
            else ``~/.cache/cooperbench``.
        default_timeout: seconds a command may run when ``exec`` is given no timeout.
        network: ``True`` (default): the sandbox's own network namespace with outbound access;
            ``False``: no network at all; ``"host"``: the host's network (loopback services,
            abstract sockets and every port of the host reachable), with a warning.
        memory: memory per sandbox (``"8g"``, ``"512m"``, bytes; ``None``: no limit).
        pids: processes and threads per sandbox (``None``: no limit).
        cpus: CPUs per sandbox (fractions allowed; ``None``: no limit).

    Raises:
        ConfigError: an option has a wrong value (the message names it).
    """

    name = "local"

    def __init__(
        self,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        default_timeout: float | None = 3600.0,
        network: bool | str = True,
        memory: str | int | None = "8g",
        pids: int | None = 4096,
        cpus: float | None = 2.0,
    ) -> None:
        self.cache_dir = cache_root(cache_dir)
        self.templates_dir = self.cache_dir / "templates"
        self.runs_dir = self.cache_dir / "runs"
        self.default_timeout = default_timeout
        self.network: NetworkMode = parse_network(network)
        self.limits = parse_limits(memory, pids, cpus)
        if self.network == "host":
            warnings.warn(
                "local backend: `network: host` shares the host's network with every sandbox: agents can reach "
                "the host's loopback services (Redis, the LLM endpoint, databases), its abstract unix sockets "
                "and every port it listens on. Use it only with agents you trust",
                UserWarning,
                stacklevel=2,
            )

    def preflight(self) -> None:
        """Check, before a run starts any pair, that bubblewrap is installed and can create namespaces here.

        Raises:
            SandboxError: it is missing or cannot work (the message says how to fix it).
        """
        self._bwrap()

    def describe(self) -> dict[str, Any]:
        """The isolation and limits sandboxes get (recorded in the run's config.json)."""
        return {"network": self.network, **self.limits.describe(), "default_timeout": self.default_timeout}

    def __repr__(self) -> str:
        return f"LocalBackend(cache_dir={str(self.cache_dir)!r})"

    def resolve_image(self, task: Task) -> str:
        """Build (once, cached) the task's workspace template and return ``local-template:<key>``.

        Afterwards, this process also accepts the task's upstream image name
        (``task.image_name()``) in :meth:`create_sandbox`.

        Raises:
            SandboxError: bubblewrap is missing, or the template cannot be built (the message
                names the task and the failing step).
        """
        template = ensure_template(task, self.templates_dir, self._bwrap())
        ref = f"{REF_PREFIX}{template.key}"
        with _RESOLVED_LOCK:
            _RESOLVED[(self.cache_dir, task.image_name())] = ref
        return ref

    def create_sandbox(
        self, image: str, *, run: RunLabels, purpose: SandboxPurpose = "agent", mounts: Sequence[Mount] = ()
    ) -> LocalSandbox:
        """Make a new sandbox of ``run`` from the template ``image`` names.

        Its ``/workspace`` is an overlay of the template (as root; a copy otherwise, see
        :mod:`._workspace`), its network namespace and cgroups are set up once, here.

        Args:
            image: a reference from :meth:`resolve_image`, or the upstream image name of a task
                resolved earlier in this process.
            run: the run the sandbox belongs to.
            purpose: recorded in the sandbox id.
            mounts: host paths bound into this sandbox only (a git server's ``mounts``, a
                messaging socket); read-only ones with ``--ro-bind``.

        Raises:
            SandboxError: the image is unknown, its template is gone, bubblewrap is missing, a
                mount's source is missing or its target is not allowed, or the workspace cannot be made.
        """
        binds = _bwrap.mount_binds(mounts)
        template = self._template(image)
        bwrap = self._bwrap()
        run_dir = _RUN_DIRS.acquire(self.runs_dir, run)
        sandbox_id = f"{purpose}-{secrets.token_hex(4)}"
        root = run_dir / "sandboxes" / sandbox_id
        network: SandboxNetwork | None = None
        cgroup: SandboxCgroup | None = None
        try:
            root.mkdir(parents=True)
            (root / "patches").mkdir()
            (root / "tmp").mkdir()
            if self.network == "isolated":
                network = SandboxNetwork(root)  # comes up while the workspace is copied
            shared = template.shared if template.shared.is_dir() else None
            create_workspace(template.workspace, shared, root, shared_linked=template.shared_linked)
            cgroup = SandboxCgroup(
                self.limits, runs_dir=self.runs_dir, run_dir_name=run_dir.name, sandbox_id=sandbox_id
            )
            # Reading the host's socket tables takes milliseconds: done while slirp4netns comes up.
            view = tuple(_hostview.host_view_args([str(p) for p in template.ro_paths]))
            if network is not None:
                network.wait_ready()
        except BaseException as exc:
            if network is not None:
                network.close()
            if cgroup is not None:
                cgroup.remove()
            remove_tree(root)  # detaches the workspace overlay first
            _RUN_DIRS.release(run_dir)
            if isinstance(exc, OSError):
                raise SandboxError(f"cannot create a sandbox under {root}: {exc}") from exc
            raise
        return LocalSandbox(
            sandbox_id=sandbox_id,
            root=root,
            mounts=binds,
            bwrap=bwrap,
            python=template.python,
            env=template.env,
            path_prefix=template.path_prefix,
            ro_paths=template.ro_paths,
            view=view,
            default_timeout=self.default_timeout,
            network=network,
            share_host_net=self.network == "host",
            cgroup=cgroup,
            release=lambda: _RUN_DIRS.release(run_dir),
        )

    def image_provenance(self, image: str) -> dict[str, Any]:
        """What the template ``image`` names was built from (for config.json and ``validate``).

        Returns:
            ``template`` (its key) and the build's provenance: ``python`` (``requested``, ``used``,
            ``executable``, ``chosen``: exact | nearest | default), ``toolchains``, ``install_steps``, ...

        Raises:
            SandboxError: the image is unknown or its template is gone.
        """
        template = self._template(image)
        return {"template": template.key, **template.provenance}

    def create_git_server(self, *, run: RunLabels) -> LocalGitServer:
        """Create an empty bare repository in ``run``'s directory.

        Each call makes a new repository (the runner makes one per coop pair). Only sandboxes
        created with the server's ``mounts`` see it (at ``/git/<id>.git``).

        Raises:
            SandboxError: git cannot create the repository.
        """
        run_dir = _RUN_DIRS.acquire(self.runs_dir, run)
        server_id = f"team-{secrets.token_hex(4)}"
        path = run_dir / "git" / f"{server_id}.git"
        try:
            made = subprocess.run(
                ["git", "init", "-q", "--bare", str(path)], capture_output=True, text=True, check=False
            )
        except OSError as exc:
            made = subprocess.CompletedProcess([], 1, "", f"{exc} (is git installed?)")
        if made.returncode != 0:
            remove_tree(path)
            _RUN_DIRS.release(run_dir)
            raise SandboxError(f"cannot create the run's git repository {path}: {made.stderr.strip()}")
        return LocalGitServer(server_id=server_id, path=path, release=lambda: _RUN_DIRS.release(run_dir))

    def cleanup(self, *, run_name: str | None = None, stale_only: bool = False) -> list[str]:
        """Kill the bwrap processes and delete the directories of runs (all, or ``run_name``'s).

        Args:
            run_name: only this run name's resources.
            stale_only: only runs whose owning process is gone.

        Returns:
            One line per resource removed (sandbox, git repository, process, run directory).
        """
        removed = sweep(self.runs_dir, run_name=run_name, stale_only=stale_only)
        if run_name is None and self.templates_dir.is_dir():
            # Half-built templates of builders that died (named .build-<key>-<pid>-<random>).
            for scratch in self.templates_dir.glob(".build-*"):
                pid = scratch.name.rsplit("-", 2)[-2]
                if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                    remove_tree(scratch)
                    removed.append(f"unfinished template build {scratch}")
        return removed

    def resources(self, run_name: str | None = None) -> list[str]:
        """Describe what exists on disk and in the process table for runs (all, or ``run_name``'s).

        Returns:
            One line per sandbox, git repository, bwrap process and run directory; empty when
            every resource was cleaned up.
        """
        return [item for record in list_runs(self.runs_dir, run_name) for item in describe(record)]

    def _bwrap(self) -> str:
        bwrap = _bwrap.find_bwrap()
        _bwrap.probe(bwrap)
        return bwrap

    def _template(self, image: str) -> Template:
        with _RESOLVED_LOCK:
            ref = _RESOLVED.get((self.cache_dir, image), image)
        if not ref.startswith(REF_PREFIX):
            with _RESOLVED_LOCK:
                known = sorted(name for cache, name in _RESOLVED if cache == self.cache_dir)
            raise SandboxError(
                f"local backend: cannot resolve image {image!r}: it is neither a reference returned by "
                f"resolve_image() ({REF_PREFIX}<key>) nor the image name of a task resolved in this process "
                f"(resolved so far: {', '.join(known) or 'none'}). Call backend.resolve_image(task) first "
                "(`cooperbench run` does) and create sandboxes from what it returns"
            )
        path = self.templates_dir / ref.removeprefix(REF_PREFIX)
        if not (path / META_FILE).is_file():
            raise SandboxError(
                f"local backend: the template of {image!r} is not in {self.templates_dir} (was the "
                "cache cleared?); call resolve_image(task) again to rebuild it"
            )
        return load_template(path)
