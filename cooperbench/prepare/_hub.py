"""Fetching the dataset from the Hugging Face Hub with ``huggingface_hub`` (imported here only).

The endpoint is huggingface_hub's own setting, ``HF_ENDPOINT`` (read when ``prepare`` runs, so
a mirror or the tests' fake Hub is honoured), and ``HF_TOKEN`` authenticates as usual. The
revision is resolved to a commit first and everything is fetched at that commit, so what is
recorded is what was downloaded. ``snapshot_download`` into ``local_dir`` keeps per-file
metadata there (``.cache/huggingface/``): a second run downloads only what is missing. Every
file is then checked against the Hub's own listing (git blob ids, or SHA-256 for LFS files)
and fetched again when it differs, so a corrupted or locally edited file is repaired.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cooperbench.prepare._manifest import MANIFEST_NAME, PrepareError, hash_file

__all__ = ["DEFAULT_REPO_ID", "HubFile", "HubSnapshot", "endpoint", "fetch_snapshot", "resolve_revision"]

DEFAULT_REPO_ID = "CodeConflict/cooperbench-dataset"
_DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    blob_id: str
    lfs_sha256: str | None


@dataclass(frozen=True)
class HubSnapshot:
    commit: str
    files: tuple[HubFile, ...]
    repaired: tuple[str, ...]  # files fetched again because their bytes did not match the Hub's listing


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or _DEFAULT_ENDPOINT).rstrip("/")


_WRITE_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EPERM}


def _explain(exc: BaseException, repo_id: str, revision: str, local_dir: Path | None = None) -> PrepareError:
    names = {cls.__name__ for cls in type(exc).__mro__}
    where = f"{repo_id} at {endpoint()}"
    if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
        target = exc.filename or local_dir
        return PrepareError(
            f"{target}: cannot write the dataset: {exc.strerror}; what was written is kept, and running "
            "`cooperbench prepare` again resumes"
        )
    if "RevisionNotFoundError" in names:
        return PrepareError(f"revision {revision!r} not found in {where}; pass --revision a branch, tag or commit")
    if "RepositoryNotFoundError" in names or "GatedRepoError" in names:
        return PrepareError(
            f"dataset repository {where} not found or not accessible (set HF_TOKEN for a private one, or "
            "--repo-id for another repository)"
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return PrepareError(
        f"cannot fetch {where}: {type(exc).__name__}: {first}. Check the network (or HF_ENDPOINT for a mirror); "
        "without one, import the dataset offline with `cooperbench prepare --from PATH` (a folder, a tarball or a "
        "git checkout)"
    )


def resolve_revision(repo_id: str, revision: str) -> str:
    """The commit that ``revision`` (a branch, tag or commit) names on the Hub.

    Raises:
        PrepareError: the repository or revision does not exist, or the Hub cannot be reached.
    """
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=endpoint()).dataset_info(repo_id, revision=revision)
    except Exception as exc:  # the SDK's errors differ between versions; each is explained by its class
        raise _explain(exc, repo_id, revision) from exc
    if not info.sha:
        raise PrepareError(f"{repo_id} at {endpoint()}: the Hub returned no commit for revision {revision!r}")
    return str(info.sha)


def _git_blob_id(path: Path) -> str:
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _matches(local: Path, remote: HubFile) -> bool:
    try:
        if not local.is_file() or local.stat().st_size != remote.size:
            return False
        if remote.lfs_sha256:
            return hash_file(local).sha256 == remote.lfs_sha256
        return _git_blob_id(local) == remote.blob_id
    except OSError:
        return False


def _listing(api: Any, repo_id: str, commit: str) -> tuple[HubFile, ...]:
    from huggingface_hub.hf_api import RepoFile

    files = []
    for entry in api.list_repo_tree(repo_id, recursive=True, revision=commit, repo_type="dataset"):
        if isinstance(entry, RepoFile):
            lfs = getattr(entry, "lfs", None)
            lfs_sha = (lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)) if lfs else None
            files.append(HubFile(entry.path, int(entry.size), str(entry.blob_id), lfs_sha))
    return tuple(sorted(files, key=lambda f: f.path))


def fetch_snapshot(
    repo_id: str, commit: str, local_dir: Path, *, revision: str, progress: Callable[[str], None] = lambda _: None
) -> HubSnapshot:
    """Download every file of ``repo_id`` at ``commit`` into ``local_dir`` and verify it.

    Raises:
        PrepareError: the Hub cannot be reached, or a file still differs after fetching it again.
    """
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    api = HfApi(endpoint=endpoint())
    try:
        # A file of the repository named like our manifest would be overwritten by it: leave it out.
        snapshot_download(
            repo_id,
            repo_type="dataset",
            revision=commit,
            local_dir=str(local_dir),
            endpoint=endpoint(),
            ignore_patterns=[MANIFEST_NAME],
        )
        files = tuple(f for f in _listing(api, repo_id, commit) if f.path != MANIFEST_NAME)
        bad = [f for f in files if not _matches(local_dir / f.path, f)]
        for remote in bad:
            progress(f"fetching {remote.path} again: its bytes differ from the Hub's")
            hf_hub_download(
                repo_id,
                remote.path,
                repo_type="dataset",
                revision=commit,
                local_dir=str(local_dir),
                endpoint=endpoint(),
                force_download=True,
            )
    except PrepareError:
        raise
    except Exception as exc:  # network, HTTP and SDK errors of any huggingface_hub version
        raise _explain(exc, repo_id, revision, local_dir) from exc
    still = [f.path for f in bad if not _matches(local_dir / f.path, f)]
    if still:
        raise PrepareError(
            f"{local_dir}: {len(still)} file(s) differ from {repo_id} at commit {commit[:12]} even after fetching "
            f"them again: {', '.join(still[:10])}"
        )
    return HubSnapshot(commit, files, tuple(f.path for f in bad))
