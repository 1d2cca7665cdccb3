#!/usr/bin/env python3
"""What reading a dataset costs before a run starts, and what ``prepare`` costs.

Measures, on a dataset folder (the example dataset by default; point ``--dataset-dir`` at a
prepared public dataset for the real figures):

- ``discover_pairs``: every task's files read and checked for problems, every pair selected;
- ``prepare --from <dataset>`` into a scratch folder, twice (the second finds everything in place);
- ``prepare --check`` (hashing every file against the manifest);
- ``prepare`` from the fake Hub (the real huggingface_hub client on localhost), then again (resume).

::

    python benchmarks/bench_dataset.py
    python benchmarks/bench_dataset.py --dataset-dir dataset --repeat 5 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cooperbench.dataset import discover_pairs
from cooperbench.prepare import check_dataset, prepare_dataset
from cooperbench.prepare._manifest import dataset_files
from cooperbench.testing.fake_hub import FakeHub

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "dataset"


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return {"median_ms": round(statistics.median(runs) * 1000, 2), "min_ms": round(min(runs) * 1000, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset-dir", type=Path, default=EXAMPLES)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    source = args.dataset_dir.resolve()
    figures: dict[str, Any] = {"dataset": str(source)}
    pairs = discover_pairs(source)
    figures["pairs"] = len(pairs)
    figures["pairs_with_problems"] = sum(1 for p in pairs if p.problems)
    figures["discover_pairs"] = timed(lambda: discover_pairs(source), args.repeat)

    with tempfile.TemporaryDirectory(prefix="cooperbench-bench-dataset-") as tmp:
        scratch = Path(tmp)
        start = time.perf_counter()
        first = prepare_dataset(scratch / "from-folder", source=source)
        figures["prepare_from_folder_ms"] = round((time.perf_counter() - start) * 1000, 1)
        figures["files"] = len(first.manifest.files)
        figures["bytes"] = first.manifest.total_size
        figures["prepare_from_folder_again"] = timed(
            lambda: prepare_dataset(scratch / "from-folder", source=source), args.repeat
        )
        figures["prepare_check"] = timed(lambda: check_dataset(scratch / "from-folder"), args.repeat)

        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ["HF_HOME"] = str(scratch / "hf-home")
        with FakeHub() as hub:
            hub.commit(
                "CodeConflict/cooperbench-dataset", {rel: p.read_bytes() for rel, p in dataset_files(source).items()}
            )
            os.environ["HF_ENDPOINT"] = hub.url
            start = time.perf_counter()
            prepare_dataset(scratch / "from-hub")
            figures["prepare_from_hub_ms"] = round((time.perf_counter() - start) * 1000, 1)
            hub.clear_requests()
            figures["prepare_from_hub_again"] = timed(lambda: prepare_dataset(scratch / "from-hub"), args.repeat)
            figures["hub_downloads_when_again"] = len(hub.downloads())

    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
