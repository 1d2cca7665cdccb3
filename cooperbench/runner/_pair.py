"""Running the agents of one pair and writing what they produced."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cooperbench.agents import AgentResult
from cooperbench.backends import Backend, GitServer, RunLabels
from cooperbench.backends._context import ActiveRun, SandboxTracker, bind_run, track_sandboxes
from cooperbench.dataset import Pair
from cooperbench.errors import CooperBenchError, InfraError
from cooperbench.io import write_bytes_atomic, write_json_atomic
from cooperbench.outcomes import exception_outcome
from cooperbench.patches import patch_bytes
from cooperbench.runner._attempts import archive_patches, load_attempts, record_attempt, rescue_patch, spent
from cooperbench.runner._options import RunOptions
from cooperbench.runner._paths import agent_ids, pair_dir
from cooperbench.summary import RESULT_FILE
from cooperbench.team import TeamPair, team_instructions

TEAM_FILE = "tasks.json"  # a team run's tasks, task-list events and requests

# The errors that mean no result can be written any more: the run stops rather than failing every pair.
UNWRITABLE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
# How long a timed-out or interrupted agent gets to notice its sandbox is gone.
_GRACE_SECONDS = 5.0


class PairInterrupted(Exception):
    """The run was interrupted while this pair was in progress; nothing is marked done."""


@dataclass
class RunContext:
    """Everything the pairs of one run share."""

    options: RunOptions
    labels: RunLabels
    backend: Backend
    runner_cls: Any
    images: dict[str, str]
    connector_url: str | None  # transport URL without namespace, e.g. redis://localhost:6379/0 or embedded://
    messaging: Any = None  # cooperbench.messaging.RunMessaging when messaging is on
    stop: threading.Event = field(default_factory=threading.Event)
    trackers: set[SandboxTracker] = field(default_factory=set)
    git_servers: set[Any] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    image_locks: dict[str, threading.Lock] = field(default_factory=dict)  # one image build at a time per task
    workers: list[threading.Thread] = field(default_factory=list)  # the pair workers, joined after an interrupt
    harness_failed: set[str] = field(default_factory=set)  # pairs (and repeats) a harness error left without a result
    fatal: OSError | None = None  # results cannot be written (a full disk): the run stops

    def abort(self, exc: OSError) -> None:
        """Stop the run because its results cannot be written; the first such error is the one reported."""
        with self.lock:
            if self.fatal is None:
                self.fatal = exc
        self.stop.set()

    def interrupt_cleanup(self) -> None:
        """Destroy every sandbox and git server still alive (Ctrl-C)."""
        self.stop.set()
        with self.lock:
            trackers, servers = list(self.trackers), list(self.git_servers)
        for tracker in trackers:
            tracker.cleanup()
        for server in servers:
            server.cleanup()

    def join_workers(self, limit: float = 120.0) -> None:
        """Wait (up to ``limit`` seconds) for the pair workers to finish their own cleanup after an interrupt."""
        deadline = time.monotonic() + limit
        for worker in self.workers:
            while worker.is_alive() and time.monotonic() < deadline:
                worker.join(0.2)


@dataclass
class _AgentRun:
    agent_id: str
    features: list[int]
    tracker: SandboxTracker = field(default_factory=SandboxTracker)
    result: AgentResult | None = None
    error: str | None = None
    error_kind: str | None = None  # agent_error | infra_error | timeout
    traceback: str | None = None
    started: float = 0.0
    duration: float = 0.0
    finished: bool = False  # run() returned or raised: whatever it left is its own
    partial: AgentResult | None = None  # what an agent that raised had done and spent (``exc.partial_result``)
    rescued: str = ""  # the working tree of an agent that never returned, taken before its sandbox went


def _task_text(pair: Pair, features: list[int]) -> str:
    if len(features) == 1:
        return pair.task.feature_text(features[0])
    return "\n\n---\n\n".join(f"## Feature {f}\n\n{pair.task.feature_text(f).strip()}" for f in features)


def run_pair(ctx: RunContext, pair: Pair, *, attempt: int = 1, repeat: int | None = None) -> dict[str, Any]:
    """Run the agents of ``pair`` concurrently and write the pair's folder (result.json last).

    With ``repeat`` (``--repeats``), the folder is the pair's ``repeat-<k>/`` and result.json says ``"repeat": k``.

    Returns:
        The result record written to result.json.

    Raises:
        PairInterrupted: the run was stopped meanwhile; result.json is not written.
    """
    opts = ctx.options
    out_dir = pair_dir(opts.logs_dir, opts.run_name, opts.setting, pair, repeat)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(".*.tmp"):  # half-written files of an attempt that was killed
        stale.unlink(missing_ok=True)
    ids = agent_ids(opts.setting, pair)
    features_of = (
        {ids[0]: list(pair.features)}
        if opts.setting == "solo"
        else {a: [f] for a, f in zip(ids, pair.features, strict=True)}
    )
    runs = [_AgentRun(a, features_of[a]) for a in ids]
    number = len(load_attempts(out_dir)) + 1  # this try's place in attempts.json
    archive_patches(out_dir, number - 1)  # an earlier try's work is kept, not overwritten
    for run in runs:
        run.tracker.before_cleanup = functools.partial(_rescue_work, pair, run, out_dir, number)
    coop = opts.setting in ("coop", "team")
    started = time.time()

    messaging = None  # cooperbench.messaging.PairMessaging: the pair's namespace, agents' credentials, ledger
    team: TeamPair | None = None
    git_server: GitServer | None = None
    try:
        if coop and opts.messaging_enabled and ctx.messaging is not None:
            # Agents whose process runs in the sandbox get an endpoint mounted into their own sandboxes;
            # in a team run every agent does (the task list and requests are reached through it).
            in_sandbox = bool(getattr(ctx.runner_cls, "messaging_endpoint", False)) or opts.setting == "team"
            messaging = ctx.messaging.pair(pair.key, attempt, ids, repeat=repeat, endpoints=ids if in_sandbox else ())
        if opts.setting == "team":
            team = _open_team(opts, ids, features_of, messaging)
        if coop and opts.git_enabled:
            git_server = ctx.backend.create_git_server(run=ctx.labels)
            with ctx.lock:
                ctx.git_servers.add(git_server)
        image = pair.task.image_name(opts.image_prefix)
        # What each agent's sandboxes mount: its pair's git repository (no other pair's).
        mounts = tuple(getattr(git_server, "mounts", ())) if git_server is not None else ()
        threads = []
        for run in runs:
            agent_mounts = mounts
            kwargs = _agent_kwargs(ctx, pair, run, ids, image, out_dir, messaging, git_server)
            if messaging is not None and messaging.endpoint(run.agent_id) is not None:
                kwargs.update(_endpoint_kwargs(ctx.runner_cls, messaging.endpoint(run.agent_id)))
                agent_mounts = (*mounts, *messaging.mounts(run.agent_id))
            if team is not None:
                kwargs.update(_team_kwargs(ctx.runner_cls, team, run.agent_id, messaging, kwargs["task"]))
                agent_mounts = (*agent_mounts, *team.mounts())
            active = ActiveRun(
                backend=ctx.backend,
                labels=ctx.labels,
                images=ctx.images,
                backend_name=opts.backend,
                mounts=agent_mounts,
                task=pair.task,
            )
            thread = threading.Thread(
                target=contextvars.copy_context().run,
                args=(_agent_main, ctx, active, run, kwargs, messaging),
                name=f"{pair.key}:{run.agent_id}",
                daemon=True,
            )
            with ctx.lock:
                ctx.trackers.add(run.tracker)
            run.started = time.monotonic()
            thread.start()
            threads.append(thread)
        _wait_for_agents(ctx, runs, threads, messaging)
        if ctx.stop.is_set():
            raise PairInterrupted(pair.key)
        conversation = messaging.ledger() if messaging is not None else []
        if team is not None:
            write_json_atomic(out_dir / TEAM_FILE, team.record())
            team.save_scratchpad(out_dir / "scratchpad")
    except InfraError as exc:
        if ctx.stop.is_set():
            raise PairInterrupted(pair.key) from exc
        for run in runs:
            if run.error_kind is None:
                run.error_kind, run.error = "infra_error", f"{type(exc).__name__}: {exc}"
        conversation = []
    finally:
        for run in runs:
            run.tracker.cleanup()
            with ctx.lock:
                ctx.trackers.discard(run.tracker)
        if git_server is not None:
            git_server.cleanup()
            with ctx.lock:
                ctx.git_servers.discard(git_server)
        if messaging is not None:
            messaging.close()  # deletes the pair's messages and credentials; the ledger is saved already
        if ctx.stop.is_set():  # interrupted: what each agent spent and left is recorded; not marked done
            with contextlib.suppress(OSError, CooperBenchError):
                _record_interrupted(ctx, out_dir, runs, started, attempt)
        if team is not None:
            team.close()

    return _write_pair(ctx, pair, out_dir, runs, conversation, started, attempt, repeat, team)


def record_infra_error(
    ctx: RunContext, pair: Pair, exc: BaseException, *, attempt: int, repeat: int | None = None
) -> dict[str, Any]:
    """Write the result of a pair whose agents could not start (its image could not be prepared)."""
    opts = ctx.options
    out_dir = pair_dir(opts.logs_dir, opts.run_name, opts.setting, pair, repeat)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [_AgentRun(a, []) for a in agent_ids(opts.setting, pair)]
    for run in runs:
        run.error_kind, run.error = "infra_error", f"{type(exc).__name__}: {exc}"
    return _write_pair(ctx, pair, out_dir, runs, [], time.time(), attempt, repeat)


def record_dataset_error(ctx: RunContext, pair: Pair, *, repeat: int | None = None) -> dict[str, Any]:
    """Write the result of a pair that cannot be run because its task is broken in the dataset.

    No sandbox is created and no agent is called: the outcome is ``dataset_error``, its error
    names every problem and its path (:attr:`Pair.dataset_error`). Such a pair is not done, so a
    resumed run checks it again (once the dataset is fixed, it runs).
    """
    opts = ctx.options
    out_dir = pair_dir(opts.logs_dir, opts.run_name, opts.setting, pair, repeat)
    out_dir.mkdir(parents=True, exist_ok=True)
    error = pair.dataset_error or "the task is broken in the dataset"
    ids = agent_ids(opts.setting, pair)
    features_of = (
        {ids[0]: list(pair.features)}
        if opts.setting == "solo"
        else {a: [f] for a, f in zip(ids, pair.features, strict=True)}
    )
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    result: dict[str, Any] = {
        "repo": pair.repo,
        "task_id": pair.task_id,
        "features": list(pair.features),
        "setting": opts.setting,
        "run_name": opts.run_name,
        "run_id": ctx.labels.run_id,
        "agent": opts.agent,
        "model": opts.model_name,
        "outcome": "dataset_error",
        "error": f"DatasetError: {error}",
        "problems": [{"path": str(p.path), "problem": p.message, "feature": p.feature} for p in pair.problems],
        "agents": {
            a: {"features": features_of[a], "status": "DatasetError", "error": None, "error_kind": "dataset_error",
                "duration_s": 0.0, "patch_file": None, "patch_bytes": 0, "cost": 0.0, "steps": 0,
                "sent_messages": 0, **dict.fromkeys(TOKEN_FIELDS, 0)}
            for a in ids
        },
        "totals": {"cost": 0.0, "steps": 0, **dict.fromkeys(TOKEN_FIELDS, 0)},
        "messages": 0,
        "attempt": 0,
        **({"repeat": repeat} if repeat is not None else {}),
        "started_at": now,
        "finished_at": now,
        "duration_s": 0.0,
    }  # fmt: skip
    write_json_atomic(out_dir / RESULT_FILE, result)
    return result


def _agent_kwargs(
    ctx: RunContext,
    pair: Pair,
    run: _AgentRun,
    ids: list[str],
    image: str,
    out_dir: Path,
    messaging: Any,
    git_server: GitServer | None,
) -> dict[str, Any]:
    opts = ctx.options
    config = {k: (dict(v) if isinstance(v, dict) else v) for k, v in opts.config.items()}
    # As documented for agents (`backend: modal` in the YAML): the backend's name, a string; the
    # rest of the `backend:` section (image options, limits, ...) goes under its own key.
    options = config.pop("backend", None) or {}
    config["backend"] = opts.backend
    config["backend_options"] = {k: v for k, v in options.items() if k != "name"}
    config["task"] = {
        "repo": pair.repo,
        "task_id": pair.task_id,
        "features": run.features,
        "pair_features": list(pair.features),
    }  # no path into the dataset: agents get the feature text (the gold patches live there)
    config["run"] = {"run_name": opts.run_name, "run_id": ctx.labels.run_id, "setting": opts.setting, "pair": pair.key}
    coop = opts.setting in ("coop", "team")
    return {
        "task": _task_text(pair, run.features),
        "image": image,
        "agent_id": run.agent_id,
        "model_name": opts.model_name,
        "agents": ids,
        "comm_url": messaging.agent_url(run.agent_id) if messaging is not None else None,
        "git_server_url": git_server.url if git_server is not None else None,
        "git_enabled": bool(coop and opts.git_enabled),
        "messaging_enabled": bool(coop and opts.messaging_enabled and messaging is not None),
        "config": config,
        "agent_config": opts.agent_config_path,
        "log_dir": str(out_dir),
    }


def _open_team(opts: RunOptions, ids: list[str], features_of: dict[str, list[int]], messaging: Any) -> TeamPair:
    """The pair's team; its task-list events go to the pair's ledger."""
    from cooperbench.messaging.base import BusBase

    bus = messaging.bus if messaging is not None else None

    def record(agent: str, text: str, event: dict[str, Any], step: int | None) -> None:
        if isinstance(bus, BusBase):
            bus.record(agent, text, event=event, step=step)

    team = TeamPair(ids, features_of, opts.team, record=record)
    if messaging is not None:
        team.attach(messaging)
    return team


def _accepts(runner_cls: Any, name: str) -> tuple[bool, bool]:
    """Whether ``runner_cls.run`` names parameter ``name``, and whether it takes ``**kwargs``."""
    import inspect

    try:
        params = inspect.signature(runner_cls.run).parameters
    except (TypeError, ValueError):
        return False, False
    return name in params, any(p.kind is p.VAR_KEYWORD for p in params.values())


def _team_kwargs(runner_cls: Any, team: TeamPair, agent_id: str, messaging: Any, task: str) -> dict[str, Any]:
    """``team_role`` and ``team`` (the agent's :class:`TeamClient`) for an agent that knows the team setting;
    for one that does not, the task with the team instructions in front (it runs as in coop)."""
    endpoint = messaging.endpoint(agent_id) if messaging is not None else None
    client = team.client(agent_id, endpoint.connector if endpoint is not None else None)
    named, var_keyword = _accepts(runner_cls, "team_role")
    extra: dict[str, Any] = {}
    if named or var_keyword:
        extra.update(team_role=team.role(agent_id), team=client)
    if not named:  # the agent does not know the setting: its prompt is the task
        extra["task"] = f"{team_instructions(client.info())}\n\n---\n\n{task}"
    return extra


def _endpoint_kwargs(runner_cls: Any, endpoint: Any) -> dict[str, Any]:
    import inspect

    try:
        params = inspect.signature(runner_cls.run).parameters
    except (TypeError, ValueError):
        return {}
    accepts = "messaging_endpoint" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    return {"messaging_endpoint": endpoint} if accepts else {}


def _agent_main(ctx: RunContext, active: ActiveRun, run: _AgentRun, kwargs: dict[str, Any], messaging: Any) -> None:
    with bind_run(active), track_sandboxes(run.tracker):
        try:
            result = ctx.runner_cls().run(kwargs.pop("task"), kwargs.pop("image"), **kwargs)
            if not isinstance(result, AgentResult):
                raise TypeError(f"{ctx.runner_cls.__name__}.run returned {type(result).__name__}, not AgentResult")
            run.result = result
        except BaseException as exc:  # an agent's failure is a result, never the harness's crash
            partial = getattr(exc, "partial_result", None)  # what it did and spent before it failed
            if isinstance(partial, AgentResult):
                run.partial = partial
            # A timed-out agent fails because its sandbox was taken away: keep "timeout".
            if run.error_kind is None:
                run.error_kind = exception_outcome(exc).value  # a provider timeout is infra, a bug is the agent's
                run.error, run.traceback = f"{type(exc).__name__}: {exc}", traceback.format_exc()
        finally:
            run.finished = True
            if run.error_kind != "timeout":
                run.duration = time.monotonic() - run.started
            if messaging is not None:  # teammates waiting for this agent stop waiting now
                _tell_teammates(messaging, run)


def _tell_teammates(messaging: Any, run: _AgentRun) -> None:
    if run.error_kind == "timeout":
        messaging.agent_done(run.agent_id, "killed", run.error)
    elif run.error_kind is not None or run.result is None or run.result.status.lower() == "error":
        messaging.agent_done(run.agent_id, "failed", run.error or (run.result.error if run.result else None))
    else:
        messaging.agent_done(run.agent_id, "finished", run.result.status)


def _wait_for_agents(
    ctx: RunContext, runs: list[_AgentRun], threads: list[threading.Thread], messaging: Any = None
) -> None:
    limit = ctx.options.agent_timeout
    for run, thread in zip(runs, threads, strict=True):
        while thread.is_alive():
            if ctx.stop.is_set():
                break
            remaining = None if limit is None else run.started + limit - time.monotonic()
            if remaining is not None and remaining <= 0:
                run.error_kind = "timeout"
                run.error = f"agent exceeded its wall-time limit of {limit:g} s"
                if messaging is not None:
                    messaging.agent_done(run.agent_id, "killed", run.error)
                run.tracker.cleanup()  # the agent's next command fails; its sandboxes are gone either way
                thread.join(_GRACE_SECONDS)
                run.duration = time.monotonic() - run.started
                break
            thread.join(min(0.5, remaining) if remaining is not None else 0.5)
    if ctx.stop.is_set():
        for run in runs:
            run.tracker.cleanup()


def _write_pair(
    ctx: RunContext,
    pair: Pair,
    out_dir: Path,
    runs: list[_AgentRun],
    conversation: list[dict[str, Any]],
    started: float,
    attempt: int,
    repeat: int | None = None,
    team: TeamPair | None = None,
) -> dict[str, Any]:
    opts = ctx.options
    agents: dict[str, Any] = {}
    totals: dict[str, Any] = {"cost": 0.0, "steps": 0, **dict.fromkeys(TOKEN_FIELDS, 0)}
    for run in runs:
        res = run.result if run.error_kind is None else None
        spend = run.result or run.partial  # what the provider billed, however the agent ended
        patch = _patch_of(run)
        data = patch_bytes(patch)  # lossless: a patch that is not UTF-8 is written byte for byte
        write_bytes_atomic(
            out_dir / f"{run.agent_id}.patch", data if not data or data.endswith(b"\n") else data + b"\n"
        )
        if res is not None and not (out_dir / f"{run.agent_id}_traj.json").exists():
            write_json_atomic(out_dir / f"{run.agent_id}_traj.json", res.messages)
        record: dict[str, Any] = {
            "features": run.features,
            **({"team_role": team.role(run.agent_id)} if team is not None else {}),
            "status": res.status if res is not None else ("Timeout" if run.error_kind == "timeout" else "Error"),
            "error": run.error or (res.error if res is not None else None),
            "error_kind": run.error_kind,
            "duration_s": round(run.duration, 3),
            "patch_file": f"{run.agent_id}.patch",
            "patch_bytes": len(data),
        }
        for key in ("cost", "steps", "sent_messages", *TOKEN_FIELDS):
            record[key] = getattr(spend, key) if spend is not None else 0
        if run.rescued and patch is run.rescued:
            record["patch_source"] = "rescued"  # taken from the sandbox: the agent never returned one
        for key in ("cost", "steps", *TOKEN_FIELDS):
            totals[key] += record[key]
        if res is not None and res.status.lower() == "error" and run.error_kind is None:
            run.error_kind = "agent_error"
            record["error_kind"] = "agent_error"
        agents[run.agent_id] = record
        _append_harness_log(out_dir / f"{run.agent_id}.log", run, record)

    kinds = [r.error_kind for r in runs if r.error_kind]
    outcome = next((k for k in ("infra_error", "timeout", "agent_error") if k in kinds), "pending_eval")
    write_json_atomic(out_dir / "conversation.json", conversation)
    result = {
        "repo": pair.repo,
        "task_id": pair.task_id,
        "features": list(pair.features),
        "setting": opts.setting,
        "run_name": opts.run_name,
        "run_id": ctx.labels.run_id,
        "agent": opts.agent,
        "model": opts.model_name,
        "outcome": outcome,  # the evaluation replaces it with the pair's final outcome
        "agents_outcome": outcome,  # how the agents ended (infra_error: a resumed run runs them again)
        "error": next((a["error"] for a in agents.values() if a["error"]), None),
        "agents": agents,
        "totals": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in totals.items()},
        "messages": sum(1 for m in conversation if m.get("kind", "message") == "message"),
        **(
            {"lead_agent": team.lead, "team": {"features": team.features.as_dict(), "metrics": team.metrics()}}
            if team is not None
            else {}
        ),
        "attempt": attempt,
        **({"repeat": repeat} if repeat is not None else {}),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": round(time.time() - started, 3),
    }
    history = record_attempt(out_dir, _attempt_entry(ctx, runs, agents, result, attempt))
    result["attempts"] = history
    result["spent"] = spent(history)  # every attempt's cost: what summary.json counts
    write_json_atomic(out_dir / RESULT_FILE, result)
    return result


def _patch_of(run: _AgentRun) -> str:
    """The agent's patch: its own when it returned one, else what it left (partial or rescued)."""
    if run.error_kind == "timeout" and run.rescued:
        return run.rescued  # newer than anything it returns once its sandbox is gone
    if run.result is not None and run.error_kind in (None, "timeout"):
        return run.result.patch  # a timed-out agent that finished during the grace period: its work
    if run.partial is not None and run.partial.patch:
        return run.partial.patch
    return run.rescued


def _rescue_work(pair: Pair, run: _AgentRun, out_dir: Path, number: int, sandboxes: list[Any]) -> None:
    """Before a hung or interrupted agent's sandboxes are destroyed, save its working tree as its patch."""
    if run.finished:
        return
    patch = rescue_patch(sandboxes, pair.task)
    if not patch:
        return
    run.rescued = patch
    data = patch_bytes(patch)
    write_bytes_atomic(out_dir / f"{run.agent_id}.patch", data)
    # Also under the attempt's own folder: an interrupted try leaves no result.json, the next try
    # starts in this folder, and this work must survive it.
    (out_dir / "attempts" / str(number)).mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out_dir / "attempts" / str(number) / f"{run.agent_id}.patch", data)


def _agent_spend(run: _AgentRun) -> dict[str, Any]:
    spend = run.result or run.partial
    return {k: (getattr(spend, k) if spend is not None else 0) for k in ("cost", "steps", *TOKEN_FIELDS)}


def _attempt_entry(
    ctx: RunContext, runs: list[_AgentRun], agents: dict[str, Any], result: dict[str, Any], attempt: int
) -> dict[str, Any]:
    return {
        "attempt": attempt,
        "run_id": ctx.labels.run_id,
        "outcome": result["outcome"],
        "error": result["error"],
        "started_at": result["started_at"],
        "finished_at": result["finished_at"],
        "duration_s": result["duration_s"],
        "agents": {
            run.agent_id: {
                "status": agents[run.agent_id]["status"],
                "error_kind": run.error_kind,
                "patch_bytes": agents[run.agent_id]["patch_bytes"],
                **_agent_spend(run),
            }
            for run in runs
        },
        "totals": result["totals"],
    }


def _record_interrupted(ctx: RunContext, out_dir: Path, runs: list[_AgentRun], started: float, attempt: int) -> None:
    """An interrupted try in attempts.json: what its agents spent (when they returned in time) and left."""
    per_agent = {run.agent_id: _agent_spend(run) for run in runs}
    totals = {k: sum(a[k] for a in per_agent.values()) for k in ("cost", "steps", *TOKEN_FIELDS)}
    record_attempt(
        out_dir,
        {
            "attempt": attempt,
            "run_id": ctx.labels.run_id,
            "outcome": "interrupted",
            "error": "the run was interrupted while this pair was in progress",
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "duration_s": round(time.time() - started, 3),
            "agents": {
                run.agent_id: {
                    "status": "Interrupted",
                    "error_kind": None,
                    "patch_bytes": len(patch_bytes(_patch_of(run))),
                    **per_agent[run.agent_id],
                }
                for run in runs
            },
            "totals": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in totals.items()},
        },
    )


def _append_harness_log(path: Path, run: _AgentRun, record: dict[str, Any]) -> None:
    lines = [
        "",
        f"=== cooperbench: {run.agent_id} finished: status={record['status']} duration={record['duration_s']}s ===",
    ]
    if run.error:
        lines.append(f"error ({run.error_kind}): {run.error}")
    if run.traceback:
        lines.append(run.traceback.rstrip())
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    except OSError as exc:
        if exc.filename is None:  # a write that failed (a full disk) names no file by itself
            raise type(exc)(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
