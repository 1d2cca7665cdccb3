"""Finding tasks and tuples of features in a dataset folder, with filters and subsets."""

from __future__ import annotations

import itertools
import json
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cooperbench.dataset._checks import check_feature, check_task_files, parse_feature_dirs
from cooperbench.dataset._model import Pair, Task
from cooperbench.errors import DatasetError

_TASK_DIR = re.compile(r"^task(\d+)$")

#: ``{(repo, task_id): [tuple of feature ids, ...]}``; ``None`` as the value: every pair of the task.
Selection = dict[tuple[str, int], list[tuple[int, ...]] | None]


class DatasetWarning(UserWarning):
    """Something in the dataset was skipped; the message names the path."""


def _require_dir(dataset_dir: Path) -> Path:
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise DatasetError(
            f"{dataset_dir}: dataset folder not found. Pass --dataset-dir, or get the public dataset into "
            "./dataset with `cooperbench prepare`"
        )
    return dataset_dir


def _read_task(task_dir: Path, repo: str | None) -> Task:
    match = _TASK_DIR.match(task_dir.name)
    if not match:
        raise DatasetError(f"{task_dir}: a task folder must be named task<id>")
    try:
        folders, problems = parse_feature_dirs(task_dir)
    except OSError as exc:
        raise DatasetError(f"{task_dir}: cannot list the task folder: {exc.strerror or exc}") from exc
    problems.extend(check_task_files(task_dir))
    for fid, folder in sorted(folders.items()):
        if folder.is_dir():
            problems.extend(check_feature(folder, fid))
    return Task(
        repo=repo or task_dir.parent.name,
        task_id=int(match.group(1)),
        path=task_dir,
        feature_ids=tuple(sorted(folders)),
        problems=tuple(problems),
    )


def load_task(task_dir: Path, repo: str | None = None) -> Task | None:
    """Read one task folder; ``None`` (with a warning) when it has fewer than two features.

    Problems of the task's files (a missing ``tests.patch``, a ``runner.sh`` bash cannot run, a
    feature folder whose name does not parse, ...) do not raise: they are kept in
    ``Task.problems`` and reach every tuple they concern through ``Pair.problems``.

    Raises:
        DatasetError: the folder name is not ``task<id>``, or the folder cannot be listed.
    """
    task = _read_task(task_dir, repo)
    if len(task.feature_ids) < 2:
        unnamed = [
            p.path.name for p in task.problems if p.feature is None and p.path.name.lower().startswith("feature")
        ]
        hint = f"; {', '.join(unnamed)} not counted, see its name" if unnamed else ""
        warnings.warn(
            f"{task_dir}: skipped, a task needs at least 2 features (found {len(task.feature_ids)}){hint}",
            DatasetWarning,
            stacklevel=2,
        )
        return None
    return task


def _task_dirs(root: Path, repo: str | None, task_id: int | None) -> Iterable[tuple[str, Path]]:
    for repo_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if repo_dir.name == "subsets" or (repo is not None and repo_dir.name != repo):
            continue
        for task_dir in sorted(p for p in repo_dir.iterdir() if p.is_dir() and _TASK_DIR.match(p.name)):
            if task_id is not None and int(_TASK_DIR.match(task_dir.name).group(1)) != task_id:  # type: ignore[union-attr]
                continue
            yield repo_dir.name, task_dir


def load_tasks(dataset_dir: str | Path, *, repo: str | None = None, task_id: int | None = None) -> list[Task]:
    """Every task of the dataset, optionally filtered, sorted by repo and task id.

    Raises:
        DatasetError: the folder does not exist or a task folder cannot be read.
    """
    root = _require_dir(Path(dataset_dir))
    tasks = [task for name, task_dir in _task_dirs(root, repo, task_id) if (task := load_task(task_dir, name))]
    return sorted(tasks, key=lambda t: (t.repo, t.task_id))


def _subset_path(root: Path, name: str) -> Path:
    return Path(name) if name.endswith(".json") else root / "subsets" / f"{name}.json"


def _feature_tuple(raw: Any, *, size: int | None, where: str) -> tuple[int, ...]:
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Iterable):
        raise DatasetError(f"{where}: a tuple of features must be a list of feature ids, got {raw!r}")
    ids = [int(f) for f in raw]
    if size is not None and len(ids) != size:
        raise DatasetError(f"{where}: {ids} is not a pair; N-feature tuples go in `groups`")
    if len(ids) < 2 or len(set(ids)) != len(ids):
        raise DatasetError(f"{where}: {ids} must name at least two different features")
    return tuple(sorted(ids))


def load_subset(dataset_dir: str | Path, name: str) -> Selection:
    """Read ``<dataset>/subsets/<name>.json`` (upstream format).

    Each entry of ``tasks`` has ``repo`` and ``task_id`` and may list ``pairs`` (``[[a, b], ...]``)
    and ``groups`` (``[[a, b, c], ...]``: tuples of N >= 2 features, as upstream's ``team3_*``
    and ``team4_*`` subsets). Both select exactly the tuples they list; an entry with neither
    selects every pair of the task. Several entries of one task add up (one without tuples wins).

    Returns:
        ``{(repo, task_id): [tuple, ...]}`` with each tuple sorted; ``None`` as the value means
        every pair of the task.

    Raises:
        DatasetError: the file is missing, unreadable, or not in the upstream format.
    """
    root = Path(dataset_dir)
    path = _subset_path(root, name)
    if not path.is_file():
        available = sorted(p.stem for p in (root / "subsets").glob("*.json")) if (root / "subsets").is_dir() else []
        raise DatasetError(f"{path}: subset {name!r} not found. Available subsets: {', '.join(available) or 'none'}")
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read subset: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        raise DatasetError(f"{path}: a subset must be a JSON object with a `tasks` list")
    selection: Selection = {}
    for i, entry in enumerate(data["tasks"]):
        where = f"{path}: tasks[{i}]"
        try:
            key = (str(entry["repo"]), int(entry["task_id"]))
            pairs, groups = entry.get("pairs"), entry.get("groups")
            tuples = None
            if pairs is not None or groups is not None:
                tuples = [_feature_tuple(p, size=2, where=f"{where}.pairs") for p in pairs or ()]
                tuples += [_feature_tuple(g, size=None, where=f"{where}.groups") for g in groups or ()]
        except DatasetError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DatasetError(
                f"{where} is malformed (needs repo, task_id and pairs [[a, b], ...] or groups [[a, b, c], ...]): "
                f"{exc!r}"
            ) from exc
        if key in selection and selection[key] is None:
            continue
        if tuples is None:
            selection[key] = None
        else:
            selection[key] = sorted(set(selection.get(key) or []) | set(tuples))
    return selection


def _wanted_tuple(features: Iterable[int] | None) -> tuple[int, ...] | None:
    if features is None:
        return None
    ids = list(features)
    if len(set(ids)) < 2:
        raise DatasetError(f"--features needs at least two different feature ids, got {ids}")
    if len(set(ids)) != len(ids):
        raise DatasetError(f"--features names a feature twice: {ids}")
    return tuple(sorted(ids))


def _has_unnamed_feature(task: Task) -> bool:
    """A feature folder whose name says no number (``feature_two``): which feature it is, is unknown."""
    return any(p.feature is None and p.path.name.lower().startswith("feature") for p in task.problems)


def _tuples_of(task: Task, wanted: tuple[int, ...] | None) -> list[tuple[int, ...]]:
    if wanted is None:
        return list(itertools.combinations(task.feature_ids, 2))
    # A task lacking one of the features is simply not selected, unless one of its folders may be
    # that feature under a name that does not parse: then the tuple is selected and reported.
    if set(wanted) <= set(task.feature_ids) or _has_unnamed_feature(task):
        return [wanted]
    return []


def discover_pairs(
    dataset_dir: str | Path,
    *,
    subset: str | None = None,
    repo: str | None = None,
    task_id: int | None = None,
    features: list[int] | None = None,
) -> list[Pair]:
    """The tuples of features selected by a subset and filters, sorted by repo, task id and features.

    Every selected tuple is returned, also one whose task or features are broken: its
    ``Pair.problems`` say what is wrong, naming the path, and a runner records it as
    ``dataset_error`` instead of running it.

    Args:
        dataset_dir: the dataset folder.
        subset: a subset name under ``<dataset>/subsets`` (or a path to a subset JSON file); its
            ``pairs`` and ``groups`` select exactly the tuples they list.
        repo: only this repository folder (e.g. ``llama_index_task``).
        task_id: only this task id (``0`` is a valid id).
        features: exactly this tuple of features, in every task that has them all: ``[1, 2]`` is
            one pair, ``[1, 2, 3]`` one tuple of three (three agents in coop). Without it and
            without a subset, every pair of every task is selected.

    Raises:
        DatasetError: the dataset folder or the subset is missing or malformed, or the subset
            names a task the dataset does not have.
    """
    wanted = _wanted_tuple(features)
    root = _require_dir(Path(dataset_dir))
    tasks = load_tasks(root, repo=repo, task_id=task_id)
    if subset is None:
        return sorted(Pair(t.repo, t.task_id, tup, t) for t in tasks for tup in _tuples_of(t, wanted))

    selection = load_subset(root, subset)
    by_key = {(t.repo, t.task_id): t for t in tasks}
    chosen: set[Pair] = set()
    for (srepo, stask), tuples in selection.items():
        if (repo is not None and srepo != repo) or (task_id is not None and stask != task_id):
            continue
        task = by_key.get((srepo, stask))
        if task is None:
            task_dir = root / srepo / f"task{stask}"
            if not task_dir.is_dir():
                raise DatasetError(
                    f"subset {subset!r} ({_subset_path(root, subset)}) names {srepo}/task{stask}, which is not in "
                    f"{root} (no folder {task_dir})"
                )
            task = _read_task(task_dir, srepo)  # fewer than two features: its tuples are reported, not dropped
        candidates = _tuples_of(task, None) if tuples is None else tuples
        chosen.update(Pair(task.repo, task.task_id, tup, task) for tup in candidates if wanted in (None, tup))
    return sorted(chosen)
