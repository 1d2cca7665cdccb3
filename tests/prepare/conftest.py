"""Helpers of the `cooperbench prepare` tests: the CLI as a user runs it, the fake Hub, file listings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cooperbench.testing.fake_hub import FakeHub, read_tree

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dataset"
REPO_ID = "CodeConflict/cooperbench-dataset"


def _content(folder: Path) -> dict[str, bytes]:
    return {
        rel: data
        for rel, data in read_tree(folder).items()
        if rel != ".cooperbench-manifest.json" and not rel.startswith(".cache/")
    }


@pytest.fixture
def content():
    """``content(folder)``: the dataset files of a folder (no manifest, no Hub bookkeeping) and their bytes."""
    return _content


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    # A small page size makes the client follow the tree listing's pagination.
    with FakeHub(page_size=7) as server:
        yield server


@pytest.fixture
def cli(tmp_path: Path, hub: FakeHub):
    """Run `cooperbench ...` in a subprocess whose huggingface_hub talks to the fake Hub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "COOPERBENCH_"))}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_ETAG_TIMEOUT="30",
        HF_HUB_DOWNLOAD_TIMEOUT="60",
        COLUMNS="200",
    )

    def run(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cooperbench", *args],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env={**env, **extra_env},
        )

    return run
