"""``prepare``: put a dataset at ``--dataset-dir`` from the Hub or from a local source, with a manifest."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cooperbench.prepare._hub import DEFAULT_REPO_ID, endpoint, fetch_snapshot, resolve_revision
from cooperbench.prepare._local import lfs_pointers, open_source
from cooperbench.prepare._manifest import (
    MANIFEST_NAME,
    Manifest,
    PrepareError,
    dataset_files,
    hash_file,
    read_manifest,
)

__all__ = ["PrepareResult", "prepare_dataset"]

Progress = Callable[[str], None]


@dataclass
class PrepareResult:
    """What ``prepare`` did."""

    dataset_dir: Path
    manifest: Manifest
    written: int = 0  # files downloaded or copied
    reused: int = 0  # files already in place with the right content
    removed: list[str] = field(default_factory=list)  # files of the previous manifest no longer in the source
    skipped: list[str] = field(default_factory=list)  # archive members that are not regular files
    notes: list[str] = field(default_factory=list)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _previous(dataset_dir: Path, notes: list[str]) -> Manifest | None:
    try:
        return read_manifest(dataset_dir)
    except PrepareError as exc:
        notes.append(f"{exc}; rewriting it")
        return None


def _claim(dataset_dir: Path, previous: Manifest | None, *, force: bool, hub: bool) -> None:
    """Make sure ``dataset_dir`` may be written: new, empty, ours (a manifest), or ``force``."""
    if dataset_dir.exists() and not dataset_dir.is_dir():
        raise PrepareError(f"{dataset_dir}: exists and is not a folder; choose another --dataset-dir")
    if not dataset_dir.exists():
        try:
            dataset_dir.mkdir(parents=True)
        except OSError as exc:
            raise PrepareError(f"{dataset_dir}: cannot create the dataset folder: {exc.strerror or exc}") from exc
        return
    ours = previous is not None or (dataset_dir / MANIFEST_NAME).exists()
    # A folder a Hub download already wrote into (an interrupted one, or upstream's `prepare`) resumes.
    resumable = hub and (dataset_dir / ".cache" / "huggingface").is_dir()
    if force or ours or resumable or not any(dataset_dir.iterdir()):
        return
    raise PrepareError(
        f"{dataset_dir}: already holds files that `cooperbench prepare` did not write (no {MANIFEST_NAME}). Pass "
        "--force to write the dataset into it (files of the same path are replaced; the others stay, and "
        "`prepare --check` lists them as extra), or choose another --dataset-dir"
    )


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _remove_stale(dataset_dir: Path, previous: Manifest | None, keep: set[str]) -> list[str]:
    """Delete the files ``prepare`` wrote before that the new source no longer has (never anything else)."""
    if previous is None:
        return []
    removed = []
    for rel in sorted(set(previous.files) - keep):
        path = dataset_dir / rel
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(rel)
        parent = path.parent
        while parent != dataset_dir and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return removed


def _finish(dataset_dir: Path, manifest: Manifest, paths: list[str]) -> None:
    for rel in paths:
        try:
            manifest.files[rel] = hash_file(dataset_dir / rel)
        except OSError as exc:
            raise PrepareError(
                f"{dataset_dir / rel}: cannot read what was just written: {exc.strerror or exc}"
            ) from exc
    manifest.complete = True
    manifest.write(dataset_dir)


def _from_hub(
    dataset_dir: Path, repo_id: str, revision: str | None, force: bool, progress: Progress, result: PrepareResult
) -> None:
    previous = _previous(dataset_dir, result.notes)
    pinned = previous is not None and previous.source.get("kind") == "hub" and previous.source.get("repo_id") == repo_id
    if revision is None and pinned:
        assert previous is not None
        wanted, requested = str(previous.source["commit"]), str(previous.source.get("revision") or "main")
        result.notes.append(
            f"kept the pinned commit {wanted[:12]} of {MANIFEST_NAME} (pass --revision main to move to the latest)"
        )
    else:
        wanted = requested = revision or "main"
    commit = resolve_revision(repo_id, wanted)
    _claim(dataset_dir, previous, force=force, hub=True)
    source = {"kind": "hub", "repo_id": repo_id, "revision": requested, "commit": commit, "endpoint": endpoint()}
    Manifest(source=source, complete=False).write(dataset_dir)  # an interrupted run resumes at this commit
    progress(f"Fetching {repo_id} at {requested} (commit {commit[:12]}) from {endpoint()} into {dataset_dir}")
    before = {rel: _signature(p) for rel, p in dataset_files(dataset_dir).items()}
    snapshot = fetch_snapshot(repo_id, commit, dataset_dir, revision=requested, progress=progress)
    paths = [f.path for f in snapshot.files]
    for rel in paths:
        if rel.endswith(".sh"):  # the Hub keeps no file modes; the tasks' scripts are executables in git
            (dataset_dir / rel).chmod(0o777 & ~_umask())
        if before.get(rel) is not None and before[rel] == _signature(dataset_dir / rel):
            result.reused += 1
        else:
            result.written += 1
    result.removed = _remove_stale(dataset_dir, previous, set(paths))
    result.manifest = Manifest(source=source)
    _finish(dataset_dir, result.manifest, paths)


def _copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_dir():
        raise PrepareError(f"{dest}: a folder is in the way of a file of the dataset; remove it and run prepare again")
    executable = source.stat().st_mode & 0o111
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        os.chmod(tmp, (0o777 if executable else 0o666) & ~_umask())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _from_local(
    dataset_dir: Path, path: Path, revision: str | None, force: bool, progress: Progress, result: PrepareResult
) -> None:
    previous = _previous(dataset_dir, result.notes)
    with open_source(path, revision, Path(tempfile.gettempdir())) as (root, record, skipped):
        result.skipped = skipped
        files = dataset_files(root)
        if not files:
            raise PrepareError(f"{root}: the source holds no files")
        if pointers := lfs_pointers(files):
            raise PrepareError(
                f"{root}: {', '.join(pointers)} hold Git LFS pointers, not their content; run `git lfs pull` "
                "in the checkout first"
            )
        target = dataset_dir.resolve()
        adopt = root.resolve() == target
        if not adopt and target.is_relative_to(root.resolve()):
            raise PrepareError(f"{dataset_dir}: the dataset folder must not be inside the source {root}")
        if "note" in record:
            result.notes.append(f"{path}: {record['note']}")
        _claim(dataset_dir, previous, force=force or adopt, hub=False)
        Manifest(source=record, complete=False).write(dataset_dir)
        if adopt:
            progress(f"Recording {dataset_dir} as it is (the source is the dataset folder itself)")
            result.reused = len(files)
        else:
            progress(f"Importing {record['kind']} {path} into {dataset_dir}")
            for rel, src in sorted(files.items()):
                dest = dataset_dir / rel
                try:
                    if dest.is_file() and hash_file(dest) == hash_file(src):
                        result.reused += 1
                        continue
                    _copy(src, dest)
                except OSError as exc:
                    raise PrepareError(
                        f"{dest}: cannot write it: {exc.strerror or exc}; what was written is kept, and running "
                        "`cooperbench prepare` again resumes"
                    ) from exc
                result.written += 1
        result.removed = _remove_stale(dataset_dir, previous, set(files))
        result.manifest = Manifest(source=record)
        _finish(dataset_dir, result.manifest, sorted(files))


def prepare_dataset(
    dataset_dir: str | Path,
    *,
    source: str | Path | None = None,
    revision: str | None = None,
    repo_id: str = DEFAULT_REPO_ID,
    force: bool = False,
    progress: Progress = lambda _: None,
) -> PrepareResult:
    """Put the dataset at ``dataset_dir`` and write its manifest.

    Args:
        dataset_dir: where the dataset goes (created when missing).
        source: ``None`` to fetch ``repo_id`` from the Hugging Face Hub (``HF_ENDPOINT``,
            ``HF_TOKEN`` as for huggingface_hub); else a dataset folder, a tarball (``.tar``,
            ``.tar.gz``, ``.tar.xz``, ``.zip``) or a git checkout to import offline. A CooperBench
            repository checkout (dataset under ``dataset/``) works too.
        revision: a branch, tag or commit of the Hub repository or of the git checkout. Without
            it, an existing manifest's pinned commit is kept (the Hub) or ``HEAD`` is taken (git);
            a first Hub fetch takes ``main``.
        repo_id: the Hub dataset repository.
        force: write into a non-empty folder that ``prepare`` did not write.
        progress: called with one line per step, for the console.

    Returns:
        What was written, reused and removed, and the manifest (pinned source, file hashes).

    Raises:
        PrepareError: the source cannot be read or reached, or the folder cannot be written;
            files written so far are kept and a second call resumes.
    """
    dataset_dir = Path(dataset_dir).expanduser()
    result = PrepareResult(dataset_dir, Manifest(source={}))
    try:
        if source is None:
            _from_hub(dataset_dir, repo_id, revision, force, progress, result)
        else:
            _from_local(dataset_dir, Path(source), revision, force, progress, result)
    except OSError as exc:  # a full disk or a read-only folder, while writing the files or the manifest
        where = exc.filename or dataset_dir
        raise PrepareError(
            f"{where}: cannot write the dataset: {exc.strerror or exc}; what was written is kept, and running "
            "`cooperbench prepare` again resumes"
        ) from exc
    return result
