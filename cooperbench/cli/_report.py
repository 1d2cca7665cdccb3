"""``cooperbench report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cooperbench.cli._app import app, fail
from cooperbench.errors import CooperBenchError


@app.command("report")
def report_command(
    runs: Annotated[
        list[str], typer.Argument(help="Runs to report on: names under --log-dir, or paths to run folders.")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Folder for report.html, report.json and report.md "
            "(default: <run>/report/, or <log-dir>/reports/<run>+<run>/ for several runs).",
        ),
    ] = None,
    log_dir: Annotated[
        Path | None, typer.Option("--log-dir", help="Where run names are looked up (default: ./logs).")
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="Compare every other run with this one (default: compare every two runs)."),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="The report's title.")] = None,
) -> None:
    """Write a report of runs: pass rates with intervals, comparisons, and a page per pair.

    report.html is one self-contained file (it opens from disk, offline); report.json holds every
    number shown and report.md the tables. Needs the report extra: pip install 'cooperbench[report]'.
    """
    from cooperbench.report import report

    try:
        files = report(runs, output, logs_dir=log_dir, baseline=baseline, title=title)
    except CooperBenchError as exc:
        raise fail(str(exc)) from exc
    for section in files.data["runs"]:
        rate = section["pass_rate"]
        interval = rate["interval"]
        ci = f" [{100 * interval['low']:.1f}%, {100 * interval['high']:.1f}%]" if interval else ""
        typer.echo(
            f"{section['label']}: pass rate {100 * rate['pass_rate']:.1f}%{ci} "
            f"({rate['passed']}/{rate['counted']}), {section['pairs']} pairs"
        )
    for c in files.data["comparisons"]:
        diff = c["difference"]
        shown = f"{100 * diff['estimate']:+.1f} pp" if diff else "–"
        typer.echo(
            f"{c['a']} vs {c['b']}: {c['common_pairs']} common pairs, difference {shown}, "
            f"McNemar p = {c['mcnemar_p']:.3g}"
        )
    typer.echo(f"Report: {files.html}")
    typer.echo(f"        {files.json}")
    typer.echo(f"        {files.markdown}")
