"""Tasks, features and tuples of features of a dataset in the upstream layout."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cooperbench.errors import DatasetError

DEFAULT_IMAGE_PREFIX = "akhatua/cooperbench-"


@dataclass(frozen=True)
class DatasetProblem:
    """Something in the dataset that keeps a task or a feature from being run or graded.

    Attributes:
        path: the file or folder at fault (or the one that should exist).
        message: what is wrong and what to do about it.
        feature: the feature it belongs to; ``None`` for a problem of the whole task.
    """

    path: Path
    message: str
    feature: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Task:
    """One repository at a base commit with N features: ``<dataset>/<repo>/task<id>/``.

    ``problems`` holds what :func:`cooperbench.dataset.load_task` found wrong with the task
    (``feature=None``) or with one of its features; :meth:`problems_for` picks those that
    concern a tuple of features.
    """

    repo: str
    task_id: int
    path: Path
    feature_ids: tuple[int, ...]
    problems: tuple[DatasetProblem, ...] = field(default=(), compare=False, repr=False)

    def feature_dir(self, feature_id: int) -> Path:
        return self.path / f"feature{feature_id}"

    def feature_text(self, feature_id: int) -> str:
        path = self.feature_dir(feature_id) / "feature.md"
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise DatasetError(f"{path}: cannot read the feature description: {reason}") from exc

    def feature_file(self, feature_id: int, name: str) -> Path:
        """Path of ``feature.patch`` / ``tests.patch`` of a feature.

        Raises:
            DatasetError: the file is missing.
        """
        path = self.feature_dir(feature_id) / name
        if not path.is_file():
            raise DatasetError(f"{path}: missing {name} of feature {feature_id} of {self.repo}/task{self.task_id}")
        return path

    def problems_for(self, features: Iterable[int]) -> tuple[DatasetProblem, ...]:
        """The problems that keep the tuple ``features`` of this task from being run and graded.

        The task's own problems, those of each of the features, and one for each feature the
        task does not have (a subset or ``--features`` may name one).
        """
        wanted = list(features)
        found = [p for p in self.problems if p.feature is None or p.feature in wanted]
        for fid in wanted:
            if fid not in self.feature_ids and not any(p.feature == fid for p in found):
                have = ", ".join(str(f) for f in self.feature_ids) or "none"
                found.append(
                    DatasetProblem(
                        self.feature_dir(fid),
                        f"feature {fid} is selected but {self.repo}/task{self.task_id} has no feature{fid} "
                        f"folder (its features: {have})",
                        fid,
                    )
                )
        return tuple(found)

    def image_name(self, prefix: str = DEFAULT_IMAGE_PREFIX) -> str:
        """The upstream image name, e.g. ``akhatua/cooperbench-dirty-equals:task43``."""
        repo = self.repo.removesuffix("_task").replace("_", "-")
        return f"{prefix}{repo}:task{self.task_id}"

    @cached_property
    def content_hash(self) -> str:
        """A hash of every file of the task folder (names and bytes), for caches keyed by content."""
        digest = hashlib.sha256()
        for file in sorted(p for p in self.path.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(self.path)).encode())
            digest.update(b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
        return digest.hexdigest()[:16]

    @property
    def key(self) -> str:
        return f"{self.repo}/{self.task_id}"


@dataclass(frozen=True, order=True)
class Pair:
    """A tuple of N >= 2 features of one task, run in coop (N agents) or solo (one agent).

    The name is the seed's (two features); ``features`` may hold any N >= 2. It is sorted:
    ``agent<i>`` gets ``features[i - 1]``. The folder of a tuple is ``f1_f2_f3``.
    """

    repo: str
    task_id: int
    features: tuple[int, ...]
    task: Task = field(compare=False, repr=False)

    @property
    def problems(self) -> tuple[DatasetProblem, ...]:
        """Why this tuple cannot be run and graded (empty when it can): missing or broken files of
        its task or features. A runner records such a tuple as ``dataset_error`` without starting
        anything."""
        return self.task.problems_for(self.features)

    @property
    def dataset_error(self) -> str | None:
        """The problems as one message naming every path (``None`` when there is none)."""
        problems = self.problems
        return "; ".join(str(p) for p in problems) if problems else None

    @property
    def dirname(self) -> str:
        return "_".join(f"f{f}" for f in self.features)

    @property
    def key(self) -> str:
        return f"{self.repo}/{self.task_id}/{self.dirname}"

    def __str__(self) -> str:
        return self.key
