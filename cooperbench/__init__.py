"""CooperBench: measure whether AI coding agents can work together as teammates.

``import cooperbench`` is cheap: it loads no plugin and none of the heavy SDKs (docker,
modal, litellm, ...). :func:`run`, :func:`evaluate` and :func:`report` import what they need on first call.
Upstream CooperBench's names (``discover_tasks``, ``discover_runs``, ``test_merged``,
``test_solo``, ``evaluate_merge``; see docs/api.md) are attributes loaded on first use.
"""

from __future__ import annotations

from typing import Any

from cooperbench.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "discover_runs",
    "discover_tasks",
    "evaluate",
    "evaluate_merge",
    "hookimpl",
    "report",
    "run",
    "test_merged",
    "test_solo",
]

# Upstream's API names, from a light module (cooperbench._upstream_api imports nothing heavy
# until a function is called).
_COMPAT = {"discover_tasks", "discover_runs", "test_merged", "test_solo", "evaluate_merge"}


def __getattr__(name: str) -> Any:
    if name in _COMPAT:
        from cooperbench import _upstream_api

        return getattr(_upstream_api, name)
    raise AttributeError(f"module 'cooperbench' has no attribute {name!r}")


def run(*args: Any, **kwargs: Any) -> Any:
    """Run agents on pairs of features; see :func:`cooperbench.runner.run`."""
    from cooperbench.runner import run as _run

    return _run(*args, **kwargs)


def evaluate(*args: Any, **kwargs: Any) -> Any:
    """Evaluate the patches of a run; see :func:`cooperbench.evaluation.evaluate`."""
    from cooperbench.evaluation import evaluate as _evaluate

    return _evaluate(*args, **kwargs)


def report(*args: Any, **kwargs: Any) -> Any:
    """Write report.html, report.json and report.md for runs; see :func:`cooperbench.report.report`."""
    from cooperbench.report import report as _report

    return _report(*args, **kwargs)
