"""Reports of runs: statistics, charts and one page per pair, in a single offline ``report.html``.

``cooperbench report RUN [RUN ...]`` and :func:`report` read run folders and write
``report.html`` (self-contained: data, charts and Vega-Embed inside, nothing fetched),
``report.json`` (every number shown) and ``report.md`` (the tables). The statistics are in
:mod:`cooperbench.report.stats`. Needs the ``report`` extra: ``pip install 'cooperbench[report]'``.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from cooperbench.report._build import ReportFiles, report
from cooperbench.report._load import ReportError

__all__ = ["ReportError", "ReportFiles", "report"]


class _CallableModule(types.ModuleType):
    """``cooperbench.report`` is both this package and the function :func:`report`.

    Importing a submodule binds the package over the function of the same name in
    ``cooperbench``; making the package callable keeps ``cooperbench.report(...)`` working either way.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> ReportFiles:
        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
