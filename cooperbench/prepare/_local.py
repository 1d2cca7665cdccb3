"""Importing a dataset offline (``prepare --from PATH``): from a folder, a tarball or a git checkout."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cooperbench.prepare._manifest import PrepareError, hash_file

__all__ = ["find_dataset_root", "is_git_checkout", "lfs_pointers", "open_source", "source_kind"]

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"


def is_git_checkout(path: Path) -> bool:
    """A git work tree, or a bare repository (a mirror)."""
    if not path.is_dir():
        return False
    return (path / ".git").exists() or all((path / name).exists() for name in ("HEAD", "objects", "refs"))


def source_kind(path: Path) -> str:
    """``folder``, ``git`` or ``tarball`` (zip archives count as tarballs).

    Raises:
        PrepareError: nothing at ``path``, or a file that is not an archive.
    """
    if is_git_checkout(path):
        return "git"
    if path.is_dir():
        return "folder"
    if path.is_file():
        if path.name.endswith(_TAR_SUFFIXES) or path.suffix == ".zip" or tarfile.is_tarfile(path):
            return "tarball"
        if zipfile.is_zipfile(path):
            return "tarball"
        raise PrepareError(f"{path}: not a folder, a git checkout or a tarball (.tar, .tar.gz, .tar.xz, .zip)")
    raise PrepareError(f"{path}: not found; --from takes a dataset folder, a tarball or a git checkout")


def _looks_like_dataset(folder: Path) -> bool:
    if (folder / "subsets").is_dir():
        return True
    with contextlib.suppress(OSError):
        for repo in folder.iterdir():
            if (
                repo.is_dir()
                and not repo.name.startswith(".")
                and any(t.is_dir() and t.name.startswith("task") for t in repo.iterdir())
            ):
                return True
    return False


def find_dataset_root(folder: Path) -> Path:
    """The dataset inside ``folder``: itself, its ``dataset/`` (a checkout of the CooperBench
    repository), or the same below a single top-level folder (a GitHub-style tarball).

    Raises:
        PrepareError: no dataset layout was found.
    """
    candidates = [folder, folder / "dataset"]
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []
    if len(entries) == 1 and entries[0].is_dir():
        candidates += [entries[0], entries[0] / "dataset"]
    for candidate in candidates:
        if candidate.is_dir() and _looks_like_dataset(candidate):
            return candidate
    raise PrepareError(
        f"{folder}: no CooperBench dataset found (expected <repo>_task/task<id>/ folders or subsets/, "
        "at the top or in a dataset/ folder)"
    )


def _safe_target(root: Path, name: str) -> Path:
    target = (root / name).resolve()
    if not (target == root or target.is_relative_to(root)) or os.path.isabs(name):
        raise PrepareError(f"archive member {name!r} points outside the archive; refusing to import it")
    return target


def _extract_tar(archive: Path, dest: Path) -> list[str]:
    skipped = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                target = _safe_target(dest, member.name)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    assert source is not None
                    with source, target.open("wb") as out:
                        shutil.copyfileobj(source, out)
                    target.chmod(0o755 if member.mode & 0o111 else 0o644)
                else:  # links, devices, fifos: a dataset is plain files
                    skipped.append(member.name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PrepareError(f"{archive}: cannot read the tarball: {exc}") from exc
    return skipped


def _extract_zip(archive: Path, dest: Path) -> list[str]:
    skipped = []
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                target = _safe_target(dest, info.filename)
                mode = (info.external_attr >> 16) & 0o170000
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                elif mode in (0, 0o100000):  # a regular file (or no mode recorded)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as source, target.open("wb") as out:
                        shutil.copyfileobj(source, out)
                    target.chmod(0o755 if (info.external_attr >> 16) & 0o111 else 0o644)
                else:
                    skipped.append(info.filename)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PrepareError(f"{archive}: cannot read the zip archive: {exc}") from exc
    return skipped


def _git(checkout: Path, *args: str) -> str:
    try:
        result = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PrepareError(f"{checkout}: git failed: {exc}") from exc
    if result.returncode != 0:
        raise PrepareError(f"{checkout}: git {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode(errors="replace")


@contextlib.contextmanager
def open_source(
    path: Path, revision: str | None, scratch_parent: Path
) -> Iterator[tuple[Path, dict[str, Any], list[str]]]:
    """Make the source at ``path`` readable as a folder.

    Yields:
        ``(dataset root, source record for the manifest, skipped archive members)``; an archive
        or a git commit is unpacked into a scratch folder under ``scratch_parent`` for the time
        of the ``with`` block.

    Raises:
        PrepareError: the source cannot be read, or ``revision`` is given for a folder or tarball.
    """
    path = path.expanduser().resolve()
    kind = source_kind(path)
    if revision is not None and kind != "git":
        raise PrepareError(f"--revision applies to the Hub and to git checkouts; {path} is a {kind}")
    if kind == "folder":
        yield find_dataset_root(path), {"kind": "folder", "path": str(path)}, []
        return
    scratch_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".cooperbench-prepare-", dir=scratch_parent) as tmp:
        scratch = Path(tmp).resolve()
        if kind == "git":
            wanted = revision or "HEAD"
            commit = _git(path, "rev-parse", "--verify", f"{wanted}^{{commit}}").strip()
            archive = scratch / "commit.tar"
            with archive.open("wb") as out:
                try:
                    subprocess.run(
                        ["git", "-C", str(path), "archive", "--format=tar", commit], stdout=out, check=True, timeout=600
                    )
                except (OSError, subprocess.SubprocessError) as exc:
                    raise PrepareError(f"{path}: git archive {commit} failed: {exc}") from exc
            tree = scratch / "tree"
            skipped = _extract_tar(archive, tree)
            archive.unlink()
            record: dict[str, Any] = {"kind": "git", "path": str(path), "revision": wanted, "commit": commit}
            bare = _git(path, "rev-parse", "--is-bare-repository").strip() == "true"
            if revision is None and not bare and _git(path, "status", "--porcelain", "--untracked-files=no").strip():
                record["note"] = "uncommitted changes of the checkout were not imported"
        else:
            tree = scratch / "tree"
            tree.mkdir()
            is_zip = path.suffix == ".zip" or (zipfile.is_zipfile(path) and not tarfile.is_tarfile(path))
            skipped = _extract_zip(path, tree) if is_zip else _extract_tar(path, tree)
            record = {"kind": "tarball", "path": str(path), "sha256": hash_file(path).sha256}
        root = find_dataset_root(tree)
        if root != tree:
            record["subfolder"] = root.relative_to(tree).as_posix()
        yield root, record, skipped


def lfs_pointers(files: dict[str, Path], limit: int = 5) -> list[str]:
    """Files that hold a Git LFS pointer instead of their content (a checkout without ``git lfs pull``)."""
    found = []
    for rel, path in files.items():
        try:
            if path.stat().st_size < 1024:
                with path.open("rb") as fh:
                    if fh.read(len(_LFS_POINTER)) == _LFS_POINTER:
                        found.append(rel)
        except OSError:
            continue
        if len(found) >= limit:
            break
    return found
