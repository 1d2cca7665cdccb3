"""CooperBench: measure whether AI coding agents can work together as teammates.

``import cooperbench`` is cheap: it loads no plugin and none of the heavy SDKs (docker,
modal, litellm, ...). :func:`run`, :func:`evaluate` and :func:`report` import what they need on first call.
"""

from __future__ import annotations

from typing import Any

from cooperbench.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate", "hookimpl", "report", "run"]


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
