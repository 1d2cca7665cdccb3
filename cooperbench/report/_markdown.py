"""``report.md``: the report's tables in Markdown, ready to paste into a paper or a pull request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["render_markdown"]


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _pp(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.1f} pp"


def _ci(iv: dict[str, Any] | None) -> str:
    return "" if not iv else f"[{_pct(iv['low'])}, {_pct(iv['high'])}]"


def _p(p: float | None) -> str:
    if p is None:
        return "–"
    return f"{p:.2e}" if p < 0.001 else f"{p:.3f}"


def _money(x: float | None) -> str:
    return "–" if x is None else f"${x:.4f}"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _run(section: dict[str, Any]) -> list[str]:
    c = section["config"]
    out = [f"### Run `{section['label']}`", ""]
    out.append(
        f"{c.get('setting') or '–'} · agent {c.get('agent') or '–'} · model {c.get('model') or '–'} · "
        f"backend {c.get('backend') or '–'} · scoring policy {c.get('policy') or '–'}"
    )
    out.append("")
    rate = section["pass_rate"]
    line = (
        f"Pass rate **{_pct(rate['pass_rate'])}** ({rate['passed']}/{rate['counted']}, "
        f"95% Wilson CI {_ci(rate['interval'])})"
    )
    excl = section.get("pass_rate_excluding_infra")
    if excl:
        line += (
            f"; excluding infra errors {_pct(excl['pass_rate'])} "
            f"({excl['passed']}/{excl['counted']}, {_ci(excl['interval'])})"
        )
    if section["pending_eval"]:
        line += f"; {section['pending_eval']} attempts not evaluated"
    out += [line + ".", ""]
    total = sum(section["outcomes"].values()) or 1
    out += _table(
        ["outcome", "attempts", "share"], [[k, v, _pct(v / total)] for k, v in section["outcomes"].items()], (1, 2)
    )
    if section["attribution"]:
        out += _table(["failure attribution", "attempts"], list(section["attribution"].items()), (1,))
    if section["merge"]:
        out += _table(["merge", "attempts"], list(section["merge"].items()), (1,))
    out += _table(
        ["repository", "pairs", "passed", "pass rate", "95% CI", "cost"],
        [
            [g["repo"], g["pairs"], g["passed"], _pct(g["pass_rate"]), _ci(g["interval"]), _money(g["cost"])]
            for g in section["by_repo"]
        ],
        (1, 2, 3, 5),
    )
    out += _table(
        ["repository", "task", "pairs", "passed", "pass rate", "95% CI"],
        [
            [g["repo"], g["task_id"], g["pairs"], g["passed"], _pct(g["pass_rate"]), _ci(g["interval"])]
            for g in section["by_task"]
        ],
        (2, 3, 4),
    )
    d = section["distributions"]
    out += _table(
        ["per attempt", "total", "mean", "median", "p90", "max"],
        [
            [
                name,
                f"{v.get('total', 0):.4g}",
                f"{v.get('mean', 0):.4g}",
                f"{v.get('median', 0):.4g}",
                f"{v.get('p90', 0):.4g}",
                f"{v.get('max', 0):.4g}",
            ]
            for name, v in d.items()
        ],
        (1, 2, 3, 4, 5),
    )
    rep = section.get("repeats")
    if rep:
        mean = rep["mean_pass_rate"]
        out.append(
            f"Repeats: k = {rep['k']} on {rep['pairs']} pairs; mean pass rate {_pct(mean['estimate'])} "
            f"(95% t CI {_ci(mean)}); pairs with mixed results {_pct(rep['flip']['mixed_fraction'])}; "
            f"flip rate between repeats {_pct(rep['flip']['pairwise_flip_rate'])}."
        )
        out.append("")
        out += _table(
            ["k", "pass@k", "pass^k"],
            [[k, _pct(v), _pct(rep["pass_hat_k"][k])] for k, v in rep["pass_at_k"].items()],
            (1, 2),
        )
        out += _table(["passes / attempts", "pairs"], list(rep["pass_counts"].items()), (1,))
    return out


def _comparison(c: dict[str, Any]) -> list[str]:
    t = c["table"]
    d = c["difference"]
    out = [f"### `{c['a']}` (A) vs `{c['b']}` (B), {c['common_pairs']} common pairs", ""]
    out += _table(
        ["", "B passed", "B failed"],
        [["A passed", t["both_pass"], t["a_only"]], ["A failed", t["b_only"], t["both_fail"]]],
        (1, 2),
    )
    out += _table(
        ["A", "B", "A − B", "95% CI (paired bootstrap)", "McNemar exact p", "retention A/B", "cost ratio A/B"],
        [
            [
                f"{_pct(c['rate_a'])} {_ci(c['interval_a'])}",
                f"{_pct(c['rate_b'])} {_ci(c['interval_b'])}",
                _pp(d["estimate"]) if d else "–",
                f"[{_pp(d['low'])}, {_pp(d['high'])}]" if d else "",
                _p(c["mcnemar_p"]),
                "–" if c["retention"] is None else f"{c['retention']:.3f}",
                "–" if c["cost"]["ratio"] is None else f"{c['cost']['ratio']:.2f}×",
            ]
        ],
        (0, 1, 2, 4, 5, 6),
    )
    out += _table(
        ["repository", "pairs", "A", "B", "A − B", "only A", "only B"],
        [
            [
                r["repo"],
                r["pairs"],
                _pct(r["rate_a"]),
                _pct(r["rate_b"]),
                _pp(r["difference"]),
                r["a_only"],
                r["b_only"],
            ]
            for r in c["by_repo"]
        ],
        (1, 2, 3, 4, 5, 6),
    )
    if c["discordant"]:
        out += _table(
            ["discordant pair", "passed in", "A outcome", "B outcome"],
            [[x["pair_id"], x["passed_in"], x["a_outcome"], x["b_outcome"]] for x in c["discordant"]],
        )
    return out


def render_markdown(report: dict[str, Any]) -> str:
    """The Markdown text of a report (the dict written to report.json)."""
    out = [f"# {report['title']}", "", f"Generated {report['generated_at']}.", ""]
    out.append("## Runs")
    out.append("")
    out += _table(
        ["run", "setting", "agent", "model", "policy", "pairs", "pass rate", "95% CI (Wilson)", "excl. infra", "cost"],
        [
            [
                r["label"],
                r["config"].get("setting") or "–",
                r["config"].get("agent") or "–",
                r["config"].get("model") or "–",
                r["config"].get("policy") or "–",
                r["pairs"],
                _pct(r["pass_rate"]["pass_rate"]),
                _ci(r["pass_rate"]["interval"]),
                _pct(r["pass_rate_excluding_infra"]["pass_rate"]) if r["pass_rate_excluding_infra"] else "–",
                _money(r["distributions"]["cost"].get("total", 0.0)),
            ]
            for r in report["runs"]
        ],
        (5, 6, 8, 9),
    )
    if report["groups"]:
        out += ["## Runs of the same configuration", ""]
        out += _table(
            ["runs", "mean pass rate", "95% CI (t)", "sd"],
            [
                [", ".join(g["runs"]), _pct(g["pass_rate"]["estimate"]), _ci(g["pass_rate"]), _pct(g["pass_rate_sd"])]
                for g in report["groups"]
            ],
            (1, 3),
        )
    if report["comparisons"]:
        out += ["## Comparisons", ""]
        for c in report["comparisons"]:
            out += _comparison(c)
    out += ["## Per run", ""]
    for r in report["runs"]:
        out += _run(r)
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
    b = report["bootstrap"]
    out += [
        "---",
        "",
        f"Intervals are 95%: Wilson for rates, a paired percentile bootstrap ({b['resamples']} resamples, "
        f"seed {b['seed']}) for differences, Student t for means over runs or repeats. Pass rates count infra "
        "errors as not passed unless marked otherwise. Made with " + versions + ".",
        "",
    ]
    return "\n".join(out)
