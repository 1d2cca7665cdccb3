"""``evaluate()``: evaluate every pair folder of a run, concurrently, then update summary.json."""

from __future__ import annotations

import dataclasses
import re
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cooperbench.backends._context import SandboxTracker
from cooperbench.backends.base import Backend, RunLabels, Sandbox
from cooperbench.dataset import Pair, Selection, Task, load_subset, load_tasks
from cooperbench.errors import ConfigError, DatasetError
from cooperbench.evaluation.pair_dir import eval_file_name, evaluate_pair_dir, get_evaluator, run_policy
from cooperbench.evaluation.policy import DEFAULT_POLICY, get_policy
from cooperbench.evaluation.summary import write_evaluation_summary
from cooperbench.io import read_json
from cooperbench.settings import defaults

if TYPE_CHECKING:
    from cooperbench.evaluation.base import Evaluator

__all__ = ["PairDir", "TrackingBackend", "discover_pair_dirs", "evaluate"]

_PAIR_DIR = re.compile(r"^f\d+(?:_f\d+)+$")
_SETTINGS = ("coop", "solo", "team")


@dataclass(frozen=True)
class PairDir:
    """A pair folder of a run: ``<run>/<setting>/<repo>/<task_id>/f<a>_f<b>[_f<c>...]/``."""

    setting: str
    repo: str
    task_id: int
    features: tuple[int, ...]
    path: Path

    @property
    def key(self) -> str:
        return f"{self.setting}/{self.repo}/{self.task_id}/{self.path.name}"


def discover_pair_dirs(
    run_dir: Path,
    *,
    repo: str | None = None,
    task_id: int | None = None,
    features: list[int] | None = None,
    selection: Selection | None = None,
) -> list[PairDir]:
    """The pair folders of a run that match the filters, sorted.

    Args:
        run_dir: ``logs/<run>``.
        repo, task_id: only this repository / task.
        features: only the tuple of exactly these features (as ``cooperbench run -f``).
        selection: a subset as returned by :func:`cooperbench.dataset.load_subset`.
    """
    found: list[PairDir] = []
    for setting in _SETTINGS:
        for path in sorted((run_dir / setting).glob("*/*/*")):
            if not (_PAIR_DIR.match(path.name) and path.is_dir() and path.parent.name.isdigit()):
                continue
            ids = tuple(int(part[1:]) for part in path.name.split("_"))
            pd = PairDir(setting, path.parent.parent.name, int(path.parent.name), ids, path)
            if (repo is not None and pd.repo != repo) or (task_id is not None and pd.task_id != task_id):
                continue
            if features is not None and tuple(sorted(pd.features)) != tuple(sorted(set(features))):
                continue
            if selection is not None:
                key = (pd.repo, pd.task_id)
                if key not in selection:
                    continue
                chosen = selection[key]
                if chosen is not None and tuple(sorted(pd.features)) not in set(chosen):
                    continue
            # A run made with --repeats holds one complete pair folder per repeat: each is evaluated.
            repeats = sorted({p.parent for p in path.glob("repeat-*/result.json")})
            found.extend([dataclasses.replace(pd, path=r) for r in repeats] or [pd])
    return sorted(found, key=lambda p: (p.setting, p.repo, p.task_id, p.features, str(p.path)))


class TrackingBackend:
    """Delegates to a backend and remembers the sandboxes created, so Ctrl-C can destroy them."""

    def __init__(self, backend: Backend, tracker: SandboxTracker) -> None:
        self._backend, self._tracker = backend, tracker
        self.name = backend.name

    def create_sandbox(self, image: str, *, run: RunLabels, purpose: Any = "eval") -> Sandbox:
        sandbox = self._backend.create_sandbox(image, run=run, purpose=purpose)
        self._tracker.add(sandbox)
        return sandbox

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._backend, attr)


def _needs_eval(pd: PairDir, force: bool, eval_file: str) -> bool:
    if force:
        return True
    existing = read_json(pd.path / eval_file)
    # An evaluation that hit an infrastructure error is retried, like a resumed run retries the pair.
    return not isinstance(existing, dict) or existing.get("outcome") == "infra_error"


def _mark(passed: bool) -> str:
    return "[green]✓[/green]" if passed else "[red]✗[/red]"


def _line(pd: PairDir, record: dict[str, Any]) -> str:
    outcome = record.get("outcome") or "?"
    head = "[green]✓ pass[/green]" if outcome == "pass" else f"[red]✗ {outcome}[/red]"
    names = ",".join(f"f{f}" for f in pd.features)
    parts = [f"{head} {pd.repo}/{pd.task_id} [dim]{pd.setting} {names}[/dim]"]
    for index in range(1, len(pd.features) + 1):
        feat = record.get(f"feature{index}") or {}
        suffix = " [yellow](timeout)[/yellow]" if feat.get("timed_out") else ""
        parts.append(f"f{feat.get('feature_id')} {_mark(bool(feat.get('passed')))}{suffix}")
    merge = record.get("merge")
    if isinstance(merge, dict):
        desc = merge.get("status", "?")
        if merge.get("strategy") == "union":
            desc += f" → union {merge.get('union_status') or 'clean'}"
        elif (merge.get("lead_alone") or {}).get("agent"):
            desc += " → lead alone " + ("passes" if merge["lead_alone"].get("passed") else "fails")
        parts.append(f"[dim]merge[/dim] {desc}")
    category = (record.get("attribution") or {}).get("category")
    if category:
        parts.append(f"[dim]({category})[/dim]")
    if record.get("error"):
        parts.append(f"[yellow]{str(record['error'])[:200]}[/yellow]")
    return "  ".join(parts)


def evaluate(
    run_name: str,
    *,
    subset: str | None = None,
    repo: str | None = None,
    task_id: int | None = None,
    features: list[int] | None = None,
    concurrency: int = 10,
    backend: str | Backend | None = None,
    force: bool = False,
    dataset_dir: str | Path | None = None,
    logs_dir: str | Path | None = None,
    evaluator: str | Evaluator = "merge",
    timeout: float | None = None,
    console: Console | None = None,
    policy: str | None = None,
) -> dict[str, Any]:
    """Evaluate the pairs of the run ``logs/<run_name>`` and update its summary.json.

    Pairs that already have an evaluation under the chosen policy are skipped unless ``force``
    (or their evaluation ended in ``infra_error``). One line per evaluated pair is printed; then
    the ``evaluation`` part of ``summary.json`` is recomputed from every eval.json of the run.
    No agent runs: re-grading a run under another policy only merges and tests its patches.

    Args:
        run_name: the run folder under ``logs_dir``.
        subset: only pairs of this subset of the dataset (``<dataset>/subsets/<name>.json``).
        repo, task_id: only this repository / task id.
        features: only the tuple of exactly these features (as ``cooperbench run -f``).
        concurrency: pairs evaluated at the same time (threads).
        backend: backend name or instance (default: the configured default, ``local``).
        force: evaluate pairs that already have an eval.json.
        dataset_dir: the dataset (default: the one recorded in the run's config.json, else the
            configured ``dataset_dir``).
        logs_dir: where run folders are (default: the configured ``logs_dir``).
        evaluator: evaluator plugin name or instance.
        timeout: seconds per test run (default: the evaluator's).
        console: where progress and the per-pair lines go (default: stdout).
        policy: the scoring policy, ``upstream`` or ``paper`` (default: the run's own, as recorded
            in its config.json, else ``upstream``). Results under the run's own policy go to
            ``eval.json``; under another, to ``eval.<policy>.json`` beside it.

    Returns:
        The ``evaluation`` part of summary.json plus ``policy`` (the one evaluated),
        ``policy_pass_rate`` (its pass rate) and ``this_invocation`` (``{"evaluated", "skipped", "errors"}``).

    Raises:
        DatasetError: the run folder, the dataset or the subset does not exist.
        ConfigError: ``policy`` is unknown, or the evaluator takes no policy.
        UnknownPluginError: the backend or evaluator is not installed.
        KeyboardInterrupt: Ctrl-C, SIGTERM or SIGHUP (``exit_status`` is the shell's 128 + N, when
            the signal came through the handlers installed here): the sandboxes are removed, every
            eval.json written stays, and a pair cut short is left for the next ``evaluate``.
    """
    settings = defaults()
    logs_root = Path(logs_dir if logs_dir is not None else settings.logs_dir)
    run_dir = logs_root / run_name
    if not run_dir.is_dir():
        available = sorted(p.name for p in logs_root.iterdir() if p.is_dir()) if logs_root.is_dir() else []
        raise DatasetError(f"{run_dir}: no such run folder. Runs in {logs_root}: {', '.join(available) or 'none'}")
    data_root = Path(dataset_dir if dataset_dir is not None else _recorded_dataset(run_dir) or settings.dataset_dir)
    selection = load_subset(data_root, subset) if subset else None
    own_policy = run_policy(run_dir)
    the_evaluator = _evaluator(evaluator, policy, own_policy)
    chosen = getattr(the_evaluator, "policy", None)
    eval_file = eval_file_name(chosen, own_policy)
    pair_dirs = discover_pair_dirs(run_dir, repo=repo, task_id=task_id, features=features, selection=selection)
    todo = [pd for pd in pair_dirs if _needs_eval(pd, force, eval_file)]
    out = console or Console(highlight=False, soft_wrap=True)
    under = f" under the {chosen} policy ({eval_file})" if chosen else ""
    out.print(f"[bold]cooperbench eval[/bold] {run_name}: {len(pair_dirs)} pair(s), {len(todo)} to evaluate{under}")
    errors = 0
    if todo:
        from cooperbench.runner._signals import ShutdownSignals

        tasks = {(t.repo, t.task_id): t for t in load_tasks(data_root, repo=repo, task_id=task_id)}
        with ShutdownSignals(run_name):  # SIGTERM and SIGHUP stop it as Ctrl-C does
            errors = _evaluate_all(todo, tasks, the_evaluator, backend, run_name, concurrency, timeout, out, eval_file)
    part = write_evaluation_summary(run_dir)
    by_policy = part.get("by_policy") or {}
    rate = (by_policy.get(chosen) or {}).get("pass_rate") if chosen else None
    rate = rate or part["pass_rate"]
    invocation = {"evaluated": len(todo) - errors, "skipped": len(pair_dirs) - len(todo), "errors": errors}
    out.print(
        f"pass rate{f' ({chosen})' if chosen else ''} {rate['pass_rate']:.1%} ({rate['passed']}/{rate['counted']} "
        f"pairs, {rate['infra_errors']} infra error(s) counted) · evaluated {invocation['evaluated']}, "
        f"skipped {invocation['skipped']}, errors {errors}"
    )
    return {**part, "policy": chosen, "policy_pass_rate": rate, "this_invocation": invocation}


def _recorded_dataset(run_dir: Path) -> Path | None:
    """The dataset the run was made with, as its config.json records it (when that folder still exists)."""
    config = read_json(run_dir / "config.json")
    if not isinstance(config, dict):
        return None
    provenance = config.get("provenance")
    provenance = provenance if isinstance(provenance, dict) else {}
    for recorded in (provenance.get("dataset_dir"), config.get("dataset_dir")):
        if isinstance(recorded, str) and recorded and Path(recorded).is_dir():
            return Path(recorded)
    return None


def _evaluator(evaluator: str | Evaluator, policy: str | None, own_policy: str | None) -> Evaluator:
    """The evaluator to use: ``policy`` given, else the run's own, else the default (for ``merge``)."""
    if policy is not None:
        get_policy(policy)  # an unknown name fails here, with the list of policies
    if isinstance(evaluator, str):
        if policy is None and evaluator != "merge":
            return get_evaluator(evaluator)
        return get_evaluator(evaluator, policy=policy or own_policy or DEFAULT_POLICY)
    has = getattr(evaluator, "policy", None)
    if policy is not None and has != policy:
        raise ConfigError(
            f"the evaluator instance given scores under policy {has!r}, not {policy!r}; create it with that policy"
        )
    return evaluator


def _evaluate_all(
    todo: list[PairDir],
    tasks: dict[tuple[str, int], Task],
    evaluator: Evaluator,
    backend: str | Backend | None,
    run_name: str,
    concurrency: int,
    timeout: float | None,
    out: Console,
    eval_file: str,
) -> int:
    from cooperbench.backends import get_backend

    real = get_backend(backend or defaults().backend) if backend is None or isinstance(backend, str) else backend
    tracker = SandboxTracker()
    tracked: Any = TrackingBackend(real, tracker)
    labels = RunLabels(run_name=run_name)
    errors = 0

    def one(pd: PairDir) -> dict[str, Any]:
        task = tasks.get((pd.repo, pd.task_id))
        if task is None:
            raise DatasetError(f"{pd.path}: task {pd.repo}/task{pd.task_id} is not in the dataset; pass --dataset-dir")
        pair = Pair(pd.repo, pd.task_id, pd.features, task)
        return evaluate_pair_dir(
            evaluator, pair, pd.path, setting=pd.setting, backend=tracked, run=labels, timeout=timeout,
            eval_file=eval_file,
        )  # fmt: skip

    columns = (SpinnerColumn(), TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        Progress(*columns, console=out, transient=True) as progress,
        ThreadPoolExecutor(max_workers=concurrency) as pool,
    ):
        bar = progress.add_task("evaluating", total=len(todo))
        futures: dict[Future[dict[str, Any]], PairDir] = {pool.submit(one, pd): pd for pd in todo}
        try:
            for future in as_completed(futures):
                pd = futures[future]
                try:
                    progress.console.print(_line(pd, future.result()))
                except Exception as exc:  # one broken pair must not stop the others
                    errors += 1
                    progress.console.print(f"[yellow]✗ error[/yellow] {pd.key}: {type(exc).__name__}: {exc}")
                progress.advance(bar)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            tracker.cleanup()  # running test commands die with their sandboxes
            raise
    return errors
