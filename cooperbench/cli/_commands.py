"""``cooperbench run``, ``eval``, ``validate`` and ``cleanup``."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from cooperbench.cli._app import app, fail
from cooperbench.errors import CooperBenchError, RunAborted

# Options shared by the commands that select pairs.
NameOpt = Annotated[
    str | None,
    typer.Option(
        "-n",
        "--name",
        help="Run name: logs go to <log-dir>/<name>/. Generated from the experiment's options when omitted.",
    ),
]
SubsetOpt = Annotated[
    str | None, typer.Option("-s", "--subset", help="A subset of <dataset>/subsets/<name>.json, e.g. lite.")
]
RepoOpt = Annotated[str | None, typer.Option("-r", "--repo", help="Only this repository, e.g. llama_index_task.")]
TaskOpt = Annotated[int | None, typer.Option("-t", "--task", help="Only this task id.")]
FeaturesOpt = Annotated[
    str | None,
    typer.Option(
        "-f",
        "--features",
        help="Only this tuple of features, comma-separated: 1,2 is one pair, 1,2,3 a tuple of three (three agents).",
    ),
]
ConcurrencyOpt = Annotated[int, typer.Option("-c", "--concurrency", min=1, help="Pairs processed at the same time.")]
BackendOpt = Annotated[
    str | None, typer.Option("--backend", help="Sandbox backend: local (default), docker, modal, gcp, ...")
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Redo pairs that already have results.")]
DatasetOpt = Annotated[Path | None, typer.Option("--dataset-dir", help="The dataset folder (default: ./dataset).")]
LogDirOpt = Annotated[Path | None, typer.Option("--log-dir", help="Where run folders are written (default: ./logs).")]
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy",
        help="Scoring policy: upstream (CooperBench 0.0.16+, the default) or paper (0.0.14); see docs/outcomes.md.",
    ),
]


def describe_environment(provenance: dict[str, object]) -> str:
    """One line on what a task's environment was built from (Python asked for and used, toolchains)."""
    parts = []
    python = provenance.get("python")
    if isinstance(python, dict):
        asked = python.get("requested")
        used = f"Python {python.get('used')}"
        if python.get("chosen") == "nearest":
            used += f" (the Dockerfile asks for {asked}, which this host lacks: the nearest was used)"
        elif asked:
            used += f" (the Dockerfile asks for {asked})"
        parts.append(used)
    tools = provenance.get("toolchains")
    if isinstance(tools, dict):
        for name, info in tools.items():
            parts.append(f"{name} {info.get('version', '')}".strip() if isinstance(info, dict) else str(name))
    return ", ".join(parts) or "no interpreter or toolchain"


def parse_features(raw: str | None) -> list[int] | None:
    if raw is None:
        return None
    try:
        return [int(x) for x in raw.replace(" ", "").split(",") if x]
    except ValueError:
        raise fail(f"--features must be comma-separated feature ids such as 1,2; got {raw!r}") from None


@app.command("run")
def run_command(
    name: NameOpt = None,
    subset: SubsetOpt = None,
    repo: RepoOpt = None,
    task: TaskOpt = None,
    features: FeaturesOpt = None,
    model: Annotated[str | None, typer.Option("-m", "--model", help="LLM model name (LiteLLM style).")] = None,
    agent: Annotated[
        str | None, typer.Option("-a", "--agent", help="Agent to run (see `cooperbench plugins --kind agent`).")
    ] = None,
    concurrency: ConcurrencyOpt = 20,
    setting: Annotated[
        str,
        typer.Option(
            "--setting",
            help="coop (one agent per feature), solo (one agent, every feature) or team (coop with agent1 as lead, "
            "a task list, a shared scratchpad and typed requests; docs/team.md).",
        ),
    ] = "coop",
    backend: BackendOpt = None,
    redis: Annotated[
        str | None, typer.Option("--redis", help="Redis URL for messaging; an embedded bus is used when none answers.")
    ] = None,
    git: Annotated[bool, typer.Option("--git", help="Give agents a shared git remote named `team`.")] = False,
    no_messaging: Annotated[bool, typer.Option("--no-messaging", help="Disable agent-to-agent messaging.")] = False,
    messaging_faults: Annotated[
        str | None,
        typer.Option(
            "--messaging-faults",
            help="Inject message faults, e.g. drop=0.2,delay=3,duplicate=0.05,seed=7 (delay in receiver steps).",
        ),
    ] = None,
    no_auto_eval: Annotated[bool, typer.Option("--no-auto-eval", help="Do not evaluate pairs after they run.")] = False,
    eval_concurrency: Annotated[
        int, typer.Option("--eval-concurrency", min=1, help="Evaluations at the same time.")
    ] = 10,
    force: ForceOpt = False,
    agent_config: Annotated[
        Path | None, typer.Option("--agent-config", help="YAML with backend, agent and model sections.")
    ] = None,
    dataset_dir: DatasetOpt = None,
    log_dir: LogDirOpt = None,
    agent_timeout: Annotated[
        float | None, typer.Option("--agent-timeout", help="Wall-time limit per agent, in seconds.")
    ] = None,
    attempts: Annotated[
        int, typer.Option("--attempts", min=1, help="Tries per pair within this run for infrastructure errors.")
    ] = 1,
    repeats: Annotated[
        int,
        typer.Option(
            "--repeats",
            min=1,
            help="Run each pair K times, into <pair>/repeat-1/ ... repeat-K/ (for pass@k, variance).",
        ),
    ] = 1,
    policy: PolicyOpt = None,
    team_no_task_list: Annotated[
        bool, typer.Option("--team-no-task-list", help="Team setting without its shared task list.")
    ] = False,
    team_no_scratchpad: Annotated[
        bool, typer.Option("--team-no-scratchpad", help="Team setting without the shared /workspace/shared folder.")
    ] = False,
    team_no_protocol: Annotated[
        bool, typer.Option("--team-no-protocol", help="Team setting without typed requests and responses.")
    ] = False,
    team_no_auto_refresh: Annotated[
        bool,
        typer.Option(
            "--team-no-auto-refresh", help="Team setting: agents are not shown the task list before each step."
        ),
    ] = False,
) -> None:
    """Run agents on pairs of features (coop, solo or team), then evaluate them.

    Running the same command again resumes: pairs with a result are kept, pairs without one
    (an infrastructure error, of the agents or of the evaluation) are run again. A run name has
    one writer: a second run on a name being run refuses, and resuming with another agent,
    model, setting, dataset or agent config is refused (--force reruns every selected pair).

    Exit status: 0 every selected pair has a result (a pass or an agent's failure); 1 some
    pair was left without a result (an infrastructure, dataset or harness error after its
    attempts: run again to retry it); 2 the request is invalid or cannot work (nothing ran); 130, 143
    or 129 stopped by Ctrl-C, SIGTERM or SIGHUP (sandboxes removed, results kept).
    """
    from cooperbench.runner import run

    if setting not in ("coop", "solo", "team"):
        raise fail(f"--setting must be coop, solo or team, got {setting!r}")
    team_off = {
        "task_list": team_no_task_list,
        "scratchpad": team_no_scratchpad,
        "protocol": team_no_protocol,
        "auto_refresh": team_no_auto_refresh,
    }
    try:
        summary = run(
            run_name=name,
            subset=subset,
            repo=repo,
            task_id=task,
            features=parse_features(features),
            model_name=model,
            agent=agent,
            concurrency=concurrency,
            force=force,
            redis_url=redis,
            setting=setting,
            git_enabled=git,
            messaging_enabled=not no_messaging,
            messaging_faults=messaging_faults,
            auto_eval=not no_auto_eval,
            eval_concurrency=eval_concurrency,
            backend=backend,
            agent_config=str(agent_config) if agent_config else None,
            dataset_dir=dataset_dir,
            logs_dir=log_dir,
            agent_timeout=agent_timeout,
            attempts=attempts,
            repeats=repeats,
            policy=policy,
            team_features={k: not off for k, off in team_off.items()} if any(team_off.values()) else None,
            _return_summary=True,
        )
    except RunAborted as exc:  # stopped part-way (a full disk): some pairs are left without a result
        raise fail(str(exc), 1) from exc
    except CooperBenchError as exc:
        raise fail(str(exc)) from exc
    except KeyboardInterrupt as exc:  # before any pair started
        raise typer.Exit(getattr(exc, "exit_status", 130)) from None
    raise typer.Exit(run_exit_status(summary))


def run_exit_status(summary: dict[str, object] | None) -> int:
    """0: every selected pair has a result; 1: some pair has none (run again to retry); 128+N: stopped by signal N."""
    import signal

    if summary is None:
        return 0
    if summary.get("interrupted"):
        name = summary.get("interrupted_by")
        return 128 + (signal.Signals[name].value if isinstance(name, str) else signal.SIGINT.value)
    return 1 if summary.get("incomplete") else 0


@app.command("eval")
def eval_command(
    name: Annotated[str, typer.Option("-n", "--name", help="The run to evaluate (a folder under --log-dir).")],
    subset: SubsetOpt = None,
    repo: RepoOpt = None,
    task: TaskOpt = None,
    features: FeaturesOpt = None,
    concurrency: ConcurrencyOpt = 10,
    backend: BackendOpt = None,
    force: ForceOpt = False,
    dataset_dir: Annotated[
        Path | None,
        typer.Option("--dataset-dir", help="The dataset folder (default: the run's, from its config.json)."),
    ] = None,
    log_dir: LogDirOpt = None,
    evaluator: Annotated[str, typer.Option("--evaluator", help="Evaluator plugin to use.")] = "merge",
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="Scoring policy: upstream or paper (default: the run's own). Results under another policy "
            "than the run's go to eval.<policy>.json, beside eval.json.",
        ),
    ] = None,
) -> None:
    """Evaluate the patches of a run: merge them and run each feature's tests (no agent runs).

    Re-grading a finished run under another scoring policy (`--policy paper`) writes
    eval.<policy>.json beside each pair's eval.json and adds that policy's pass rate to summary.json.
    Ctrl-C, SIGTERM or SIGHUP stop it (exit 130, 143, 129): its sandboxes are removed, what was
    evaluated is kept, and the same command evaluates the rest.
    """
    from cooperbench.evaluation import evaluate

    try:
        evaluate(
            run_name=name,
            subset=subset,
            repo=repo,
            task_id=task,
            features=parse_features(features),
            concurrency=concurrency,
            backend=backend,
            force=force,
            dataset_dir=dataset_dir,
            logs_dir=log_dir,
            evaluator=evaluator,
            policy=policy,
        )
    except CooperBenchError as exc:
        raise fail(str(exc)) from exc
    except KeyboardInterrupt as exc:
        typer.echo(
            f"Evaluation of {name} interrupted: its sandboxes are removed and the pairs evaluated so far are kept; "
            "the same command evaluates the rest.",
            err=True,
        )
        raise typer.Exit(getattr(exc, "exit_status", 130)) from None


@app.command("cleanup")
def cleanup_command(
    run: Annotated[str | None, typer.Option("--run", help="Only resources of this run name.")] = None,
    backend: Annotated[
        str | None, typer.Option("--backend", help="Only this backend (default: every installed one).")
    ] = None,
    include_live: Annotated[
        bool, typer.Option("--include-live", help="Also remove resources of runs whose process is still alive.")
    ] = False,
    redis: Annotated[
        str | None,
        typer.Option(
            "--redis", help="Also remove runs' messages and credentials on this Redis (default: --redis of run)."
        ),
    ] = None,
) -> None:
    """Remove sandboxes, containers, networks, workspaces and Redis messages that crashed or killed runs left behind.

    Resources of runs whose process is still alive are kept unless --include-live is given.
    """
    from cooperbench.backends import get_backend, list_backends

    total = 0
    if backend is None or redis is not None:
        total += _cleanup_redis(redis, run, stale_only=not include_live)
    names = [backend] if backend else list_backends()
    for bname in names:
        try:
            removed = get_backend(bname).cleanup(run_name=run, stale_only=not include_live)
        except CooperBenchError as exc:
            if backend:
                raise fail(str(exc)) from exc
            typer.echo(f"{bname}: skipped ({exc})", err=True)
            continue
        for item in removed:
            typer.echo(f"{bname}: removed {item}")
        total += len(removed)
    typer.echo(f"Removed {total} resource(s).")


def _cleanup_redis(url: str | None, run: str | None, *, stale_only: bool) -> int:
    from cooperbench.messaging import cleanup_messaging, redis_available
    from cooperbench.messaging._url import redact
    from cooperbench.settings import defaults

    target = url or defaults().redis_url
    if not redis_available(target):
        if url is not None:
            raise fail(f"no Redis answers at {redact(target)}")
        return 0
    try:
        removed = cleanup_messaging(target, run_name=run, stale_only=stale_only)
    except CooperBenchError as exc:
        if url is not None:
            raise fail(str(exc)) from exc
        typer.echo(f"redis: skipped ({exc})", err=True)
        return 0
    for item in removed:
        typer.echo(f"redis: removed {item}")
    return len(removed)


@app.command("validate")
def validate_command(
    subset: SubsetOpt = None,
    repo: RepoOpt = None,
    task: TaskOpt = None,
    features: FeaturesOpt = None,
    backend: BackendOpt = None,
    concurrency: ConcurrencyOpt = 2,
    dataset_dir: DatasetOpt = None,
    log_dir: Annotated[
        Path | None,
        typer.Option(
            "--log-dir", help="Keep the oracle run and gradeability.json here; validating again with it resumes."
        ),
    ] = None,
    agent_config: Annotated[
        Path | None, typer.Option("--agent-config", help="YAML whose `backend` section configures the backend.")
    ] = None,
    policy: PolicyOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Redo pairs and features already checked in --log-dir.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of tables.")] = False,
) -> None:
    """Check a dataset and a backend with the gold patches (the oracle agent), before paying for agents.

    Prints, per pair, whether the gold patches merge cleanly and each feature passes; per feature
    whether it is gradeable: its tests pass with its gold patch and fail without it, having run.
    Exits 1 when a cleanly merging gold pair fails its tests, a gold patch does not apply, or a
    feature is not gradeable (gold fails, tests pass without the feature, or tests did not run);
    130, 143 or 129 when Ctrl-C, SIGTERM or SIGHUP stopped it (its sandboxes removed, no verdict).
    """
    import json

    from rich.console import Console
    from rich.table import Table

    from cooperbench.settings import defaults
    from cooperbench.validation import VERDICTS, validate

    settings = defaults()
    # With --json, stdout holds the report alone: the oracle run's progress goes to stderr.
    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    try:
        with quiet:
            report = validate(
                dataset_dir=dataset_dir or settings.dataset_dir,
                subset=subset,
                repo=repo,
                task_id=task,
                features=parse_features(features),
                backend=backend or settings.backend,
                concurrency=concurrency,
                logs_dir=log_dir,
                agent_config=str(agent_config) if agent_config else None,
                policy=policy,
                force=force,
            )
    except CooperBenchError as exc:
        raise fail(str(exc)) from exc
    except KeyboardInterrupt as exc:
        kept = f"what finished is kept in {log_dir}: the same command resumes" if log_dir else "nothing is kept"
        typer.echo(f"Validation interrupted: no verdict on the dataset or the backend ({kept}).", err=True)
        raise typer.Exit(getattr(exc, "exit_status", 130)) from None

    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        raise typer.Exit(0 if report.ok else 1)

    def mark(value: object) -> str:
        return {True: "✓", False: "✗"}.get(value, "-")  # type: ignore[call-overload]

    def counts(run: dict[str, object] | None) -> str:
        return "-" if not run else f"{run['tests_passed']} passed, {run['tests_failed']} failed"

    # Tables written to a pipe or file must not be cut to an 80-column default.
    console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    pairs = Table("pair", "gold merge", "strategy", "features", "outcome", title=f"Gold pairs ({report.policy} policy)")
    for row in report.pairs:
        marks = " ".join(f"f{f} {mark(ok)}" for f, ok in zip(row["features"], row["passed"], strict=True))
        pairs.add_row(row["pair"], row["merge"], row["strategy"], marks, str(row["outcome"]))
    console.print(pairs)
    feats = Table("task", "feature", "gradeability", "with its gold patch", "without it", title="Features")
    for row in report.features:
        feats.add_row(row["task"], str(row["feature"]), row["verdict"], counts(row["gold"]), counts(row["base"]))
    console.print(feats)
    for task_key, provenance in sorted(report.environments.items()):
        console.print(f"{task_key}: {describe_environment(provenance)}")
    tally = report.counts()
    console.print("Features: " + ", ".join(f"{v} {tally[v]}" for v in VERDICTS if tally[v]))
    if report.run_dir is not None:
        console.print(f"Kept in {report.run_dir} (gradeability.json: the per-feature report)")
    if report.problems:
        console.print(f"[red]{len(report.problems)} problem(s):[/red]")
        for problem in report.problems:
            console.print(f"  ✗ {problem}")
        raise typer.Exit(1)
    console.print(f"[green]OK[/green]: {len(report.pairs)} pair(s) and {len(report.features)} feature(s) validated.")
