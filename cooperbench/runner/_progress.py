"""Console output of a run: a progress bar and one line per finished pair."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from cooperbench.dataset import Pair

_MARK = {"pass": "[green]✓[/green]", "pending_eval": "[cyan]•[/cyan]"}


def _first_line(text: Any) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def outcome_reason(outcome: str, result: dict[str, Any], evaluation: dict[str, Any] | None) -> str:
    """The one-line reason of a pair's outcome (empty for a pass and for a pair waiting for its evaluation)."""
    if outcome in ("pass", "pending_eval", "?"):
        return ""
    evaluation = evaluation if isinstance(evaluation, dict) else {}
    agents_outcome = result.get("agents_outcome", result.get("outcome"))
    if agents_outcome == outcome and result.get("error"):  # the agents' own ending decided it
        return _first_line(result["error"])
    if evaluation.get("error"):
        return _first_line(evaluation["error"])
    statuses = evaluation.get("apply_status") or {}
    if outcome == "apply_failed":
        failed = [a for a, status in statuses.items() if status == "failed"]
        errors = evaluation.get("apply_errors") or {}
        detail = next((_first_line(errors[a]) for a in failed if errors.get(a)), "")
        return f"the patch of {', '.join(failed) or 'an agent'} does not apply" + (f": {detail}" if detail else "")
    if outcome == "no_patch":
        return "an agent left no change (changes to test files are dropped)"
    if outcome == "merge_conflict":
        return "the agents' patches conflict, and the fallback did not rescue the merge"
    if outcome == "fail_tests":
        parts = []
        index = 1
        while isinstance(evaluation.get(f"feature{index}"), dict):
            feat = evaluation[f"feature{index}"]
            if not feat.get("passed"):
                what = "timed out" if feat.get("timed_out") else f"{feat.get('tests_failed', 0)} test(s) failed"
                parts.append(f"feature {feat.get('feature_id', index)}: {what}")
            index += 1
        return "; ".join(parts) or "a feature's tests failed"
    return _first_line(result.get("error") or "")


class Reporter:
    """Thread-safe progress reporting (rich on a terminal, plain lines otherwise)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=False, highlight=False, soft_wrap=True)
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task: Any = None
        self.failed = 0
        self.done = 0

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {message}", markup=True, highlight=False)

    def start(self, opts: Any, *, total: int, skipped: int, run_path: Path, connector: str | None) -> None:
        messaging = "off" if connector is None else connector.split("://")[0]
        git = "on" if opts.git_enabled else "off"
        self.console.print(
            f"Run [bold]{opts.run_name}[/bold]: {total} pair(s), {opts.setting}, agent {opts.agent}, model "
            f"{opts.model_name}, backend {opts.backend}, messaging {messaging}, git {git}"
            + (f"; {skipped} already done (use --force to redo)" if skipped else ""),
            highlight=False,
        )
        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._task = self._progress.add_task("pairs", total=total, completed=skipped, failed=0)
        self._progress.start()

    def pair_finished(
        self,
        pair: Pair,
        result: dict[str, Any],
        outcome: str | None,
        *,
        eval_seconds: float = 0.0,
        evaluation: dict[str, Any] | None = None,
    ) -> None:
        outcome = outcome or "?"
        cost = float((result.get("totals") or {}).get("cost") or 0.0)
        seconds = float(result.get("duration_s") or 0.0) + eval_seconds
        mark = _MARK.get(outcome, "[red]✗[/red]")
        with self._lock:
            self.done += 1
            if outcome != "pass":
                self.failed += 1
            name = pair.key + (f" #{result['repeat']}" if result.get("repeat") else "")  # --repeats
            line = f"{mark} {name:<40} {outcome:<15} ${cost:.4f} {seconds:7.1f}s"
            if outcome == "dataset_error" and result.get("problems"):  # every path in full: the user fixes them
                line += "".join(f"\n    {p['path']}: {p['problem']}" for p in result["problems"])
            elif reason := outcome_reason(outcome, result, evaluation):
                line += f"  {reason[:160]}"
            self.console.print(line, highlight=False)
            self._advance()

    def pair_failed(self, pair: Pair, error: BaseException) -> None:
        with self._lock:
            self.done += 1
            self.failed += 1
            self.console.print(
                f"[red]✗[/red] {pair.key}: harness error: {type(error).__name__}: {error}", highlight=False
            )
            self._advance()

    def _advance(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, failed=self.failed)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def interrupting(self, run_name: str, signal_name: str) -> None:
        what = "Ctrl-C" if signal_name == "SIGINT" else signal_name
        self.console.print(
            f"{what} received: stopping run {run_name}; removing its sandboxes, containers, networks and git "
            "servers (the results written so far are kept) ...",
            highlight=False,
        )

    def final(self, summary: dict[str, Any], run_path: Path, *, interrupted: bool, skipped: int) -> None:
        rate = summary.get("pass_rate") or {}
        outcomes = ", ".join(f"{k} {v}" for k, v in (summary.get("outcomes") or {}).items()) or "none"
        if interrupted:
            self.console.print(
                f"Interrupted: {summary.get('pairs', 0)} pair(s) saved in {run_path} ({outcomes}); "
                "unfinished pairs were not marked done: run the same command again to resume.",
                highlight=False,
            )
            return
        incomplete = summary.get("incomplete") or []
        if incomplete:
            names = ", ".join(incomplete[:5]) + (" ..." if len(incomplete) > 5 else "")
            self.console.print(
                f"[red]{len(incomplete)} pair(s) left without a result[/red] (an infrastructure, dataset or "
                f"harness error after their attempts): {names}; "
                "run the same command again to retry them.",
                highlight=False,
            )
        self.console.print(
            f"Done: {outcomes}. Pass rate {rate.get('pass_rate', 0):.1%} "
            f"({rate.get('passed', 0)}/{rate.get('counted', 0)}), "
            f"cost ${summary.get('cost', 0):.4f}. Results in {run_path}",
            highlight=False,
        )
