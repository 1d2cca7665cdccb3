"""``run()``: select pairs, run them concurrently, evaluate, summarize, resume."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import platform
import queue
import signal
import socket
import sys
import threading
import time
import unicodedata
import warnings
from pathlib import Path
from typing import Any

from cooperbench.backends import RunLabels, get_backend
from cooperbench.backends.base import ListsResources
from cooperbench.dataset import Pair, discover_pairs
from cooperbench.errors import ConfigError, CooperBenchError, InfraError, RunAborted
from cooperbench.evaluation.policy import get_policy
from cooperbench.io import read_json, write_json_atomic
from cooperbench.messaging import MessageFaults, parse_faults
from cooperbench.messaging._url import redact as redact_url
from cooperbench.plugins import get_host
from cooperbench.runner._evals import EvalPool
from cooperbench.runner._lock import RunLock, describe_holder
from cooperbench.runner._options import RunOptions, generate_run_name, load_agent_config
from cooperbench.runner._pair import (
    UNWRITABLE,
    PairInterrupted,
    RunContext,
    record_dataset_error,
    record_infra_error,
    run_pair,
)
from cooperbench.runner._paths import pair_dir, repeat_numbers, run_dir
from cooperbench.runner._progress import Reporter
from cooperbench.runner._signals import ShutdownSignals
from cooperbench.settings import defaults
from cooperbench.summary import is_done, iter_pair_dirs, pair_outcome, summarize
from cooperbench.team import TeamFeatures


def run(
    run_name: str | None = None,
    subset: str | None = None,
    repo: str | None = None,
    task_id: int | None = None,
    features: list[int] | None = None,
    model_name: str | None = None,
    agent: str | None = None,
    concurrency: int = 20,
    force: bool = False,
    redis_url: str | None = None,
    setting: str = "coop",
    git_enabled: bool = False,
    messaging_enabled: bool = True,
    auto_eval: bool = True,
    eval_concurrency: int = 10,
    backend: str | None = None,
    agent_config: str | None = None,
    *,
    dataset_dir: str | Path | None = None,
    logs_dir: str | Path | None = None,
    config: dict[str, Any] | None = None,
    agent_timeout: float | None = None,
    attempts: int = 1,
    repeats: int = 1,
    messaging_faults: str | MessageFaults | None = None,
    policy: str | None = None,
    team_features: TeamFeatures | dict[str, bool] | None = None,
    _return_summary: bool = False,
) -> dict[str, Any] | None:
    """Run an agent on pairs of features and write ``logs/<run_name>/``.

    Args:
        run_name: the experiment's folder name; generated from the options when ``None``.
        subset: a subset name under ``<dataset>/subsets`` (e.g. ``"lite"``).
        repo: only this repository (e.g. ``"llama_index_task"``).
        task_id: only this task id (``0`` is valid).
        features: only this tuple of features (``[1, 2]`` is one pair, ``[1, 2, 3]`` three agents in coop).
        model_name: the LLM (default from settings: ``vertex_ai/gemini-3-flash-preview``).
        agent: a registered agent (default ``mini_swe_agent``).
        concurrency: pairs run at the same time.
        force: rerun pairs that already have a result.
        redis_url: where messaging looks for Redis; an in-process bus is used when none answers.
        setting: ``"coop"`` (one agent per feature), ``"solo"`` (one agent, every feature) or ``"team"``
            (coop with agent1 as lead, a task list, a shared scratchpad and typed requests; docs/team.md).
        git_enabled: give coop agents a shared git remote ``team``.
        messaging_enabled: let coop agents message each other.
        auto_eval: evaluate each pair after it runs.
        eval_concurrency: evaluations at the same time.
        backend: a registered sandbox backend (default ``local``).
        agent_config: a YAML file with ``backend``, ``agent``, ``model``, ``environment`` sections.
        dataset_dir: the dataset folder (default ``./dataset``).
        logs_dir: where run folders go (default ``./logs``).
        config: a configuration dict merged over ``agent_config``.
        agent_timeout: wall-time limit per agent in seconds; a stuck agent ends as ``timeout``.
        attempts: tries per pair within this run when it ends in ``infra_error``.
        messaging_faults: message faults the bus injects, ``"drop=0.2,delay=3,duplicate=0.05,seed=7"``
            (see docs/messaging.md); coop with messaging only.
        repeats: run each selected pair this many times, into ``<pair>/repeat-1/ ... repeat-<K>/``
            (1: the plain layout). A resumed run runs only the repeats without a result.
        policy: the scoring policy of the evaluation, ``upstream`` (default) or ``paper``
            (see docs/outcomes.md); recorded in config.json.
        team_features: with ``setting="team"``, which pieces of the team setting are on:
            ``{"task_list", "scratchpad", "protocol", "auto_refresh"}`` (all by default; see docs/team.md).

    Returns:
        ``None`` (the summary is in ``logs/<run_name>/summary.json``).

    Raises:
        CooperBenchError: invalid options, an unknown agent or backend, a malformed dataset
            or config; raised before any sandbox starts.
    """
    opts = _resolve_options(**{k: v for k, v in locals().items() if k != "_return_summary"})
    summary = _execute(opts)
    return summary if _return_summary else None


def _resolve_options(**kw: Any) -> RunOptions:
    d = defaults()
    setting = kw["setting"]
    if setting not in ("coop", "solo", "team"):
        raise ConfigError(f"setting must be 'coop', 'solo' or 'team', got {setting!r}")
    team = _team_features(setting, kw["team_features"], kw["messaging_enabled"])
    _check_types(kw)
    if kw["concurrency"] < 1 or kw["eval_concurrency"] < 1 or kw["attempts"] < 1 or kw["repeats"] < 1:
        raise ConfigError("concurrency, eval_concurrency, attempts and repeats must be at least 1")
    config = load_agent_config(kw["agent_config"], kw["config"])
    faults = kw["messaging_faults"]
    if not isinstance(faults, MessageFaults):
        faults = parse_faults(faults)
    if faults is not None and (setting == "solo" or not kw["messaging_enabled"]):
        raise ConfigError(
            "--messaging-faults needs messaging between agents: the coop or team setting, without --no-messaging"
        )
    policy = get_policy(kw["policy"]).name  # an unknown name fails before anything starts
    agent = kw["agent"] or d.agent
    model_name = kw["model_name"] or d.model
    backend = kw["backend"] or (config.get("backend") or {}).get("name") or d.backend
    name = kw["run_name"] or generate_run_name(
        setting=setting,
        agent=agent,
        model_name=model_name,
        subset=kw["subset"],
        repo=kw["repo"],
        task_id=kw["task_id"],
        features=kw["features"],
        git_enabled=kw["git_enabled"],
        messaging_enabled=kw["messaging_enabled"],
        config=config,
        messaging_faults=faults,
        policy=policy,
        team=team,
    )
    _check_run_name(name)
    timeout = kw["agent_timeout"]
    if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
        raise ConfigError(f"--agent-timeout must be a number of seconds above 0, got {timeout!r}")
    return RunOptions(
        run_name=name,
        setting=setting,
        agent=agent,
        model_name=model_name,
        backend=backend,
        dataset_dir=Path(kw["dataset_dir"] or d.dataset_dir).expanduser(),
        logs_dir=Path(kw["logs_dir"] or d.logs_dir).expanduser(),
        subset=kw["subset"],
        repo=kw["repo"],
        task_id=kw["task_id"],
        features=kw["features"],
        concurrency=kw["concurrency"],
        force=kw["force"],
        redis_url=kw["redis_url"] or d.redis_url,
        git_enabled=kw["git_enabled"],
        messaging_enabled=kw["messaging_enabled"],
        auto_eval=kw["auto_eval"],
        eval_concurrency=kw["eval_concurrency"],
        agent_config_path=kw["agent_config"],
        config=config,
        agent_timeout=kw["agent_timeout"],
        attempts=kw["attempts"],
        repeats=kw["repeats"],
        messaging_faults=faults,
        image_prefix=d.image_prefix,
        policy=policy,
        team=team,
    )


def _team_features(setting: str, given: Any, messaging_enabled: bool) -> TeamFeatures | None:
    if setting != "team":
        if given is not None and TeamFeatures(**_as_flags(given)).disabled():
            raise ConfigError("the --team-no-* options need the team setting (--setting team)")
        return None
    if not messaging_enabled:
        raise ConfigError(
            "the team setting needs messaging (its task list and requests go through each agent's endpoint): "
            "drop --no-messaging, or use --setting coop"
        )
    return TeamFeatures(**_as_flags(given)) if given is not None else TeamFeatures()


def _as_flags(given: Any) -> dict[str, bool]:
    if isinstance(given, TeamFeatures):
        return given.as_dict()
    if not isinstance(given, dict):
        raise ConfigError(f"team_features must be a TeamFeatures or a dict, got {type(given).__name__}")
    unknown = sorted(set(given) - set(TeamFeatures().as_dict()))
    if unknown:
        raise ConfigError(
            f"unknown team feature(s) {', '.join(unknown)}; expected {', '.join(TeamFeatures().as_dict())}"
        )
    return {k: bool(v) for k, v in given.items()}


MAX_RUN_NAME = 200  # a folder name, a label and part of sandbox names on every backend

_INTS = ("concurrency", "eval_concurrency", "attempts", "repeats", "task_id")
_STRINGS = ("run_name", "subset", "repo", "model_name", "agent", "redis_url", "backend", "agent_config", "policy")
_BOOLS = ("force", "git_enabled", "messaging_enabled", "auto_eval")


def _check_types(kw: dict[str, Any]) -> None:
    """An option of the wrong type is a clear error, not a TypeError from deep inside the run."""

    def wrong(key: str, expected: str) -> ConfigError:
        return ConfigError(f"option {key} must be {expected}, got {type(kw[key]).__name__} {kw[key]!r}")

    for key in _INTS:
        if kw[key] is not None and (isinstance(kw[key], bool) or not isinstance(kw[key], int)):
            raise wrong(key, "an integer")
    for key in _STRINGS:
        if kw[key] is not None and not isinstance(kw[key], str):
            raise wrong(key, "a string")
    for key in _BOOLS:
        if not isinstance(kw[key], bool):
            raise wrong(key, "true or false")
    timeout = kw["agent_timeout"]
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise wrong("agent_timeout", "a number of seconds")
    feats = kw["features"]
    if feats is not None and (
        not isinstance(feats, (list, tuple)) or not all(isinstance(f, int) and not isinstance(f, bool) for f in feats)
    ):
        raise wrong("features", "a list of feature ids (integers)")


def _check_run_name(name: str) -> None:
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise ConfigError(f"invalid run name {name!r}: it must be a plain folder name")
    if len(name) > MAX_RUN_NAME:
        raise ConfigError(f"run name is {len(name)} characters long: at most {MAX_RUN_NAME} ({name[:40]!r}...)")
    bad = sorted({c for c in name if c.isspace() or unicodedata.category(c).startswith("C")})
    if bad:
        raise ConfigError(
            f"invalid run name {name!r}: it holds whitespace or control characters ({', '.join(map(repr, bad))}); "
            "use letters, digits, '.', '_' and '-'"
        )


def _choose_connector(opts: RunOptions, runner_cls: Any) -> str | None:
    """Redis when it answers at ``redis_url``; else the embedded bus when every agent runs in this process."""
    if opts.setting == "solo" or not opts.messaging_enabled:
        return None
    from cooperbench.messaging import redis_available

    if redis_available(opts.redis_url):
        return opts.redis_url
    if getattr(runner_cls, "out_of_process", False):
        raise InfraError(
            f"Redis does not answer at {redact_url(opts.redis_url)}, and agent {opts.agent!r} runs outside the "
            "harness process, so it needs Redis for messaging: start redis-server or pass --redis URL "
            "(or use --no-messaging)"
        )
    return "embedded://"


def _image_details(backend: Any, images: dict[str, str]) -> dict[str, Any]:
    """What each image used was (id, registry digest, ...), from the backend's optional ``image_provenance``."""
    describe = getattr(backend, "image_provenance", None)
    if not callable(describe):
        return {}
    details: dict[str, Any] = {}
    for name, ref in sorted(images.items()):
        try:
            details[name] = describe(ref)
        except CooperBenchError as exc:
            details[name] = {"error": str(exc)}
    return details


def _provenance(
    opts: RunOptions, pairs: list[Pair], images: dict[str, str], image_details: dict[str, Any] | None = None
) -> dict[str, Any]:
    import hashlib

    from cooperbench import __version__

    digest = hashlib.sha256()
    for task in sorted({p.task for p in pairs}, key=lambda t: t.key):
        digest.update(f"{task.key}:{task.content_hash}\n".encode())
    plugins = {}
    for reg in get_host().registrations():
        if reg.distribution and reg.error is None:
            plugins[reg.distribution] = reg.version
    return {
        "cooperbench_version": __version__,
        "plugin_versions": plugins,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "dataset_dir": str(opts.dataset_dir.resolve()),
        "dataset_hash": digest.hexdigest()[:16],
        "task_hashes": {t.key: t.content_hash for t in sorted({p.task for p in pairs}, key=lambda t: t.key)},
        "images": images,
        "image_details": image_details or {},
        "model": opts.model_name,
        "sampling": {
            k: v for k, v in (opts.config.get("model") or {}).items() if k in ("temperature", "top_p", "max_tokens")
        }
        | {k: v for k, v in (opts.config.get("agent") or {}).items() if k == "temperature"},
    }


def _write_config(
    opts: RunOptions,
    labels: RunLabels,
    pairs: list[Pair],
    images: dict[str, str],
    backend: Any = None,
    image_details: dict[str, Any] | None = None,
    transport: str | None = None,
) -> None:
    path = run_dir(opts.logs_dir, opts.run_name) / "config.json"
    previous = read_json(path)
    transport = transport or (previous.get("messaging_transport") if isinstance(previous, dict) else None)
    invocations = list(previous.get("invocations", [])) if isinstance(previous, dict) else []
    if not invocations or invocations[-1].get("run_id") != labels.run_id:  # written again at the end of a run
        invocations.append(
            {"run_id": labels.run_id, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "pid": os.getpid()}
        )
    write_json_atomic(
        path,
        {
            **opts.describe(),
            "messaging_transport": transport,
            "pairs": len(pairs),
            "provenance": {**_provenance(opts, pairs, images, image_details), **_backend_settings(backend)},
            "invocations": invocations,
        },
    )


def _backend_settings(backend: Any) -> dict[str, Any]:
    """The isolation and limits the backend applies, as it reports them (``describe()``, optional)."""
    describe = getattr(backend, "describe", None)
    return {"backend_settings": describe()} if callable(describe) else {}


def _execute(opts: RunOptions) -> dict[str, Any]:
    with ShutdownSignals(opts.run_name) as signals:
        return _execute_with(opts, signals)


def _execute_with(opts: RunOptions, signals: ShutdownSignals) -> dict[str, Any]:
    # Everything that can be wrong with the request fails here, before any sandbox starts.
    host = get_host()
    runner_cls = host.get("agent", opts.agent).load()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs = discover_pairs(
            opts.dataset_dir, subset=opts.subset, repo=opts.repo, task_id=opts.task_id, features=opts.features
        )
    backend_options = {k: v for k, v in (opts.config.get("backend") or {}).items() if k != "name"}
    try:
        backend = get_backend(opts.backend, **backend_options)
    except ConfigError as exc:
        if opts.agent_config_path:  # the options come from that file's `backend:` section
            raise ConfigError(f"{opts.agent_config_path}: {exc}") from exc
        raise
    backend_check = getattr(backend, "preflight", None)
    if callable(backend_check):  # a backend that cannot work here fails now, not once per pair
        try:
            backend_check()
        except CooperBenchError as exc:
            raise ConfigError(f"backend {opts.backend!r} cannot work here: {exc}") from exc
    if isinstance(backend, ListsResources):  # what a second signal says `cooperbench cleanup` would remove
        signals.leftovers = functools.partial(backend.resources, opts.run_name)
    preflight = getattr(runner_cls, "preflight", None)
    if callable(preflight):  # the agent's own checks (API key, model), before any sandbox starts
        import inspect

        extra = (
            {"agent_config": opts.agent_config_path}
            if "agent_config" in inspect.signature(preflight).parameters
            else {}
        )
        preflight(opts.model_name, opts.config, **extra)
    if opts.auto_eval:
        from cooperbench.evaluation import get_evaluator

        evaluator = get_evaluator("merge", policy=opts.policy)
    else:
        evaluator = None
    reporter = Reporter()
    for w in caught:
        reporter.warn(str(w.message))
    if not pairs:
        raise ConfigError(
            f"no pairs selected in {opts.dataset_dir} (subset={opts.subset}, repo={opts.repo}, task={opts.task_id})"
        )

    rdir = run_dir(opts.logs_dir, opts.run_name)
    lock = _take_run_lock(rdir, reporter)
    try:
        return _run_locked(opts, signals, reporter, runner_cls, backend, evaluator, pairs, rdir)
    finally:
        lock.release()


def _take_run_lock(rdir: Path, reporter: Reporter) -> RunLock:
    """One writer per run folder (a second process on the run name refuses, naming the first)."""
    try:
        lock = RunLock(rdir).acquire()
    except PermissionError as exc:
        raise ConfigError(f"cannot write the run folder {rdir}: {exc.strerror} (check --log-dir)") from exc
    except OSError as exc:
        raise ConfigError(f"cannot write the run folder {rdir}: {exc.strerror or exc} (check --log-dir)") from exc
    if lock.took_over:
        holder = describe_holder(lock.took_over)
        reporter.warn(f"took over the lock of run {rdir.name!r} left by {holder}, which is gone")
    return lock


# What makes two invocations one experiment: resuming with any of these changed would mix two in one folder.
_SAME_EXPERIMENT = ("agent", "model", "setting", "git_enabled", "messaging_enabled", "config")


def _check_same_experiment(opts: RunOptions, pairs: list[Pair], rdir: Path, reporter: Reporter) -> None:
    """Refuse to resume a run whose results were made with another agent, model, setting, dataset or agent config."""
    previous = read_json(rdir / "config.json")
    if opts.force or not isinstance(previous, dict) or not iter_pair_dirs(rdir):
        return
    now = json.loads(json.dumps(opts.describe(), default=str))  # as config.json holds it (tuples as lists, ...)
    differences = [
        f"{key}: {previous.get(key)!r} in the run, {now[key]!r} now"
        for key in _SAME_EXPERIMENT
        if key in previous and previous.get(key) != now[key]
    ]
    before = previous.get("provenance") or {}
    dataset = str(opts.dataset_dir.resolve())
    if before.get("dataset_dir") and before["dataset_dir"] != dataset:
        differences.append(f"dataset: {before['dataset_dir']} in the run, {dataset} now")
    hashes = before.get("task_hashes") or {}
    changed = sorted({p.task.key for p in pairs if p.task.key in hashes and hashes[p.task.key] != p.task.content_hash})
    if changed:  # a task fixed in place (a dataset error) is a resume, not another experiment: said, not refused
        reporter.warn(
            f"task(s) {', '.join(changed)} changed since run {opts.run_name!r} was made: their pairs that have a "
            "result keep it (--force reruns them)"
        )
    if differences:
        raise ConfigError(
            f"run {opts.run_name!r} in {rdir} was made with other options; resuming it would mix two experiments "
            "in one folder:\n  " + "\n  ".join(differences) + "\nResume with the run's options, use another "
            "--name for a new experiment, or pass --force to rerun every selected pair with these options"
        )


def _run_locked(
    opts: RunOptions,
    signals: ShutdownSignals,
    reporter: Reporter,
    runner_cls: Any,
    backend: Any,
    evaluator: Any,
    pairs: list[Pair],
    rdir: Path,
) -> dict[str, Any]:
    _check_same_experiment(opts, pairs, rdir, reporter)
    _check_repeats_layout(opts, pairs)
    units = [(p, r) for p in pairs for r in repeat_numbers(opts.repeats)]
    todo = [
        (p, r)
        for p, r in units
        if opts.force or not is_done(pair_dir(opts.logs_dir, opts.run_name, opts.setting, p, r))
    ]
    skipped = len(units) - len(todo)
    broken = [(p, r) for p, r in todo if p.problems]  # recorded as dataset_error, never started
    todo = [(p, r) for p, r in todo if not p.problems]
    labels = RunLabels(opts.run_name)
    connector_url = _choose_connector(opts, runner_cls) if todo else None

    try:
        backend.cleanup(run_name=opts.run_name, stale_only=True)
    except CooperBenchError as exc:
        reporter.warn(f"could not sweep stale resources of run {opts.run_name!r}: {exc}")
    messaging = None
    if connector_url is not None:  # per-agent credentials and cleanup bookkeeping, before any sandbox starts
        from cooperbench.messaging import RunMessaging

        messaging = RunMessaging(connector_url, opts.run_name, labels.run_id, faults=opts.messaging_faults).open()
        for warning in messaging.warnings:
            reporter.warn(warning)
    ctx = RunContext(
        options=opts,
        labels=labels,
        backend=backend,
        runner_cls=runner_cls,
        images={},
        connector_url=connector_url,
        messaging=messaging,
    )
    previous = read_json(rdir / "config.json")
    transport = connector_url.split("://")[0] if connector_url else None
    if transport is None and todo == [] and opts.setting != "solo" and opts.messaging_enabled:
        # Nothing runs now: the header states the messaging the run's pairs had, not "off".
        transport = (previous or {}).get("messaging_transport") if isinstance(previous, dict) else None
        transport = transport or "on"
    _write_config(opts, labels, pairs, ctx.images, backend, transport=transport)
    reporter.start(opts, total=len(units), skipped=skipped, run_path=rdir, connector=transport and f"{transport}://")

    evaluations = EvalPool(opts, backend, labels, evaluator, reporter, abort=ctx.abort) if opts.auto_eval else None
    if evaluations is not None:
        for p, r in units:
            pdir = pair_dir(opts.logs_dir, opts.run_name, opts.setting, p, r)
            # A previous run stopped between the agents and the evaluation, or its evaluation hit an
            # infrastructure error (the agents' work is kept: only the evaluation runs again).
            if (p, r) not in todo and pair_outcome(pdir) in ("pending_eval", "infra_error", "dataset_error"):
                evaluations.submit(p, pdir)

    for pair, repeat in broken:
        reporter.pair_finished(pair, record_dataset_error(ctx, pair, repeat=repeat), "dataset_error")

    interrupted: str | None = None  # the signal's name
    started = time.monotonic()
    try:
        _run_pairs(ctx, todo, reporter, evaluations)
        if evaluations is not None:
            if ctx.fatal is None:
                evaluations.join()
            else:
                evaluations.stop()
    except KeyboardInterrupt as exc:
        interrupted = signal.Signals(signals.interrupted_by(exc)).name
        reporter.stop()
        reporter.interrupting(opts.run_name, interrupted)
        ctx.interrupt_cleanup()
        if evaluations is not None:
            evaluations.stop()
        ctx.join_workers()  # each pair's own cleanup (its git server, its sandboxes) ends before the process does
        try:  # what an agent created as the signal came (not tracked yet); the run lock makes this run the only one
            backend.cleanup(run_name=opts.run_name)
        except CooperBenchError as exc:
            reporter.warn(f"could not remove every resource of run {opts.run_name!r}: {exc}")
    finally:
        reporter.stop()
        if messaging is not None:
            messaging.close()
    if ctx.fatal is not None:
        _stop_unwritable(ctx, rdir)
    if ctx.images:  # record the image ids resolved during the run
        _write_config(opts, labels, pairs, ctx.images, backend, _image_details(backend, ctx.images), transport)
    incomplete = [] if interrupted else _without_result(opts, units, ctx.harness_failed)
    summary = summarize(
        rdir,
        extra={
            "wall_time_s": round(time.monotonic() - started, 3),
            "interrupted": interrupted is not None,
            "interrupted_by": interrupted,
            "incomplete": incomplete,
        },
    )
    reporter.final(summary, rdir, interrupted=interrupted is not None, skipped=skipped)
    return summary


def _stop_unwritable(ctx: RunContext, rdir: Path) -> None:
    """End a run whose results can no longer be written: its sandboxes removed, what was written kept."""
    ctx.interrupt_cleanup()
    ctx.join_workers()
    with contextlib.suppress(OSError):
        summarize(rdir)
    raise RunAborted(
        f"cannot write the run's results: {ctx.fatal}. The run stopped; the results written before are intact. "
        "Free space (or make the folder writable) and run the same command again to resume"
    )


def _without_result(opts: RunOptions, units: list[tuple[Pair, int | None]], failed: set[str]) -> list[str]:
    """The selected pairs left without a result: an infrastructure, dataset or harness error after their attempts."""
    left = []
    for pair, repeat in units:
        pdir = pair_dir(opts.logs_dir, opts.run_name, opts.setting, pair, repeat)
        key = pair.key + (f"#{repeat}" if repeat is not None else "")
        if key in failed or pair_outcome(pdir) in (None, "infra_error", "dataset_error"):
            left.append(key)
    return left


def _resolve_image(ctx: RunContext, pair: Pair) -> None:
    name = pair.task.image_name(ctx.options.image_prefix)
    with ctx.lock:
        if name in ctx.images:
            return
        lock = ctx.image_locks.setdefault(name, threading.Lock())
    with lock:
        if name not in ctx.images:
            ref = ctx.backend.resolve_image(pair.task)
            with ctx.lock:
                ctx.images[name] = ref


def _check_repeats_layout(opts: RunOptions, pairs: list[Pair]) -> None:
    """Refuse to mix the plain and the ``repeat-<k>/`` layout in one run folder (their results would both count)."""
    for p in pairs:
        plain = pair_dir(opts.logs_dir, opts.run_name, opts.setting, p)
        if opts.repeats > 1 and (plain / "result.json").exists():
            raise ConfigError(
                f"run {opts.run_name!r} was made without --repeats ({plain / 'result.json'} exists): "
                "use another run name for --repeats"
            )
        if opts.repeats == 1 and any(plain.glob("repeat-*/result.json")):
            raise ConfigError(
                f"run {opts.run_name!r} was made with --repeats ({plain} holds repeat-*/): "
                "pass --repeats again, or use another run name"
            )


def _run_pairs(
    ctx: RunContext, todo: list[tuple[Pair, int | None]], reporter: Reporter, evaluations: EvalPool | None
) -> None:
    work: queue.Queue[tuple[Pair, int | None] | None] = queue.Queue()
    for unit in todo:
        work.put(unit)
    done: queue.Queue[tuple[Pair, int | None, dict[str, Any] | None, BaseException | None]] = queue.Queue()

    def worker() -> None:
        while not ctx.stop.is_set():
            try:
                unit = work.get_nowait()
            except queue.Empty:
                return
            if unit is None:
                return
            pair, repeat = unit
            result: dict[str, Any] | None = None
            error: BaseException | None = None
            for attempt in range(1, ctx.options.attempts + 1):
                try:
                    _resolve_image(ctx, pair)
                    result = run_pair(ctx, pair, attempt=attempt, repeat=repeat)
                except PairInterrupted as exc:
                    error = exc
                    break
                except InfraError as exc:  # the image could not be prepared
                    try:
                        result = record_infra_error(ctx, pair, exc, attempt=attempt, repeat=repeat)
                    except OSError as write_error:
                        error = write_error
                        break
                except BaseException as exc:  # a harness bug must not take the other pairs down
                    error = exc
                    break
                if result.get("outcome") != "infra_error" or ctx.stop.is_set():
                    break
            if isinstance(error, OSError) and error.errno in UNWRITABLE:
                ctx.abort(error)  # every other pair would fail the same way
            done.put((pair, repeat, result, error))

    workers = [
        threading.Thread(target=worker, daemon=True, name=f"pair-worker-{i}")
        for i in range(min(ctx.options.concurrency, len(todo)))
    ]
    ctx.workers.extend(workers)
    for w in workers:
        w.start()
    remaining = len(todo)
    while remaining:
        try:
            pair, repeat, result, error = done.get(timeout=0.2)
        except queue.Empty:
            if not any(w.is_alive() for w in workers) and done.empty():
                break
            continue
        remaining -= 1
        pdir = pair_dir(ctx.options.logs_dir, ctx.options.run_name, ctx.options.setting, pair, repeat)
        if isinstance(error, PairInterrupted) or (error is not None and error is ctx.fatal):
            continue
        if error is not None:
            ctx.harness_failed.add(pair.key + (f"#{repeat}" if repeat is not None else ""))
            reporter.pair_failed(pair, error)
            continue
        assert result is not None
        if evaluations is not None and result["outcome"] == "pending_eval":
            evaluations.submit(pair, pdir)
        else:
            reporter.pair_finished(pair, result, pair_outcome(pdir))
        try:
            summarize(run_dir(ctx.options.logs_dir, ctx.options.run_name))
        except OSError as exc:
            if exc.errno not in UNWRITABLE:
                raise
            ctx.abort(exc)
