"""Upstream CooperBench's ``cooperbench.eval`` module: the evaluation functions under their upstream names.

Importing it is cheap; each function loads the evaluation machinery when called. See docs/api.md.
"""

from __future__ import annotations

from typing import Any

from cooperbench._upstream_api import discover_runs, evaluate_merge, run_patch_test, test_merged, test_solo

__all__ = ["discover_runs", "evaluate", "evaluate_merge", "run_patch_test", "test_merged", "test_solo"]


def evaluate(*args: Any, **kwargs: Any) -> Any:
    """Evaluate the patches of a run; see :func:`cooperbench.evaluation.evaluate`."""
    from cooperbench.evaluation import evaluate as _evaluate

    return _evaluate(*args, **kwargs)
