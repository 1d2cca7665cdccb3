"""Tasks, features and pairs of a dataset in the upstream layout."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cooperbench.errors import DatasetError

DEFAULT_IMAGE_PREFIX = "akhatua/cooperbench-"


@dataclass(frozen=True)
class Task:
    """One repository at a base commit with N features: ``<dataset>/<repo>/task<id>/``."""

    repo: str
    task_id: int
    path: Path
    feature_ids: tuple[int, ...]

    def feature_dir(self, feature_id: int) -> Path:
        return self.path / f"feature{feature_id}"

    def feature_text(self, feature_id: int) -> str:
        path = self.feature_dir(feature_id) / "feature.md"
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read the feature description: {exc.strerror or exc}") from exc

    def feature_file(self, feature_id: int, name: str) -> Path:
        """Path of ``feature.patch`` / ``tests.patch`` of a feature.

        Raises:
            DatasetError: the file is missing.
        """
        path = self.feature_dir(feature_id) / name
        if not path.is_file():
            raise DatasetError(f"{path}: missing {name} of feature {feature_id} of {self.repo}/task{self.task_id}")
        return path

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
    """A pair of features of one task, run in coop (two agents) or solo (one agent).

    ``features`` is sorted; ``agent1`` gets ``features[0]``, ``agent2`` ``features[1]``.
    """

    repo: str
    task_id: int
    features: tuple[int, ...]
    task: Task = field(compare=False, repr=False)

    @property
    def dirname(self) -> str:
        return "_".join(f"f{f}" for f in self.features)

    @property
    def key(self) -> str:
        return f"{self.repo}/{self.task_id}/{self.dirname}"

    def __str__(self) -> str:
        return self.key
