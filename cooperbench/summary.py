"""The one place that turns a run folder into outcomes and ``summary.json``.

Both ``cooperbench run`` and ``cooperbench eval`` call :func:`summarize`, which recomputes
everything from the pair folders on disk (so a resumed or re-evaluated run is summarized
over all its pairs, not just the last invocation's).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cooperbench.io import read_json, write_json_atomic

__all__ = ["EVAL_FILE", "RESULT_FILE", "SUMMARY_FILE", "is_done", "iter_pair_dirs", "pair_outcome", "summarize"]

RESULT_FILE = "result.json"
EVAL_FILE = "eval.json"
SUMMARY_FILE = "summary.json"
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Serialize writers of ``folder``'s summary with a lock on the folder itself: no lock file is left in it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        from filelock import FileLock

        key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
        with FileLock(str(Path(tempfile.gettempdir()) / f"cooperbench-summary-{key}.lock")):
            yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # drops the lock


def pair_outcome(pair_dir: Path) -> str | None:
    """The outcome of the pair in ``pair_dir``.

    eval.json's outcome wins (the evaluation already weighs the agents' statuses); else the
    outcome the runner recorded when the agents ended (``agent_error``, ``infra_error``,
    ``timeout``), else ``"pending_eval"``. ``None`` when the pair has not run.
    """
    evaluation = read_json(pair_dir / EVAL_FILE)
    if isinstance(evaluation, dict) and evaluation.get("outcome"):
        return str(evaluation["outcome"])
    result = read_json(pair_dir / RESULT_FILE)
    if not isinstance(result, dict):
        return None
    outcome = result.get("outcome")
    return str(outcome) if outcome else "pending_eval"


def is_done(pair_dir: Path) -> bool:
    """A pair is done when its result.json parses and it did not end in an infrastructure or dataset error.

    A resumed run retries the first and checks the dataset again for the second. ``agents_outcome``
    is how the agents ended; ``outcome`` (all that result.json of older runs holds) becomes the
    pair's final outcome once it is evaluated, and an evaluation's own infrastructure error makes a
    resumed run evaluate the pair again, not rerun its agents.
    """
    result = read_json(pair_dir / RESULT_FILE)
    if not isinstance(result, dict):
        return False
    return result.get("agents_outcome", result.get("outcome")) not in ("infra_error", "dataset_error")


def iter_pair_dirs(run_dir: Path) -> list[Path]:
    """Every pair folder of a run holding result.json or eval.json.

    ``<setting>/<repo>/<task>/<pair>/``, and with ``--repeats`` each ``<pair>/repeat-<k>/`` (one attempt each).
    """
    found = {
        p.parent
        for name in (RESULT_FILE, EVAL_FILE)
        for pattern in (f"*/*/*/*/{name}", f"*/*/*/*/repeat-*/{name}")
        for p in run_dir.glob(pattern)
    }
    return sorted(found)


def summarize(run_dir: str | Path, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Recompute ``<run_dir>/summary.json`` from every pair folder and write it atomically.

    Keys: ``pairs``, ``outcomes``, ``by_setting``, ``pass_rate`` and
    ``pass_rate_excluding_infra`` (both from :func:`cooperbench.outcomes.pass_rate`, over
    pairs with a final outcome), ``pending_eval``, ``cost``, ``steps``, ``tokens``,
    ``pair_seconds``, ``evaluation`` (merge and attribution counts over eval.json files), and
    whatever ``extra`` adds. Keys written by someone else are kept; cost and tokens are kept
    as they were when no result.json carries totals (a log folder written by another tool).

    Returns:
        The summary written.
    """
    from cooperbench.evaluation.summary import evaluation_summary
    from cooperbench.outcomes import pass_rate

    run_dir = Path(run_dir)
    counts: dict[str, int] = {}
    by_setting: dict[str, dict[str, int]] = {}
    final: list[str] = []
    totals: dict[str, Any] = {"cost": 0.0, "steps": 0, "pair_seconds": 0.0, **dict.fromkeys(TOKEN_FIELDS, 0)}
    have_totals = False
    for pdir in iter_pair_dirs(run_dir):
        outcome = pair_outcome(pdir)
        if outcome is None:
            outcome = "pending_eval"
        setting = pdir.relative_to(run_dir).parts[0]
        counts[outcome] = counts.get(outcome, 0) + 1
        by_setting.setdefault(setting, {})
        by_setting[setting][outcome] = by_setting[setting].get(outcome, 0) + 1
        if outcome != "pending_eval":
            final.append(outcome)
        result = read_json(pdir / RESULT_FILE)
        # `spent`: every attempt at the pair (timeouts, infra and agent errors, interrupted tries)
        pair_totals = (result.get("spent") or result.get("totals")) if isinstance(result, dict) else None
        if isinstance(pair_totals, dict):
            have_totals = True
            totals["cost"] += float(pair_totals.get("cost") or 0.0)
            totals["steps"] += int(pair_totals.get("steps") or 0)
            totals["pair_seconds"] += float(result.get("duration_s") or 0.0)  # type: ignore[union-attr]
            for key in TOKEN_FIELDS:
                totals[key] += int(pair_totals.get(key) or 0)
    computed: dict[str, Any] = {
        "run_name": run_dir.name,
        "pairs": sum(counts.values()),
        "outcomes": dict(sorted(counts.items())),
        "pending_eval": counts.get("pending_eval", 0),
        "by_setting": {
            s: {
                "outcomes": dict(sorted(c.items())),
                "pass_rate": pass_rate([o for o, n in c.items() if o != "pending_eval" for _ in range(n)]),
            }
            for s, c in sorted(by_setting.items())
        },
        "pass_rate": pass_rate(final),
        "pass_rate_excluding_infra": pass_rate(final, exclude_infra=True),
        "evaluation": evaluation_summary(run_dir),
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if have_totals:
        computed.update(
            cost=round(totals["cost"], 6),
            steps=totals["steps"],
            tokens={k: totals[k] for k in TOKEN_FIELDS},
            pair_seconds=round(totals["pair_seconds"], 3),
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    with _folder_lock(run_dir):
        existing = read_json(run_dir / SUMMARY_FILE)
        summary = {**(existing if isinstance(existing, dict) else {}), **computed, **(extra or {})}
        write_json_atomic(run_dir / SUMMARY_FILE, summary)
    return summary
