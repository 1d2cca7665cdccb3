"""Finding tasks and pairs in a dataset folder, with filters and subsets."""

from __future__ import annotations

import itertools
import json
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cooperbench.dataset._model import Pair, Task
from cooperbench.errors import DatasetError

_TASK_DIR = re.compile(r"^task(\d+)$")
_FEATURE_DIR = re.compile(r"^feature(\d+)$")


class DatasetWarning(UserWarning):
    """Something in the dataset was skipped; the message names the path."""


def _require_dir(dataset_dir: Path) -> Path:
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise DatasetError(
            f"{dataset_dir}: dataset folder not found. Pass --dataset-dir, or put the dataset at ./dataset"
        )
    return dataset_dir


def load_task(task_dir: Path, repo: str | None = None) -> Task | None:
    """Read one task folder; ``None`` (with a warning) when it has fewer than two features.

    Raises:
        DatasetError: a feature folder lacks ``feature.md``, or the folder name is not ``task<id>``.
    """
    match = _TASK_DIR.match(task_dir.name)
    if not match:
        raise DatasetError(f"{task_dir}: a task folder must be named task<id>")
    feature_ids = []
    for child in sorted(task_dir.iterdir()):
        fmatch = _FEATURE_DIR.match(child.name)
        if not (fmatch and child.is_dir()):
            continue
        if not (child / "feature.md").is_file():
            raise DatasetError(f"{child / 'feature.md'}: missing feature description")
        feature_ids.append(int(fmatch.group(1)))
    task = Task(
        repo=repo or task_dir.parent.name,
        task_id=int(match.group(1)),
        path=task_dir,
        feature_ids=tuple(sorted(feature_ids)),
    )
    if len(task.feature_ids) < 2:
        warnings.warn(
            f"{task_dir}: skipped, a task needs at least 2 features (found {len(task.feature_ids)})",
            DatasetWarning,
            stacklevel=2,
        )
        return None
    return task


def load_tasks(dataset_dir: str | Path, *, repo: str | None = None, task_id: int | None = None) -> list[Task]:
    """Every task of the dataset, optionally filtered, sorted by repo and task id.

    Raises:
        DatasetError: the folder does not exist or a task is malformed.
    """
    root = _require_dir(Path(dataset_dir))
    tasks = []
    for repo_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if repo_dir.name == "subsets" or (repo is not None and repo_dir.name != repo):
            continue
        for task_dir in sorted(p for p in repo_dir.iterdir() if p.is_dir() and _TASK_DIR.match(p.name)):
            if task_id is not None and int(_TASK_DIR.match(task_dir.name).group(1)) != task_id:  # type: ignore[union-attr]
                continue
            task = load_task(task_dir, repo_dir.name)
            if task is not None:
                tasks.append(task)
    return sorted(tasks, key=lambda t: (t.repo, t.task_id))


def load_subset(dataset_dir: str | Path, name: str) -> dict[tuple[str, int], list[tuple[int, int]] | None]:
    """Read ``<dataset>/subsets/<name>.json`` (upstream format).

    Returns:
        ``{(repo, task_id): [(a, b), ...]}``; ``None`` as the value means every pair of the task.

    Raises:
        DatasetError: the file is missing, unreadable, or not in the upstream format.
    """
    root = Path(dataset_dir)
    path = Path(name) if name.endswith(".json") else root / "subsets" / f"{name}.json"
    if not path.is_file():
        available = sorted(p.stem for p in (root / "subsets").glob("*.json")) if (root / "subsets").is_dir() else []
        raise DatasetError(f"{path}: subset {name!r} not found. Available subsets: {', '.join(available) or 'none'}")
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read subset: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        raise DatasetError(f"{path}: a subset must be a JSON object with a `tasks` list")
    selection: dict[tuple[str, int], list[tuple[int, int]] | None] = {}
    for i, entry in enumerate(data["tasks"]):
        try:
            key = (str(entry["repo"]), int(entry["task_id"]))
            pairs = entry.get("pairs")
            parsed = None if pairs is None else [tuple(sorted((int(a), int(b)))) for a, b in pairs]
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(
                f"{path}: tasks[{i}] is malformed (needs repo, task_id and pairs [[a, b], ...]): {exc!r}"
            ) from exc
        if parsed is None:
            selection[key] = None
        else:
            existing = selection.get(key) or []
            selection[key] = sorted(set(existing) | set(parsed))  # type: ignore[arg-type]
    return selection


def _pairs_of(task: Task, features: Iterable[int] | None) -> list[tuple[int, ...]]:
    ids = task.feature_ids
    if features is not None:
        wanted = set(features)
        ids = tuple(f for f in ids if f in wanted)
    return list(itertools.combinations(ids, 2))


def discover_pairs(
    dataset_dir: str | Path,
    *,
    subset: str | None = None,
    repo: str | None = None,
    task_id: int | None = None,
    features: list[int] | None = None,
) -> list[Pair]:
    """The pairs selected by a subset and filters, sorted by repo, task id and features.

    Args:
        dataset_dir: the dataset folder.
        subset: a subset name under ``<dataset>/subsets`` (or a path to a subset JSON file).
        repo: only this repository folder (e.g. ``llama_index_task``).
        task_id: only this task id (``0`` is a valid id).
        features: only pairs whose both features are in this list (``[1, 2]`` selects one pair).

    Raises:
        DatasetError: the dataset or subset is malformed, or the subset names a task or
            feature the dataset does not have.
    """
    if features is not None and len(set(features)) < 2:
        raise DatasetError(f"--features needs at least two feature ids, got {features}")
    tasks = load_tasks(dataset_dir, repo=repo, task_id=task_id)
    by_key = {(t.repo, t.task_id): t for t in tasks}
    if subset is None:
        return sorted(Pair(t.repo, t.task_id, p, t) for t in tasks for p in _pairs_of(t, features))

    selection = load_subset(dataset_dir, subset)
    all_tasks = {(t.repo, t.task_id) for t in load_tasks(dataset_dir)} if (repo or task_id is not None) else set(by_key)
    pairs: list[Pair] = []
    for (srepo, stask), spairs in selection.items():
        if (srepo, stask) not in all_tasks:
            raise DatasetError(f"subset {subset!r} names {srepo}/task{stask}, which is not in {dataset_dir}")
        task = by_key.get((srepo, stask))
        if task is None:  # filtered out by repo/task_id
            continue
        candidates = _pairs_of(task, features)
        if spairs is None:
            chosen = candidates
        else:
            for a, b in spairs:
                for f in (a, b):
                    if f not in task.feature_ids:
                        raise DatasetError(
                            f"subset {subset!r} names feature {f} of {srepo}/task{stask}, which has features "
                            f"{list(task.feature_ids)} ({task.path})"
                        )
            chosen = [p for p in spairs if p in set(candidates)]
        pairs.extend(Pair(task.repo, task.task_id, p, task) for p in chosen)
    return sorted(pairs)
