"""The one place that turns a run and a pair into paths."""

from __future__ import annotations

from pathlib import Path

from cooperbench.dataset import Pair


def run_dir(logs_dir: str | Path, run_name: str) -> Path:
    return Path(logs_dir) / run_name


def pair_dir(logs_dir: str | Path, run_name: str, setting: str, pair: Pair, repeat: int | None = None) -> Path:
    """``logs/<run>/<setting>/<repo>/<task_id>/f<a>_f<b>/``; ``.../repeat-<k>/`` for repeat ``k`` of ``--repeats``."""
    path = run_dir(logs_dir, run_name) / setting / pair.repo / str(pair.task_id) / pair.dirname
    return path if repeat is None else path / f"repeat-{repeat}"


def repeat_numbers(repeats: int) -> list[int | None]:
    """The repeats of each pair: ``[None]`` (the plain layout) for 1, else ``1..repeats``."""
    return [None] if repeats == 1 else list(range(1, repeats + 1))


def agent_ids(setting: str, pair: Pair) -> list[str]:
    """``agent1``, ``agent2``, ... for the sorted features in coop; ``solo`` in solo."""
    return ["solo"] if setting == "solo" else [f"agent{i + 1}" for i in range(len(pair.features))]
