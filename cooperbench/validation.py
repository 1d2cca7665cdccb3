"""``cooperbench validate``: check a dataset and a backend with the gold patches, before paying for agents.

Two parts, both on the chosen backend:

1. **Gold pairs.** The ``oracle`` agent runs every selected pair through the whole pipeline
   (sandboxes, patches taken from the working tree, merge, tests, under the scoring policy).
   A problem: a gold pair that merges cleanly but fails its tests, or that could not be
   evaluated at all (a gold patch that does not apply, an error of the pipeline).
2. **Gradeability of each feature** (as upstream's ``check_gradeable``): its tests run once
   with its gold patch alone, which must pass, and once on the base commit without it, which
   must fail *with tests that ran*. A feature is ``gradeable`` or one of ``gold_fails``,
   ``passes_without_feature``, ``tests_did_not_run`` (the runner crashed, collected nothing,
   or printed no test summary in either run), ``timeout``, ``error`` (the sandbox or the
   dataset failed: the message says which).

Test runs are memoized (:mod:`cooperbench.evaluation.memo`), so a gold patch tested alone for
a pair's attribution is not run again for its feature's check. With ``logs_dir`` everything is
kept and a second ``validate`` with the same folder resumes: finished pairs and checked features
(of unchanged task folders) are not run again.

A signal (Ctrl-C, SIGTERM, SIGHUP) stops both parts as it stops a run: the sandboxes are
removed, no verdict is drawn from what the interruption cut short, what finished is kept in
``logs_dir``, and :func:`validate` raises ``KeyboardInterrupt`` (its ``exit_status`` is the
shell's 128 + the signal's number).
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cooperbench.backends import RunLabels, get_backend
from cooperbench.dataset import Pair, Task, discover_pairs
from cooperbench.errors import CooperBenchError, DatasetError, SandboxError
from cooperbench.io import read_json, write_json_atomic

__all__ = ["GRADEABILITY_FILE", "VERDICTS", "ValidationReport", "check_feature", "validate"]

#: The per-feature report, in the oracle run's folder (also what a resumed validate reads).
GRADEABILITY_FILE = "gradeability.json"

#: Every verdict of a feature check, the good one first.
VERDICTS: tuple[str, ...] = (
    "gradeable",
    "gold_fails",
    "passes_without_feature",
    "tests_did_not_run",
    "timeout",
    "error",
)

_VERDICT_TEXT = {
    "gold_fails": "its tests fail with its gold patch",
    "passes_without_feature": "its tests pass without its patch, so they do not test the feature",
    "tests_did_not_run": "its tests did not run",
    "timeout": "its test run timed out",
    "error": "it could not be checked",
}


@dataclass
class ValidationReport:
    """What ``validate`` found: one row per pair and per feature, and the problems."""

    pairs: list[dict[str, Any]] = field(default_factory=list)
    features: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    run_dir: Path | None = None  # the kept oracle run, when ``logs_dir`` was given
    backend: str = ""
    policy: str = ""
    # Per task, what its environment was built from, when the backend says (local: image_provenance).
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        """Features per verdict."""
        return {v: sum(1 for row in self.features if row["verdict"] == v) for v in VERDICTS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "backend": self.backend,
            "policy": self.policy,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "pairs": self.pairs,
            "features": self.features,
            "environments": self.environments,
            "verdicts": self.counts(),
            "problems": self.problems,
        }


# --- gold pairs -----------------------------------------------------------------------------


def _pair_row(pair: Pair, pdir: Path, *, kept: bool) -> tuple[dict[str, Any], list[str]]:
    result = read_json(pdir / "result.json") or {}
    evaluation = read_json(pdir / "eval.json") or {}
    merge = evaluation.get("merge") or {}
    passed = [(evaluation.get(f"feature{i}") or {}).get("passed") for i in range(1, len(pair.features) + 1)]
    row = {
        "pair": pair.key,
        "features": list(pair.features),
        "merge": merge.get("status") or "-",
        "strategy": merge.get("strategy") or "-",
        "passed": passed,
        "outcome": evaluation.get("outcome") or result.get("outcome"),
        "error": evaluation.get("error") or result.get("error"),
    }
    problems = []
    where = f" (see {pdir / 'eval.json'})" if kept else " (keep the details with --log-dir)"
    if not evaluation:
        problems.append(f"{pair.key}: the gold pair was not evaluated: {row['error'] or row['outcome']}")
    elif row["merge"] in ("clean", "identical") and not evaluation.get("both_passed"):
        failing = [str(f) for f, ok in zip(pair.features, passed, strict=True) if not ok]
        problems.append(
            f"{pair.key}: the gold patches merge cleanly but feature(s) {', '.join(failing)} fail their tests{where}"
        )
    elif row["outcome"] in ("agent_error", "infra_error", "apply_failed", "no_patch", "timeout", "dataset_error"):
        problems.append(f"{pair.key}: {row['outcome']}: {row['error'] or 'see the pair folder'}{where}")
    return row, problems


class _HideFolder(io.TextIOBase):
    """stdout, with a temporary folder's path replaced: validate removes that folder before it returns."""

    def __init__(self, stream: TextIO, folder: str) -> None:
        self._stream, self._folder = stream, folder

    def write(self, text: str) -> int:
        self._stream.write(text.replace(self._folder, "<temporary folder>"))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()


@contextlib.contextmanager
def _hiding(folder: Path | None) -> Iterator[None]:
    if folder is None:
        yield
        return
    with contextlib.redirect_stdout(_HideFolder(sys.stdout, str(folder))):  # type: ignore[type-var]
        yield


# --- gradeability of a feature ----------------------------------------------------------------


class LiveSandboxes:
    """The sandboxes of running feature checks, so that an interruption can remove them mid-command."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[Any] = set()
        self.stopping = False

    def add(self, sandbox: Any) -> None:
        with self._lock:
            if not self.stopping:
                self._live.add(sandbox)
                return
        raise SandboxError("validation interrupted before this feature's check started")

    def discard(self, sandbox: Any) -> None:
        with self._lock:
            self._live.discard(sandbox)

    def stop(self) -> list[Any]:
        """No check may start a sandbox from now on; the sandboxes still running."""
        with self._lock:
            self.stopping = True
            return list(self._live)


def check_feature(
    task: Task,
    feature_id: int,
    backend: Any,
    labels: RunLabels,
    *,
    policy: str | None = None,
    timeout: float = 900.0,
    live: LiveSandboxes | None = None,
) -> dict[str, Any]:
    """Check that a feature's tests grade it: pass with its gold patch, fail (having run) without.

    One sandbox: the gold patch is applied on a branch of its own (as the evaluator applies an
    agent's patch, test files dropped by the policy's rule), then the feature's tests run on
    git's diff of what applied and on the bare base commit. Runs are memoized.

    Returns:
        The feature's row: ``task, feature, verdict, problems, gold {passed, exit_code, tests_passed,
        tests_failed, ran_tests, timed_out}, base {...}, content_hash``; never raises for a
        broken task or sandbox (``verdict`` is ``error`` and ``problems`` says why).
    """
    from cooperbench.backends.base import PATCHES_DIR
    from cooperbench.evaluation import _steps
    from cooperbench.evaluation.memo import test_memo
    from cooperbench.evaluation.merge import task_inputs
    from cooperbench.evaluation.patch_filter import prepare_patch
    from cooperbench.evaluation.policy import get_policy
    from cooperbench.patches import patch_bytes

    scoring = get_policy(policy)
    row: dict[str, Any] = {
        "task": task.key,
        "feature": feature_id,
        "verdict": "error",
        "problems": [],
        "gold": None,
        "base": None,
        "content_hash": task.content_hash,
    }
    sandbox = None
    try:
        files = task_inputs(task, (feature_id,))
        gold = prepare_patch(task.feature_file(feature_id, "feature.patch").read_bytes(), scoring.test_path)
        if not gold:
            raise DatasetError(f"{task.feature_file(feature_id, 'feature.patch')}: the gold patch is empty")
        files["gold.patch"] = patch_bytes(gold)
        image = backend.resolve_image(task)
        sandbox = backend.create_sandbox(image, run=labels, purpose="check")
        if live is not None:
            live.add(sandbox)
        for name, data in files.items():
            sandbox.write_file(f"{PATCHES_DIR}/{name}", data, mode=0o755 if name == "runner.sh" else 0o644)
        prepared = _steps.prepare(sandbox, ("gold",), merge=False)
        if prepared.apply_status["gold"] != "applied":
            raise DatasetError(
                f"{task.feature_file(feature_id, 'feature.patch')}: the gold patch does not apply to the base "
                f"commit: {prepared.apply_errors.get('gold', '')[:1000]}"
            )
        ctx = _steps.TestContext(
            backend=backend.name,
            image=image,
            base=prepared.base,
            clean=scoring.clean,
            hashes=prepared.hashes,
            memo=test_memo(),
        )
        with_gold = _steps.run_tests(sandbox, ctx, "tests1.patch", "gold.applied.patch", timeout=timeout)
        without = _steps.run_tests(sandbox, ctx, "tests1.patch", "", timeout=timeout)
        row["gold"], row["base"] = _run_summary(with_gold), _run_summary(without)
        row["verdict"], row["problems"] = _verdict(with_gold, without)
    except (CooperBenchError, OSError) as exc:
        row["problems"] = [f"{type(exc).__name__}: {exc}"]
    finally:
        if sandbox is not None:
            if live is not None:
                live.discard(sandbox)
            sandbox.cleanup()
    return row


def _run_summary(run: Any) -> dict[str, Any]:
    return {
        "passed": run.passed,
        "exit_code": run.exit_code,
        "tests_passed": run.tests_passed,
        "tests_failed": run.tests_failed,
        "ran_tests": run.ran_tests,
        "timed_out": run.timed_out,
        "output_tail": run.output[-2000:],
    }


def _verdict(with_gold: Any, without: Any) -> tuple[str, list[str]]:
    problems = []
    if with_gold.timed_out or without.timed_out:
        which = "with the gold patch" if with_gold.timed_out else "without the patch"
        return "timeout", [f"the test run {which} timed out"]
    if not with_gold.ran_tests or not without.ran_tests:
        for name, run in (("with the gold patch", with_gold), ("without the patch", without)):
            if not run.ran_tests:
                problems.append(
                    f"no test ran {name} (exit status {run.exit_code}; no test summary in the output: the runner "
                    "crashed or collected nothing)"
                )
        return "tests_did_not_run", problems
    if not with_gold.passed:
        return "gold_fails", [
            f"with the gold patch {with_gold.tests_failed} test(s) fail, {with_gold.tests_passed} pass "
            f"(exit status {with_gold.exit_code})"
        ]
    if without.passed or without.tests_failed == 0:
        return "passes_without_feature", [
            f"without the patch {without.tests_passed} test(s) pass and none fail (exit status {without.exit_code})"
        ]
    return "gradeable", []


# --- validate -------------------------------------------------------------------------------


def validate(
    *,
    dataset_dir: str | Path,
    subset: str | None = None,
    repo: str | None = None,
    task_id: int | None = None,
    features: list[int] | None = None,
    backend: str = "local",
    concurrency: int = 2,
    logs_dir: str | Path | None = None,
    test_timeout: float = 900.0,
    agent_config: str | None = None,
    policy: str | None = None,
    force: bool = False,
) -> ValidationReport:
    """Validate the selected pairs and their features with the gold patches on ``backend``.

    Args:
        dataset_dir: the dataset folder.
        subset, repo, task_id, features: the same selection as ``cooperbench run``.
        backend: the sandbox backend to validate.
        concurrency: pairs, evaluations and feature checks at the same time.
        logs_dir: where the oracle run and ``gradeability.json`` are kept (a temporary folder,
            removed at the end, by default). Validating again with the same folder resumes.
        test_timeout: seconds per test run.
        agent_config: a YAML file whose ``backend`` section configures the backend (as for ``run``).
        policy: the scoring policy of the gold pairs' evaluation (default ``upstream``).
        force: redo pairs and feature checks already in ``logs_dir``.

    Returns:
        The report; ``report.ok`` is false when a problem was found.

    Raises:
        CooperBenchError: the options or the dataset are invalid (as for ``run``).
        KeyboardInterrupt: a signal stopped the validation (``exit_status`` is the shell's 128 + N);
            its sandboxes are removed and what finished is kept in ``logs_dir``.
    """
    from cooperbench.evaluation.policy import get_policy
    from cooperbench.runner import run
    from cooperbench.runner._options import load_agent_config
    from cooperbench.runner._paths import pair_dir
    from cooperbench.runner._signals import RunInterrupted, ShutdownSignals

    scoring = get_policy(policy)
    pairs = discover_pairs(dataset_dir, subset=subset, repo=repo, task_id=task_id, features=features)
    report = ValidationReport(backend=backend, policy=scoring.name)
    name = f"validate-{backend}"
    # SIGTERM and SIGHUP stop it as Ctrl-C does (the oracle run installs its own handlers inside).
    with ShutdownSignals(name), tempfile.TemporaryDirectory(prefix="cooperbench-validate-") as scratch:
        logs = Path(logs_dir) if logs_dir is not None else Path(scratch)
        kept = logs_dir is not None
        with _hiding(None if kept else Path(scratch)):
            summary = run(
                name,
                subset=subset,
                repo=repo,
                task_id=task_id,
                features=features,
                agent="oracle",
                setting="coop",
                backend=backend,
                concurrency=concurrency,
                eval_concurrency=concurrency,
                force=force or not kept,
                dataset_dir=dataset_dir,
                logs_dir=logs,
                messaging_enabled=False,
                agent_config=agent_config,
                policy=scoring.name,
                _return_summary=True,
            )
        if summary is not None and summary.get("interrupted"):
            # The run said what it kept; pairs the signal cut short say nothing about the dataset.
            raise RunInterrupted(signal.Signals[str(summary.get("interrupted_by") or "SIGINT")].value)
        for pair in pairs:
            row, problems = _pair_row(pair, pair_dir(logs, name, "coop", pair), kept=kept)
            report.pairs.append(row)
            report.problems.extend(problems)

        options = {k: v for k, v in (load_agent_config(agent_config, None).get("backend") or {}).items() if k != "name"}
        backend_obj = get_backend(backend, **options)
        run_folder = logs / name
        report.features = _check_features(
            pairs, backend_obj, RunLabels(name), run_folder, scoring.name, test_timeout, concurrency, force=force
        )
        if kept:
            report.run_dir = run_folder
        describe = getattr(backend_obj, "image_provenance", None)
        if callable(describe):
            for task in {p.task.key: p.task for p in pairs}.values():
                report.environments[task.key] = describe(backend_obj.resolve_image(task))
    for row in report.features:
        for problem in row["problems"]:
            text = _VERDICT_TEXT.get(row["verdict"], row["verdict"])
            report.problems.append(f"{row['task']} feature {row['feature']}: {text}: {problem}")
    return report


def _check_features(
    pairs: list[Pair],
    backend: Any,
    labels: RunLabels,
    run_folder: Path,
    policy: str,
    timeout: float,
    concurrency: int,
    *,
    force: bool,
) -> list[dict[str, Any]]:
    """Check every feature of the pairs once, ``concurrency`` at a time, saving each row as it finishes."""
    todo: dict[tuple[str, int], Task] = {}
    for pair in pairs:
        for feature_id in pair.features:
            todo.setdefault((pair.task.key, feature_id), pair.task)
    path = run_folder / GRADEABILITY_FILE
    saved = read_json(path)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    if isinstance(saved, dict) and not force:
        for row in saved.get("features") or []:
            key = (row.get("task"), row.get("feature"))
            task = todo.get(key)  # type: ignore[arg-type]
            # a row of an unchanged task folder, checked under the same policy, stands
            if task is not None and row.get("content_hash") == task.content_hash and saved.get("policy") == policy:
                rows[key] = row  # type: ignore[index]
    from cooperbench.runner._signals import RunInterrupted

    lock = threading.Lock()
    live = LiveSandboxes()

    def save() -> None:
        ordered = [rows[k] for k in sorted(rows)]
        write_json_atomic(path, {"policy": policy, "backend": backend.name, "features": ordered})

    def check(key: tuple[str, int]) -> None:
        if live.stopping:
            return
        row = check_feature(todo[key], key[1], backend, labels, policy=policy, timeout=timeout, live=live)
        with lock:
            if live.stopping:  # ended by the interruption (its sandbox removed): no verdict, nothing saved
                return
            rows[key] = row
            save()

    pool = ThreadPoolExecutor(max_workers=concurrency)
    try:
        for future in [pool.submit(check, k) for k in sorted(todo) if k not in rows]:
            future.result()
    except KeyboardInterrupt as exc:
        pool.shutdown(wait=False, cancel_futures=True)
        for sandbox in live.stop():
            with contextlib.suppress(Exception):  # best effort: the check's own cleanup runs too
                sandbox.cleanup()
        pool.shutdown(wait=True)
        raise exc if isinstance(exc, RunInterrupted) else RunInterrupted(signal.SIGINT) from None
    finally:
        pool.shutdown(wait=True)
    run_folder.mkdir(parents=True, exist_ok=True)
    save()
    return [rows[k] for k in sorted(todo)]
