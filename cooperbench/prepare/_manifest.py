"""The manifest of a prepared dataset: where it came from, pinned, and a content hash of every file.

``<dataset>/.cooperbench-manifest.json``::

    {
      "format": 1,
      "complete": true,
      "source": {"kind": "hub", "repo_id": "...", "revision": "main", "commit": "<sha>", "endpoint": "..."},
      "prepared_at": "2025-01-01T00:00:00+0000",
      "cooperbench_version": "0.1.0",
      "digest": "<sha256 over every path and file hash>",
      "files": {"<posix path>": {"sha256": "...", "size": 123}, ...}
    }

``source.kind`` is ``hub``, ``folder``, ``tarball`` or ``git``. A manifest with ``complete: false``
is written before anything is fetched, so an interrupted ``prepare`` resumes at the same pinned
source.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cooperbench.errors import CooperBenchError
from cooperbench.io import read_json, write_json_atomic

__all__ = [
    "MANIFEST_NAME",
    "CheckReport",
    "FileEntry",
    "Manifest",
    "PrepareError",
    "check_dataset",
    "dataset_files",
    "hash_file",
    "read_manifest",
]

MANIFEST_NAME = ".cooperbench-manifest.json"
FORMAT = 1
# What is not part of a dataset's content: our manifest, the Hub client's bookkeeping in a
# local_dir download (`.cache/huggingface/`), and git metadata of a checkout.
_IGNORED_TOP = {MANIFEST_NAME, ".cache"}
_IGNORED_ANYWHERE = {".git"}
_CHUNK = 1 << 20


class PrepareError(CooperBenchError):
    """The dataset cannot be fetched, imported or checked; the message says what, where, and what to do."""


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass
class Manifest:
    """What ``prepare`` wrote: its source (pinned) and the hash of every file."""

    source: dict[str, Any]
    files: dict[str, FileEntry] = field(default_factory=dict)
    complete: bool = False
    prepared_at: str = ""
    cooperbench_version: str = ""

    @property
    def digest(self) -> str:
        """One hash of the whole content: every path and its file's hash."""
        h = hashlib.sha256()
        for path in sorted(self.files):
            h.update(f"{path}\0{self.files[path].sha256}\n".encode())
        return h.hexdigest()

    @property
    def total_size(self) -> int:
        return sum(entry.size for entry in self.files.values())

    def describe_source(self) -> str:
        s = self.source
        if s.get("kind") == "hub":
            commit = str(s.get("commit"))[:12]
            return f"{s.get('repo_id')} at {s.get('revision')} (commit {commit}) from {s.get('endpoint')}"
        if s.get("kind") == "git":
            return f"git checkout {s.get('path')} at {s.get('revision')} (commit {str(s.get('commit'))[:12]})"
        return f"{s.get('kind')} {s.get('path')}"

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "complete": self.complete,
            "source": self.source,
            "prepared_at": self.prepared_at,
            "cooperbench_version": self.cooperbench_version,
            "digest": self.digest,
            "files": {path: {"sha256": e.sha256, "size": e.size} for path, e in sorted(self.files.items())},
        }

    def write(self, dataset_dir: Path) -> Path:
        from cooperbench import __version__

        self.prepared_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.cooperbench_version = __version__
        path = Path(dataset_dir) / MANIFEST_NAME
        write_json_atomic(path, self.as_json())
        return path


def read_manifest(dataset_dir: str | Path) -> Manifest | None:
    """The dataset's manifest; ``None`` when there is none.

    Raises:
        PrepareError: the manifest exists but is not one ``prepare`` wrote.
    """
    path = Path(dataset_dir) / MANIFEST_NAME
    if not path.exists():
        return None
    data = read_json(path)
    try:
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("source"), dict):
            raise ValueError("not a cooperbench manifest of format 1")
        files = {str(p): FileEntry(str(e["sha256"]), int(e["size"])) for p, e in (data.get("files") or {}).items()}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PrepareError(
            f"{path}: unreadable manifest ({exc}); run `cooperbench prepare` again to rewrite it"
        ) from exc
    return Manifest(
        source=data["source"],
        files=files,
        complete=bool(data.get("complete")),
        prepared_at=str(data.get("prepared_at") or ""),
        cooperbench_version=str(data.get("cooperbench_version") or ""),
    )


def hash_file(path: Path) -> FileEntry:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileEntry(digest.hexdigest(), size)


def _walk(folder: Path, rel: str = "") -> Iterator[tuple[str, Path]]:
    try:
        children = sorted(folder.iterdir())
    except OSError as exc:
        raise PrepareError(f"{folder}: cannot list the folder: {exc.strerror or exc}") from exc
    for child in children:
        name = f"{rel}{child.name}"
        if child.name in _IGNORED_ANYWHERE or (not rel and child.name in _IGNORED_TOP):
            continue
        if child.is_dir():
            yield from _walk(child, f"{name}/")
        elif child.is_file():
            yield name, child


def dataset_files(folder: str | Path) -> dict[str, Path]:
    """Every file of a dataset folder by its posix path, without the manifest, ``.cache/`` and ``.git/``.

    Symbolic links to files count as their target's content; dangling links are left out.
    """
    return dict(_walk(Path(folder)))


@dataclass
class CheckReport:
    """How a dataset folder differs from its manifest."""

    manifest: Manifest
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)

    def lines(self) -> Iterable[str]:
        for kind, paths in (("changed", self.changed), ("missing", self.missing), ("extra", self.extra)):
            for path in paths:
                yield f"{kind:<8} {path}"


def check_dataset(dataset_dir: str | Path) -> CheckReport:
    """Compare every file of ``dataset_dir`` with its manifest.

    Returns:
        The report: files whose content differs (``changed``), files of the manifest that are
        gone (``missing``) and files the manifest does not list (``extra``), each sorted.

    Raises:
        PrepareError: the folder does not exist, has no manifest, or ``prepare`` did not finish.
    """
    root = Path(dataset_dir)
    if not root.is_dir():
        raise PrepareError(f"{root}: dataset folder not found; get the dataset with `cooperbench prepare`")
    manifest = read_manifest(root)
    if manifest is None:
        raise PrepareError(
            f"{root / MANIFEST_NAME}: no manifest, so there is nothing to check against. Write one with "
            f"`cooperbench prepare --dataset-dir {root}` (from the Hub) or `--from PATH` (offline)"
        )
    if not manifest.complete:
        raise PrepareError(
            f"{root}: `cooperbench prepare` did not finish here ({manifest.describe_source()}); run it again to resume"
        )
    report = CheckReport(manifest)
    present = dataset_files(root)
    for path, entry in sorted(manifest.files.items()):
        local = present.pop(path, None)
        if local is None:
            report.missing.append(path)
            continue
        try:
            found = hash_file(local)
        except OSError:
            report.changed.append(path)
            continue
        report.checked += 1
        if found != entry:
            report.changed.append(path)
    report.extra = sorted(present)
    return report
