"""Reading run folders: which folder a RUN names, and one record per attempt of a pair.

A run folder is ``<run>/<setting>/<repo>/<task_id>/<pair>/`` (``<pair>`` is ``f1_f2``, ``f1_f2_f3``, ...);
with ``--repeats K`` each pair folder holds ``repeat-1/ ... repeat-K/``, each a complete pair
folder. Each attempt gives a *row* (the numbers the index, tables and statistics use) and a
*detail* (what its pair page shows: steps, messages, patches, merge, tests).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cooperbench.errors import CooperBenchError
from cooperbench.report._trajectory import read_steps

__all__ = ["MAX_PATCH_CHARS", "Attempt", "ReportError", "RunData", "load_runs", "resolve_run"]

RESULT_FILE, EVAL_FILE, CONVERSATION_FILE = "result.json", "eval.json", "conversation.json"
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
MAX_PATCH_CHARS = 200_000
MAX_TEST_OUTPUT_CHARS = 4_000
MAX_FAILING_TESTS = 50
PARALLEL_FROM = 300
_REPEAT_DIR = re.compile(r"^repeat-(\d+)$")
_FEATURE_KEY = re.compile(r"^feature(\d+)$")
_FAILING = (
    re.compile(r"^(?:FAILED|ERROR) (\S+)"),  # pytest short summary
    re.compile(r"^(\S+::\S+) (?:FAILED|ERROR)\b"),  # pytest -v
    re.compile(r"^\s*--- FAIL: (\S+)"),  # go test
    re.compile(r"^test (\S+) \.\.\. FAILED"),  # cargo test
    re.compile(r"^\s*[✕×] (.+?)(?: \(\d+(?:\.\d+)? ?m?s\))?$"),  # jest / vitest
)


class ReportError(CooperBenchError):
    """A report cannot be built: a RUN that names no run folder, a missing optional dependency, ..."""


@dataclass
class Attempt:
    """One attempt of one pair in one run (a pair has K attempts with ``--repeats K``).

    Attributes:
        row: the numbers of the index, the tables and the statistics.
        packed: the detail of its pair page, packed as the page reads it (see ``_html.pack_detail``).
    """

    row: dict[str, Any]
    packed: str


@dataclass
class RunData:
    """A run folder, read.

    Attributes:
        label: the run's name in the report (its folder name, made unique among the runs reported).
        path: the run folder.
        config: ``config.json`` (``{}`` when missing).
        summary: ``summary.json`` (``{}`` when missing).
        attempts: every attempt of every pair, sorted by pair then repeat.
    """

    label: str
    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    attempts: list[Attempt] = field(default_factory=list)


def _read_json(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _read_text(path: Path, limit: int) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if len(text) > limit:
        return text[:limit] + f"\n[… {len(text) - limit} more characters not shown]\n"
    return text


def _looks_like_run(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "summary.json").is_file() or bool(_pair_dirs(path))


def resolve_run(run: str | Path, logs_dir: Path) -> Path:
    """The run folder ``run`` names: a path to one, else a run name under ``logs_dir``.

    Raises:
        ReportError: neither is a run folder; the message names both places and the runs that exist.
    """
    as_path = Path(run).expanduser()
    if as_path.is_dir() and _looks_like_run(as_path):
        return as_path
    under = logs_dir / str(run)
    if under.is_dir() and _looks_like_run(under):
        return under
    known = sorted(p.name for p in logs_dir.iterdir() if p.is_dir() and _looks_like_run(p)) if logs_dir.is_dir() else []
    hint = f"runs in {logs_dir}: {', '.join(known)}" if known else f"no runs in {logs_dir}"
    raise ReportError(
        f"no run folder {str(run)!r}: neither {as_path} nor {under} holds a run "
        f"(config.json, summary.json or pair folders); {hint}; pass a path or --log-dir"
    )


def _pair_dirs(run_dir: Path) -> list[Path]:
    found: set[Path] = set()
    for name in (RESULT_FILE, EVAL_FILE):
        found.update(p.parent for p in run_dir.glob(f"*/*/*/*/{name}"))
        found.update(p.parent for p in run_dir.glob(f"*/*/*/*/repeat-*/{name}"))
    return sorted(found)


def _features(name: str) -> list[int]:
    try:
        return [int(part[1:]) for part in name.split("_") if part.startswith("f")]
    except ValueError:
        return []


def failing_tests(output: str) -> list[str]:
    """Names of the failing tests in a test run's output (pytest, go test, cargo, jest/vitest lines)."""
    names: list[str] = []
    for line in output.splitlines():
        if "FAIL" not in line and "ERROR" not in line and "✕" not in line and "×" not in line:
            continue
        for pattern in _FAILING:
            match = pattern.match(line)
            if match and match.group(1) not in names:
                names.append(match.group(1))
                break
        if len(names) >= MAX_FAILING_TESTS:
            break
    return names


def _outcome(evaluation: Any, result: Any, pair_dir: Path) -> str:
    if isinstance(evaluation, dict):
        if evaluation.get("outcome"):
            return str(evaluation["outcome"])
        from cooperbench.evaluation.summary import pair_outcome_from_eval

        return pair_outcome_from_eval(evaluation, pair_dir).value  # an upstream record
    if isinstance(result, dict) and result.get("outcome"):
        return str(result["outcome"])
    return "pending_eval"


def _merge_kind(merge: Any) -> str | None:
    from cooperbench.outcomes import merge_rescued_by_union

    if not isinstance(merge, dict) or not merge.get("status"):
        return None
    return "union_rescued" if merge_rescued_by_union(merge) else str(merge["status"])


def _feature_results(evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    keyed = sorted(
        ((int(m.group(1)), v) for k, v in evaluation.items() if (m := _FEATURE_KEY.match(k)) and isinstance(v, dict)),
        key=lambda kv: kv[0],
    )
    out = []
    for _, record in keyed:
        output = str(record.get("test_output") or "")
        out.append(
            {
                "feature_id": record.get("feature_id"),
                "passed": record.get("passed"),
                "ran": record.get("ran"),
                "exit_code": record.get("exit_code"),
                "tests_passed": record.get("tests_passed"),
                "tests_failed": record.get("tests_failed"),
                "tests_skipped": record.get("tests_skipped"),
                "timed_out": record.get("timed_out"),
                "failing_tests": failing_tests(output),
                "output_tail": output[-MAX_TEST_OUTPUT_CHARS:],
            }
        )
    return out


def _agent_ids(pair_dir: Path, result: Any, setting: str, n_features: int) -> list[str]:
    if isinstance(result, dict) and isinstance(result.get("agents"), dict) and result["agents"]:
        return list(result["agents"])
    if setting == "solo":
        return ["solo"]
    return [f"agent{i + 1}" for i in range(max(n_features, 1))]


def _read_attempt(run_label: str, run_dir: Path, pair_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    rel = pair_dir.relative_to(run_dir).parts
    repeat: int | None = None
    if (m := _REPEAT_DIR.match(rel[-1])) is not None:
        repeat = int(m.group(1))
        rel = rel[:-1]
    setting, repo, task, pair = rel[0], rel[1], rel[2], rel[3]
    result = _read_json(pair_dir / RESULT_FILE)
    evaluation = _read_json(pair_dir / EVAL_FILE)
    ledger = _read_json(pair_dir / CONVERSATION_FILE)
    result_d = _as_dict(result)
    eval_d = _as_dict(evaluation)
    if repeat is None and isinstance(result_d.get("repeat"), int) and result_d["repeat"] > 1:
        repeat = result_d["repeat"]
    features = [int(f) for f in (result_d.get("features") or eval_d.get("features") or _features(pair))]
    try:
        task_id: int | str = int(task)
    except ValueError:
        task_id = task
    outcome = _outcome(evaluation, result, pair_dir)
    totals = _as_dict(result_d.get("totals"))
    entries = [m for m in ledger if isinstance(m, dict)] if isinstance(ledger, list) else []
    # The ledger also records the harness's notices and the agents' status changes ("kind"); an
    # entry without a kind is a message (ledgers written before kinds existed).
    messages = [m for m in entries if m.get("kind", "message") == "message"]
    notices = [m for m in entries if m.get("kind", "message") != "message"]
    n_messages = len(messages) if isinstance(ledger, list) else int(result_d.get("messages") or 0)
    agent_ids = _agent_ids(pair_dir, result, setting, len(features))
    agents_raw = _as_dict(result_d.get("agents"))
    attribution = _as_dict(eval_d.get("attribution"))
    merge = eval_d.get("merge") if isinstance(eval_d.get("merge"), dict) else None
    key = "/".join([run_label, setting, repo, task, pair] + ([f"repeat-{repeat}"] if repeat is not None else []))
    row: dict[str, Any] = {
        "key": key,
        "run": run_label,
        "setting": setting,
        "repo": repo,
        "task_id": task_id,
        "pair": pair,
        "pair_id": f"{repo}/{task}/{pair}",
        "features": features,
        "repeat": repeat,
        "outcome": outcome,
        "passed": outcome == "pass",
        "attribution": attribution.get("category"),
        "merge": _merge_kind(merge),
        "policy": eval_d.get("policy"),
        "agents": len(agent_ids),
        "cost": float(totals.get("cost") or 0.0),
        "steps": int(totals.get("steps") or 0),
        **{k: int(totals.get(k) or 0) for k in TOKEN_FIELDS},
        "wall_s": float(result_d.get("duration_s") or 0.0),
        "eval_s": float(eval_d.get("eval_duration") or 0.0),
        "messages": n_messages,
    }
    feature_results = _feature_results(eval_d)
    # The pair page's numbers, in report.json too: each feature's test counts and each agent's bill.
    row["tests"] = [
        {k: f[k] for k in ("feature_id", "passed", "tests_passed", "tests_failed", "tests_skipped")}
        for f in feature_results
    ]
    row["agent_stats"] = {
        a: {k: _as_dict(agents_raw.get(a)).get(k) for k in ("status", "cost", "steps", "duration_s", "sent_messages")}
        for a in agent_ids
    }
    agents: list[dict[str, Any]] = []
    for agent_id in agent_ids:
        info = _as_dict(agents_raw.get(agent_id))
        patch_file = str(info.get("patch_file") or f"{agent_id}.patch")
        agents.append(
            {
                "id": agent_id,
                "features": info.get("features"),
                "status": info.get("status"),
                "error": info.get("error"),
                "error_kind": info.get("error_kind"),
                "cost": info.get("cost"),
                "steps_count": info.get("steps"),
                "duration_s": info.get("duration_s"),
                "sent_messages": info.get("sent_messages"),
                **{k: info.get(k) for k in TOKEN_FIELDS},
                "patch": _read_text(pair_dir / Path(patch_file).name, MAX_PATCH_CHARS),
                "steps": read_steps(_read_json(pair_dir / f"{agent_id}_traj.json")),
            }
        )
    detail: dict[str, Any] = {
        "key": key,
        "row": row,
        "error": result_d.get("error"),
        "started_at": result_d.get("started_at"),
        "finished_at": result_d.get("finished_at"),
        "agents": agents,
        "messages": messages,
        "notices": notices,
        "evaluation": None
        if not eval_d
        else {
            "evaluator": eval_d.get("evaluator"),
            "policy": eval_d.get("policy"),
            "apply_status": eval_d.get("apply_status"),
            "merge": None
            if merge is None
            else {
                "status": merge.get("status"),
                "strategy": merge.get("strategy"),
                "union_status": merge.get("union_status"),
                "conflict_files": merge.get("conflict_files"),
                "diff": str(merge.get("diff") or "")[:MAX_PATCH_CHARS],
            },
            "features": feature_results,
            "both_passed": eval_d.get("both_passed"),
            "error": eval_d.get("error"),
            "attribution": {
                "category": attribution.get("category"),
                "agents": {
                    a: {k: v for k, v in (rec or {}).items() if k != "alone"}
                    for a, rec in (attribution.get("agents") or {}).items()
                    if isinstance(rec, dict)
                },
            }
            if attribution
            else None,
            "evaluated_at": eval_d.get("evaluated_at"),
        },
    }
    return row, detail


def _attempt(task: tuple[str, str, str]) -> Attempt:
    from cooperbench.report._html import pack_detail

    label, run_dir, pair_dir = task
    row, detail = _read_attempt(label, Path(run_dir), Path(pair_dir))
    return Attempt(row=row, packed=pack_detail(detail))


def _workers(tasks: int) -> int:
    # A process pool pays for itself from a few hundred attempts on (reading and packing is CPU-bound).
    if tasks < PARALLEL_FROM or not sys.platform.startswith("linux") or threading.active_count() > 1:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def load_runs(runs: Sequence[tuple[Path, str]]) -> list[RunData]:
    """Read run folders ``(path, label)``: their config, summary and every attempt of every pair.

    Attempts are read in worker processes when there are many, forked on Linux from a process
    with no other thread (fork re-imports nothing, so a script calling :func:`report` at its top
    level is safe; with threads a fork could deadlock, so those read in-process).
    """
    loaded: list[RunData] = []
    tasks: list[tuple[str, str, str]] = []
    for run_dir, label in runs:
        loaded.append(
            RunData(
                label=label,
                path=run_dir,
                config=_as_dict(_read_json(run_dir / "config.json")),
                summary=_as_dict(_read_json(run_dir / "summary.json")),
            )
        )
        tasks += [(label, str(run_dir), str(pdir)) for pdir in _pair_dirs(run_dir)]
    workers = _workers(len(tasks))
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            attempts = list(pool.map(_attempt, tasks, chunksize=max(1, len(tasks) // (workers * 8))))
    else:
        attempts = [_attempt(t) for t in tasks]
    by_label = {run.label: run for run in loaded}
    for attempt in attempts:
        by_label[attempt.row["run"]].attempts.append(attempt)
    for run in loaded:
        run.attempts.sort(key=lambda a: (a.row["pair_id"], a.row["setting"], a.row["repeat"] or 0))
    return loaded
