"""``report()``: read runs, compute every number, write report.html, report.json and report.md."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from cooperbench.io import write_json_atomic, write_text_atomic
from cooperbench.report._load import ReportError, RunData, load_runs, resolve_run

__all__ = ["REQUIRED_MODULES", "ReportFiles", "report"]

#: What the report needs beyond the core, and the distribution each module comes from.
REQUIRED_MODULES = {
    "numpy": "numpy",
    "scipy": "scipy",
    "altair": "altair",
    "vl_convert": "vl-convert-python",
}
INSTALL_HINT = "pip install 'cooperbench[report]'"


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`report` wrote.

    Attributes:
        directory: the output folder.
        html: ``report.html``, the self-contained page (index, runs, comparisons, one page per attempt).
        json: ``report.json``, every number the page shows.
        markdown: ``report.md``, the tables in Markdown.
        data: the report as a dict (the content of ``report.json``).
    """

    directory: Path
    html: Path
    json: Path
    markdown: Path
    data: dict[str, Any]


def _require() -> None:
    # Found, not imported: the runs are read (in forked workers) before any heavy module loads.
    missing = []
    for module, dist in REQUIRED_MODULES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # ValueError: a module blocked with sys.modules[name] = None
            found = False
        if not found:
            missing.append(dist)
    if missing:
        raise ReportError(f"cooperbench report needs {', '.join(missing)}, which are not installed: {INSTALL_HINT}")


def _versions() -> dict[str, str]:
    import vl_convert

    from cooperbench import __version__

    found = {"cooperbench": __version__, "python": sys.version.split()[0]}
    for dist in ("numpy", "scipy", "altair", "vl-convert-python"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "?"
    found["vega"] = vl_convert.get_vega_version()
    found["vega-lite"] = vl_convert.get_vegalite_versions()[-1]
    found["vega-embed"] = vl_convert.get_vega_embed_version()
    return found


def _unique_labels(paths: Sequence[Path]) -> list[str]:
    labels: list[str] = []
    for path in paths:
        label, n = path.name, 2
        while label in labels:
            label, n = f"{path.name}#{n}", n + 1
        labels.append(label)
    return labels


def _default_output(runs: Sequence[RunData], logs_dir: Path) -> Path:
    if len(runs) == 1:
        return runs[0].path / "report"
    name = "+".join(r.label for r in runs)
    if len(name) > 100:
        name = name[:80] + "-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return logs_dir / "reports" / name


def report(
    runs: Sequence[str | Path],
    output_dir: str | Path | None = None,
    *,
    logs_dir: str | Path | None = None,
    baseline: str | None = None,
    title: str | None = None,
) -> ReportFiles:
    """Write a report of one or more runs: ``report.html``, ``report.json`` and ``report.md``.

    Args:
        runs: run names under ``logs_dir``, or paths to run folders.
        output_dir: where the files go; default ``<run>/report/`` for one run,
            ``<logs_dir>/reports/<run>+<run>.../`` for several.
        logs_dir: where run names are looked up (default from settings: ``./logs``).
        baseline: compare every other run with this one (a run's label, i.e. its folder name);
            without it every two runs are compared.
        title: the page's title.

    Returns:
        The files written, and the report's data.

    Raises:
        ReportError: a run cannot be found, ``baseline`` is not one of the runs, or the report's
            optional dependencies are missing (the message says what to install).
    """
    if not runs:
        raise ReportError("name at least one run to report on")
    from cooperbench.settings import defaults

    logs = Path(logs_dir if logs_dir is not None else defaults().logs_dir).expanduser()
    paths = [resolve_run(r, logs) for r in runs]
    labels = _unique_labels(paths)
    if baseline is not None and baseline not in labels:
        raise ReportError(f"baseline {baseline!r} is not one of the runs reported: {', '.join(labels)}")
    _require()
    from cooperbench.report import stats
    from cooperbench.report._analysis import analyze_run, compare_runs, comparison_plan, configuration_groups
    from cooperbench.report._charts import OUTCOME_COLORS, cached_chart_specs
    from cooperbench.report._html import cache_dir, render_html
    from cooperbench.report._markdown import render_markdown

    loaded = load_runs(list(zip(paths, labels, strict=True)))
    sections = [analyze_run(run) for run in loaded]
    comparisons = [compare_runs(loaded[a], loaded[b]) for a, b in comparison_plan(loaded, baseline)]
    groups = configuration_groups(loaded, sections)
    title = title or "CooperBench report: " + ", ".join(labels)
    data: dict[str, Any] = {
        "schema": "cooperbench-report-1",
        "title": title,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": _versions(),
        "confidence": stats.CONFIDENCE,
        "bootstrap": {"resamples": stats.BOOTSTRAP_RESAMPLES, "seed": stats.BOOTSTRAP_SEED, "method": "percentile"},
        "runs": sections,
        "groups": groups,
        "comparisons": comparisons,
        "pairs": [a.row for run in loaded for a in run.attempts],
    }
    out = Path(output_dir).expanduser() if output_dir is not None else _default_output(loaded, logs)
    out.mkdir(parents=True, exist_ok=True)
    page_data = {
        "meta": {
            "title": title,
            "generated_at": data["generated_at"],
            "versions": data["versions"],
            "bootstrap": data["bootstrap"],
        },
        "runs": sections,
        "groups": groups,
        "comparisons": comparisons,
        "rows": data["pairs"],
        "specs": cached_chart_specs(cache_dir()),
        "outcome_colors": OUTCOME_COLORS,
    }
    packed = {a.row["key"]: a.packed for run in loaded for a in run.attempts}
    files = ReportFiles(out, out / "report.html", out / "report.json", out / "report.md", data)
    write_json_atomic(files.json, data)
    write_text_atomic(files.markdown, render_markdown(data))
    write_text_atomic(files.html, render_html(title, page_data, packed))
    return files
