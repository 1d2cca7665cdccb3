"""``cooperbench images pull|build|list|prune``: the docker images of the selected tasks.

Registered by the docker distribution through ``cooperbench_register_commands`` (see
:mod:`cooperbench_backend_docker.plugin`). Tasks are selected as ``cooperbench run`` selects
them (``--dataset-dir``, ``-s``, ``-r``, ``-t``), images are named as the docker backend names
them (``<image_prefix><repo>:task<id>``, the prefix from ``--image-prefix`` or the ``backend``
section of ``--agent-config``), and every image pulled or built has its repository history cut
at the base commit, as a run would before its first sandbox.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from cooperbench.dataset import Task
    from cooperbench_backend_docker.backend import DockerBackend

__all__ = ["images_app"]

images_app = typer.Typer(
    name="images",
    help="Docker images of the selected tasks: pull, build, list, prune (docker backend).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

SubsetOpt = Annotated[
    str | None, typer.Option("-s", "--subset", help="A subset of <dataset>/subsets/<name>.json, e.g. lite.")
]
RepoOpt = Annotated[str | None, typer.Option("-r", "--repo", help="Only this repository, e.g. llama_index_task.")]
TaskOpt = Annotated[int | None, typer.Option("-t", "--task", help="Only this task id.")]
DatasetOpt = Annotated[Path | None, typer.Option("--dataset-dir", help="The dataset folder (default: ./dataset).")]
ConfigOpt = Annotated[
    Path | None, typer.Option("--agent-config", help="YAML whose `backend` section holds docker backend options.")
]
PrefixOpt = Annotated[
    str | None,
    typer.Option("--image-prefix", help="Image names are <prefix><repo>:task<id> (default: akhatua/cooperbench-)."),
]

_TASK_TAG = re.compile(r"^task\d+$")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def _size(value: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _select(
    dataset_dir: Path | None, subset: str | None, repo: str | None, task: int | None
) -> tuple[list[Task], Path]:
    from cooperbench.dataset import discover_pairs
    from cooperbench.settings import defaults

    root = Path(dataset_dir or defaults().dataset_dir).expanduser()
    pairs = discover_pairs(root, subset=subset, repo=repo, task_id=task)
    tasks = sorted({p.task for p in pairs}, key=lambda t: (t.repo, t.task_id))
    return tasks, root


def _backend(agent_config: Path | None, image_prefix: str | None) -> DockerBackend:
    from cooperbench.backends import get_backend
    from cooperbench.errors import ConfigError
    from cooperbench.settings import load_yaml_mapping

    section: Any = load_yaml_mapping(agent_config, "agent config").get("backend") if agent_config else None
    if isinstance(section, str) or section is None:
        section = {"name": section or "docker"}
    if not isinstance(section, dict):
        raise ConfigError(f"{agent_config}: `backend` must be a mapping, got {type(section).__name__}")
    if section.get("name", "docker") != "docker":
        raise ConfigError(f"{agent_config}: `cooperbench images` works on the docker backend, not {section['name']!r}")
    options = {k: v for k, v in section.items() if k != "name"}
    if image_prefix is not None:
        options["image_prefix"] = image_prefix
    backend = get_backend("docker", **options)
    from cooperbench_backend_docker.backend import DockerBackend

    assert isinstance(backend, DockerBackend)
    return backend


def _setup(
    dataset_dir: Path | None,
    subset: str | None,
    repo: str | None,
    task: int | None,
    config: Path | None,
    prefix: str | None,
) -> tuple[DockerBackend, list[Task]]:
    from cooperbench.errors import CooperBenchError

    try:
        tasks, root = _select(dataset_dir, subset, repo, task)
        backend = _backend(config, prefix)
        backend.client.ping()
    except CooperBenchError as exc:
        raise _fail(str(exc)) from exc
    if not tasks:
        raise _fail(f"no task selected in {root} (subset={subset}, repo={repo}, task={task})")
    return backend, tasks


def _console() -> Console:
    from rich.console import Console

    return Console(stderr=False, highlight=False, soft_wrap=True)


class _LayerProgress:
    """Bytes of a pull, summed over its layers, from the Engine's progress messages."""

    def __init__(self, update: Callable[[int, int], None]) -> None:
        self.update = update
        self.layers: dict[str, tuple[int, int]] = {}

    def __call__(self, message: dict[str, Any]) -> None:
        layer, detail = message.get("id"), message.get("progressDetail") or {}
        status = str(message.get("status", ""))
        if not layer or not isinstance(detail, dict):
            return
        done, total = self.layers.get(layer, (0, 0))
        if status == "Downloading" and detail.get("total"):
            done, total = int(detail.get("current", 0)), int(detail["total"])
        elif status in ("Download complete", "Pull complete", "Already exists") and total:
            done = total
        self.layers[layer] = (done, total)
        self.update(sum(d for d, _ in self.layers.values()), sum(t for _, t in self.layers.values()))


def _progress(console: Console) -> Any:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _report(console: Console, backend: DockerBackend, name: str, verb: str, seconds: float) -> None:
    info = backend.client.api.inspect_image(name)
    provenance = backend.image_provenance(name)
    digest = provenance["registry_digest"]
    where = f", from {digest}" if digest else ""
    console.print(f"{name}: {verb} in {seconds:.1f}s, {_size(info.get('Size') or 0)}{where}")


@images_app.command("pull")
def pull_command(
    subset: SubsetOpt = None,
    repo: RepoOpt = None,
    task: TaskOpt = None,
    dataset_dir: DatasetOpt = None,
    agent_config: ConfigOpt = None,
    image_prefix: PrefixOpt = None,
) -> None:
    """Pull the image of every selected task from its registry (then cut its history at the base commit)."""
    from cooperbench.errors import CooperBenchError
    from cooperbench_backend_docker._images import ensure_history_cut, pull_image

    backend, tasks = _setup(dataset_dir, subset, repo, task, agent_config, image_prefix)
    console = _console()
    failed: list[str] = []
    with _progress(console) as progress:
        for selected in tasks:
            name = selected.image_name(backend.image_prefix)
            bar = progress.add_task(f"pull {name}", total=None)
            started = time.monotonic()

            def show(done: int, total: int, bar: Any = bar) -> None:
                progress.update(bar, completed=done, total=total)

            pulled, reason, _ = pull_image(
                backend.client,
                name,
                first_reply=backend.pull_timeout,
                overall=backend.build_timeout,
                on_message=_LayerProgress(show),
            )
            progress.remove_task(bar)
            if not pulled:
                failed.append(f"{name} ({selected.key}): {reason}")
                console.print(f"{name}: not pulled: {reason}")
                continue
            try:
                ensure_history_cut(backend.client, name, timeout=backend.build_timeout, base_url=None)
            except CooperBenchError as exc:
                failed.append(f"{name} ({selected.key}): {exc}")
                console.print(f"{name}: pulled, but {exc}")
                continue
            _report(console, backend, name, "pulled", time.monotonic() - started)
    _finish(console, backend, tasks, failed, "pulled")


@images_app.command("build")
def build_command(
    subset: SubsetOpt = None,
    repo: RepoOpt = None,
    task: TaskOpt = None,
    dataset_dir: DatasetOpt = None,
    agent_config: ConfigOpt = None,
    image_prefix: PrefixOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Build even where an up-to-date image exists.")] = False,
) -> None:
    """Build the image of every selected task from its Dockerfile (then cut its history at the base commit)."""
    from cooperbench.errors import CooperBenchError
    from cooperbench_backend_docker._images import LABEL_TASK_HASH, build_image, ensure_history_cut, image_label

    backend, tasks = _setup(dataset_dir, subset, repo, task, agent_config, image_prefix)
    console = _console()
    failed: list[str] = []
    with _progress(console) as progress:
        for selected in tasks:
            name = selected.image_name(backend.image_prefix)
            started = time.monotonic()
            if not force and image_label(backend.client, name, LABEL_TASK_HASH) == selected.content_hash:
                console.print(f"{name}: up to date (built from this task folder; --force builds it again)")
                continue
            bar = progress.add_task(f"build {name}", total=None)

            def on_line(line: str, bar: Any = bar) -> None:
                step = re.match(r"^Step (\d+)/(\d+) :", line)
                if step:
                    progress.update(bar, completed=int(step.group(1)) - 1, total=int(step.group(2)))

            try:
                build_image(
                    backend.client,
                    selected,
                    name,
                    build_args=backend.build_args,
                    timeout=backend.build_timeout,
                    base_url=None,
                    why_not_pulled="`cooperbench images build` was asked to",
                    on_line=on_line,
                )
                ensure_history_cut(backend.client, name, timeout=backend.build_timeout, base_url=None)
            except CooperBenchError as exc:
                failed.append(f"{name} ({selected.key}): {exc}")
                console.print(f"{name}: not built: {exc}")
                continue
            finally:
                progress.remove_task(bar)
            _report(console, backend, name, "built", time.monotonic() - started)
    _finish(console, backend, tasks, failed, "built")


def _finish(console: Console, backend: DockerBackend, tasks: list[Task], failed: list[str], verb: str) -> None:
    """The closing lines of ``pull`` and ``build``: disk use, then the failures (exit status 1) if any."""
    usage = _disk_usage(backend, [t.image_name(backend.image_prefix) for t in tasks])
    console.print(
        f"{usage['count']} image(s) present: {_disk_text(usage)} on disk of their own, "
        f"plus {_size(usage['shared'])} of layers shared with other images"
    )
    if failed:
        raise _fail(f"{len(failed)} of {len(tasks)} image(s) could not be {verb}:\n  " + "\n  ".join(failed), code=1)


def _disk_text(usage: dict[str, Any]) -> str:
    return _size(usage["unique"]) if usage.get("error") is None else f"unknown ({usage['error']})"


# The Engine answers one disk-usage query at a time; a concurrent one (another client's
# `docker system df`) gets HTTP 500 "a disk usage operation is already running".
_DF_BUSY = "already running"
_DF_PATIENCE = 60.0


def _disk_usage(backend: DockerBackend, names: list[str]) -> dict[str, Any]:
    """Disk use of the images named ``names``: the space only they hold, and the space they share with others.

    Informational only: when the Engine cannot say (busy for a minute, or another error) the
    figures are 0 and ``error`` says why, so the command's own work still succeeds.
    """
    import docker.errors

    deadline = time.monotonic() + _DF_PATIENCE
    delay = 0.2
    while True:
        try:
            images = backend.client.api.df().get("Images") or []
            break
        except docker.errors.APIError as exc:
            reason = str(exc.explanation or exc)
            if _DF_BUSY in reason and time.monotonic() + delay < deadline:
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            return {"count": 0, "unique": 0, "shared": 0, "error": f"docker could not report disk use: {reason}"}
    wanted = set(names)
    count = unique = shared = 0
    for image in images:
        if wanted & set(image.get("RepoTags") or []):
            count += 1
            # Shared layers (a common base) count once: the largest share stands for them.
            shared = max(shared, int(image.get("SharedSize") or 0))
            unique += max(0, int(image.get("Size") or 0) - max(0, int(image.get("SharedSize") or 0)))
    return {"count": count, "unique": unique, "shared": shared, "error": None}


@images_app.command("list")
def list_command(
    subset: SubsetOpt = None,
    repo: RepoOpt = None,
    task: TaskOpt = None,
    dataset_dir: DatasetOpt = None,
    agent_config: ConfigOpt = None,
    image_prefix: PrefixOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the image of every selected task: present or not, size, id, where it came from, history cut."""
    import json

    from rich.table import Table

    from cooperbench_backend_docker._images import LABEL_HISTORY_CUT, LABEL_TASK_HASH

    backend, tasks = _setup(dataset_dir, subset, repo, task, agent_config, image_prefix)
    rows = []
    for selected in tasks:
        name = selected.image_name(backend.image_prefix)
        row: dict[str, Any] = {"task": selected.key, "image": name, "present": False}
        try:
            info = backend.client.api.inspect_image(name)
        except Exception:  # not there (NotFound), or unreadable: listed as absent
            rows.append(row)
            continue
        labels = (info.get("Config") or {}).get("Labels") or {}
        provenance = backend.image_provenance(name)
        built_from = labels.get(LABEL_TASK_HASH)
        row |= {
            "present": True,
            "size": int(info.get("Size") or 0),
            "created": str(info.get("Created", ""))[:19],
            "id": provenance["id"],
            "source": "built" if built_from else "pulled or loaded",
            "up_to_date": None if not built_from else built_from == selected.content_hash,
            "history_cut": bool(labels.get(LABEL_HISTORY_CUT)),
            "digest": provenance["registry_digest"],
        }
        rows.append(row)
    usage = _disk_usage(backend, [r["image"] for r in rows])
    if as_json:
        typer.echo(json.dumps({"images": rows, "disk": usage}, indent=2))
        return
    console = _console()
    if not console.is_terminal:
        console.width = max(console.width, 200)
    table = Table("task", "image", "present", "size", "source", "history cut", "id", "created")
    for r in rows:
        if not r["present"]:
            table.add_row(r["task"], r["image"], "no", "-", "-", "-", "-", "-")
            continue
        source = r["source"] + ("" if r["up_to_date"] is not False else " (task folder changed since)")
        table.add_row(
            r["task"],
            r["image"],
            "yes",
            _size(r["size"]),
            source,
            "yes" if r["history_cut"] else "no",
            str(r["id"])[7:19],
            r["created"],
        )
    console.print(table)
    missing = sum(not r["present"] for r in rows)
    console.print(
        f"{len(rows) - missing} of {len(rows)} image(s) present ({missing} missing): {_disk_text(usage)} on disk "
        f"of their own, plus {_size(usage['shared'])} of layers shared with other images"
    )


@images_app.command("prune")
def prune_command(
    subset: SubsetOpt = None,
    repo: RepoOpt = None,
    task: TaskOpt = None,
    dataset_dir: DatasetOpt = None,
    agent_config: ConfigOpt = None,
    image_prefix: PrefixOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be removed.")] = False,
) -> None:
    """Remove task images (<prefix><repo>:task<id>) of tasks NOT selected; the selected tasks' images stay.

    Only images named like task images with this prefix are considered; an image a container
    still uses is kept.
    """
    import docker.errors

    backend, tasks = _setup(dataset_dir, subset, repo, task, agent_config, image_prefix)
    keep = {t.image_name(backend.image_prefix) for t in tasks}
    prefix = backend.image_prefix
    console = _console()
    candidates = []
    for image in backend.client.api.images():
        for tag in image.get("RepoTags") or []:
            repository, _, version = tag.rpartition(":")
            if repository.startswith(prefix) and _TASK_TAG.match(version) and tag not in keep:
                candidates.append((tag, int(image.get("Size") or 0)))
    if not candidates:
        console.print(f"nothing to remove: every task image with prefix {prefix!r} belongs to a selected task")
        return
    freeing = _disk_text(_disk_usage(backend, [tag for tag, _ in candidates]))
    removed = kept = 0
    for tag, size in sorted(candidates):
        if dry_run:
            console.print(f"would remove {tag} ({_size(size)})")
            continue
        try:
            backend.client.api.remove_image(tag)
        except docker.errors.APIError as exc:
            kept += 1
            console.print(f"kept {tag}: {exc.explanation or exc}")
            continue
        removed += 1
        console.print(f"removed {tag} ({_size(size)})")
    if dry_run:
        console.print(f"{len(candidates)} image(s) would be removed, freeing up to {freeing}")
    else:
        console.print(f"removed {removed} image(s), freed up to {freeing}" + (f"; {kept} kept" if kept else ""))
