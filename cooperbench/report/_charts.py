"""The report's charts, as Vega-Lite specifications made with Altair.

Each chart reads a *named* dataset (``rows``, ``steps``, ...) that the page fills in before
it draws (Vega-Embed, bundled into the page): one specification serves every run and every
pair, and the data is embedded once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from cooperbench.io import write_json_atomic

__all__ = ["OUTCOME_COLORS", "cached_chart_specs", "chart_specs"]

#: Outcome → colour, in the order the charts list them (passing first, infra last).
OUTCOME_COLORS: dict[str, str] = {
    "pass": "#2e7d32",
    "fail_tests": "#c62828",
    "merge_conflict": "#ef6c00",
    "apply_failed": "#8e24aa",
    "no_patch": "#6d4c41",
    "agent_error": "#ad1457",
    "timeout": "#f9a825",
    "infra_error": "#546e7a",
    "dataset_error": "#90a4ae",
    "pending_eval": "#bdbdbd",
}
STEP_COLORS: dict[str, str] = {
    "command": "#78909c",
    "message": "#1565c0",
    "git push": "#2e7d32",
    "git fetch": "#6a1b9a",
    "submit": "#000000",
}
DISTRIBUTION_TITLES = {
    "cost": "cost per attempt ($)",
    "steps": "steps per attempt",
    "input_tokens": "input tokens per attempt",
    "output_tokens": "output tokens per attempt",
    "wall_s": "agents' wall time per attempt (s)",
    "messages": "messages per pair",
}


def _outcomes(alt: Any) -> Any:
    scale = alt.Scale(domain=list(OUTCOME_COLORS), range=list(OUTCOME_COLORS.values()))
    return (
        alt.Chart(alt.NamedData("rows"), title="Outcomes")
        .mark_bar()
        .encode(
            y=alt.Y("outcome:N", sort=list(OUTCOME_COLORS), title=None),
            x=alt.X("count():Q", title="attempts"),
            color=alt.Color("outcome:N", scale=scale, legend=None),
            tooltip=[alt.Tooltip("outcome:N"), alt.Tooltip("count():Q", title="attempts")],
        )
        .properties(width=360)
    )


def _attribution(alt: Any) -> Any:
    return (
        alt.Chart(alt.NamedData("rows"), title="Failure attribution")
        .mark_bar(color="#5c6bc0")
        .transform_filter("datum.attribution != null")
        .encode(
            y=alt.Y("attribution:N", title=None, sort="-x"),
            x=alt.X("count():Q", title="attempts"),
            tooltip=[alt.Tooltip("attribution:N"), alt.Tooltip("count():Q", title="attempts")],
        )
        .properties(width=360)
    )


def _distributions(alt: Any) -> Any:
    charts = [
        alt.Chart(alt.NamedData("rows"))
        .mark_bar(color="#546e7a")
        .encode(
            x=alt.X(f"{field}:Q", bin=alt.Bin(maxbins=20), title=title),
            y=alt.Y("count():Q", title="attempts"),
            tooltip=[alt.Tooltip(f"{field}:Q", bin=alt.Bin(maxbins=20), title=title), alt.Tooltip("count():Q")],
        )
        .properties(width=190, height=120)
        for field, title in DISTRIBUTION_TITLES.items()
    ]
    return alt.concat(*charts, columns=3)


def _by_repo(alt: Any) -> Any:
    return (
        alt.Chart(alt.NamedData("by_repo"), title="Pass rate per repository (common pairs)")
        .mark_bar()
        .encode(
            y=alt.Y("repo:N", title=None),
            yOffset=alt.YOffset("run:N"),
            x=alt.X("rate:Q", title="pass rate", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.Color("run:N", title="run"),
            tooltip=[alt.Tooltip("repo:N"), alt.Tooltip("run:N"), alt.Tooltip("rate:Q", format=".1%")],
        )
        .properties(width=360)
    )


def _pass_k(alt: Any) -> Any:
    return (
        alt.Chart(alt.NamedData("passk"), title="pass@k and pass^k")
        .mark_line(point=True)
        .encode(
            x=alt.X("k:O", title="k"),
            y=alt.Y("value:Q", title="rate", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.Color("metric:N", title=None),
            tooltip=[alt.Tooltip("metric:N"), alt.Tooltip("k:O"), alt.Tooltip("value:Q", format=".1%")],
        )
        .properties(width=300, height=180)
    )


def _timeline(alt: Any, *, axis_title: str) -> Any:
    def lane(field: str) -> Any:
        return alt.Y(
            f"{field}:N", title=None, sort=alt.EncodingSortField("order"), scale=alt.Scale(type="point", padding=0.6)
        )

    lanes = lane("lane")
    kind_scale = alt.Scale(domain=list(STEP_COLORS), range=list(STEP_COLORS.values()))
    work = (
        alt.Chart(alt.NamedData("steps"))
        .mark_rule(strokeWidth=6, opacity=0.25)
        .transform_filter("datum.x_end != null")
        .encode(
            x=alt.X("x:Q", title=axis_title),
            x2="x_end:Q",
            y=lanes,
            color=alt.Color("kind:N", scale=kind_scale, legend=None),
        )
    )
    steps = (
        alt.Chart(alt.NamedData("steps"))
        .mark_point(filled=True, size=80, opacity=0.9)
        .encode(
            x=alt.X("x:Q", title=axis_title),
            y=lanes,
            color=alt.Color("kind:N", scale=kind_scale, title="step"),
            shape=alt.Shape("kind:N", title="step"),
            tooltip=[
                alt.Tooltip("lane:N", title="agent"),
                alt.Tooltip("i:Q", title="step"),
                alt.Tooltip("kind:N"),
                alt.Tooltip("label:N", title="command"),
            ],
        )
    )
    message_lines = (
        alt.Chart(alt.NamedData("messages"))
        .mark_rule(color="#1565c0", strokeWidth=2, strokeDash=[5, 3])
        .encode(
            x="x:Q",
            x2="x2:Q",
            y=lane("from_lane"),
            y2="to_lane:N",
            tooltip=[
                alt.Tooltip("id:Q", title="message"),
                alt.Tooltip("from_lane:N", title="from"),
                alt.Tooltip("to_lane:N", title="to"),
                alt.Tooltip("label:N", title="text"),
            ],
        )
    )
    deliveries = (
        alt.Chart(alt.NamedData("messages"))
        .mark_point(shape="triangle-down", filled=True, size=110, color="#1565c0")
        .encode(x="x2:Q", y=lane("to_lane"), tooltip=[alt.Tooltip("label:N", title="delivered")])
    )
    return (
        alt.layer(work, message_lines, steps, deliveries)
        .resolve_scale(y="shared")
        # The page sets the height from the number of lanes.
        .properties(width="container", height=140)
    )


def chart_specs() -> dict[str, dict[str, Any]]:
    """Every chart of the page as a Vega-Lite specification (a dict), by name.

    Raises:
        ImportError: Altair is not installed (``pip install 'cooperbench[report]'``).
    """
    import altair as alt

    charts = {
        "outcomes": _outcomes(alt),
        "attribution": _attribution(alt),
        "distributions": _distributions(alt),
        "by_repo": _by_repo(alt),
        "pass_k": _pass_k(alt),
        "timeline_time": _timeline(alt, axis_title="seconds since the pair started"),
        "timeline_steps": _timeline(alt, axis_title="step"),
    }
    return {name: chart.to_dict() for name, chart in charts.items()}


def cached_chart_specs(cache_dir: Path) -> dict[str, dict[str, Any]]:
    """:func:`chart_specs`, cached in ``cache_dir`` per Altair version and this module's source.

    The specifications hold no data, so they change only with the code; the cache saves
    importing Altair (seconds on a loaded machine) on every report.
    """
    from importlib import metadata

    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    path = cache_dir / f"chart-specs-{metadata.version('altair')}-{digest}.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(cached, dict):
            return cached
    except (OSError, ValueError):
        pass
    specs = chart_specs()
    with contextlib.suppress(OSError):  # a read-only cache only costs the next report the time
        write_json_atomic(path, specs)
    return specs
