"""Getting the dataset: ``cooperbench prepare``.

Fetches the public CooperBench dataset from the Hugging Face Hub (``huggingface_hub``, imported
only when fetching) or imports one offline from a folder, a tarball or a git checkout, and writes
``<dataset>/.cooperbench-manifest.json``: the pinned source and a SHA-256 of every file, which
:func:`check_dataset` (``prepare --check``) compares the folder against.
"""

from __future__ import annotations

from cooperbench.prepare._hub import DEFAULT_REPO_ID
from cooperbench.prepare._manifest import (
    MANIFEST_NAME,
    CheckReport,
    FileEntry,
    Manifest,
    PrepareError,
    check_dataset,
    read_manifest,
)
from cooperbench.prepare._prepare import PrepareResult, prepare_dataset

__all__ = [
    "DEFAULT_REPO_ID",
    "MANIFEST_NAME",
    "CheckReport",
    "FileEntry",
    "Manifest",
    "PrepareError",
    "PrepareResult",
    "check_dataset",
    "dataset_source",
    "prepare_dataset",
    "read_manifest",
]


def dataset_source(dataset_dir: str) -> dict[str, object] | None:
    """Where a prepared dataset came from, for a run's provenance: the manifest's pinned ``source``
    plus its content ``digest`` and ``complete`` flag; ``None`` without a (readable) manifest."""
    try:
        manifest = read_manifest(dataset_dir)
    except PrepareError:
        return None
    if manifest is None:
        return None
    return {**manifest.source, "digest": manifest.digest, "complete": manifest.complete}
