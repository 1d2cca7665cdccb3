"""``cooperbench validate``: check a dataset and a backend with the gold patches, before paying for agents.

For the selected pairs, the ``oracle`` agent runs through the whole pipeline (sandboxes of
the chosen backend, patches taken from the working tree, merge, tests). Then every feature
of those pairs has its tests run without its patch, which must fail. Problems:

- a gold pair that merges cleanly but fails its tests;
- a gold patch the oracle could not apply (or any other error of the pipeline);
- a feature whose tests pass without its patch (the tests do not test the feature).
"""

from __future__ import annotations

import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cooperbench.backends import RunLabels, get_backend
from cooperbench.dataset import Pair, Task, discover_pairs
from cooperbench.io import read_json
from cooperbench.runner import run
from cooperbench.runner._paths import pair_dir

__all__ = ["ValidationReport", "validate"]


@dataclass
class ValidationReport:
    """What ``validate`` found: one row per pair and per feature, and the problems."""

    pairs: list[dict[str, Any]] = field(default_factory=list)
    features: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Per task, what its environment was built from, when the backend says (local: image_provenance).
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _pair_row(pair: Pair, pdir: Path, *, kept: bool) -> tuple[dict[str, Any], list[str]]:
    result = read_json(pdir / "result.json") or {}
    evaluation = read_json(pdir / "eval.json") or {}
    merge = evaluation.get("merge") or {}
    row = {
        "pair": pair.key,
        "merge": merge.get("status") or "-",
        "strategy": merge.get("strategy") or "-",
        "feature1_passed": (evaluation.get("feature1") or {}).get("passed"),
        "feature2_passed": (evaluation.get("feature2") or {}).get("passed"),
        "outcome": evaluation.get("outcome") or result.get("outcome"),
        "error": result.get("error") or evaluation.get("error"),
    }
    problems = []
    if not evaluation:
        problems.append(f"{pair.key}: the gold pair was not evaluated: {row['error'] or row['outcome']}")
    elif row["merge"] == "clean" and not evaluation.get("both_passed"):
        failing = [str(f) for i, f in enumerate(pair.features, 1) if not row[f"feature{i}_passed"]]
        where = f" (see {pdir / 'eval.json'})" if kept else " (keep the details with --log-dir)"
        problems.append(
            f"{pair.key}: the gold patches merge cleanly but feature(s) {', '.join(failing)} fail their tests{where}"
        )
    elif row["outcome"] in ("agent_error", "infra_error", "apply_failed", "no_patch", "timeout"):
        problems.append(f"{pair.key}: {row['outcome']}: {row['error'] or 'see the pair folder'}")
    return row, problems


def _features_without_patch(
    task: Task, feature_ids: list[int], backend: Any, labels: RunLabels, timeout: float
) -> list[dict[str, Any]]:
    """Run each feature's tests on the base commit, without any feature patch, in one sandbox."""
    from cooperbench.backends.base import PATCHES_DIR, REPO_DIR
    from cooperbench.errors import SandboxError
    from cooperbench.evaluation._steps import run_tests
    from cooperbench.evaluation.merge import task_inputs

    rows = []
    sandbox = backend.create_sandbox(backend.resolve_image(task), run=labels, purpose="check")
    try:
        for name, data in task_inputs(task, tuple(feature_ids)).items():
            sandbox.write_file(f"{PATCHES_DIR}/{name}", data, mode=0o755 if name.endswith(".sh") else 0o644)
        head = sandbox.exec(f"git -C {REPO_DIR} rev-parse HEAD", timeout=60)
        base = head.output.strip()
        if head.returncode != 0 or len(base) != 40:
            raise SandboxError(
                f"cannot read the base commit of {task.key} in sandbox {sandbox.id}: {head.output[-500:]}"
            )
        for i, feature_id in enumerate(feature_ids, start=1):
            outcome = run_tests(sandbox, base, f"tests{i}.patch", "", timeout=timeout)
            rows.append(
                {
                    "task": task.key,
                    "feature": feature_id,
                    "fails_without_patch": not outcome.passed,
                    "tests_passed": outcome.tests_passed,
                    "tests_failed": outcome.tests_failed,
                    "timed_out": outcome.timed_out,
                }
            )
    finally:
        sandbox.cleanup()
    return rows


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
) -> ValidationReport:
    """Validate the selected pairs with the gold patches on ``backend``.

    Args:
        dataset_dir: the dataset folder.
        subset, repo, task_id, features: the same selection as ``cooperbench run``.
        backend: the sandbox backend to validate.
        concurrency: pairs (and feature checks) at the same time.
        logs_dir: where the oracle run is written (a temporary folder by default).
        test_timeout: seconds per test run.
        agent_config: a YAML file whose ``backend`` section configures the backend (as for ``run``).

    Returns:
        The report; ``report.ok`` is false when a problem was found.

    Raises:
        CooperBenchError: the options or the dataset are invalid (as for ``run``).
    """
    pairs = discover_pairs(dataset_dir, subset=subset, repo=repo, task_id=task_id, features=features)
    report = ValidationReport()
    with tempfile.TemporaryDirectory(prefix="cooperbench-validate-") as scratch:
        logs = Path(logs_dir) if logs_dir is not None else Path(scratch)
        name = f"validate-{backend}"
        run(
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
            force=True,
            dataset_dir=dataset_dir,
            logs_dir=logs,
            messaging_enabled=False,
            agent_config=agent_config,
        )
        for pair in pairs:
            row, problems = _pair_row(pair, pair_dir(logs, name, "coop", pair), kept=logs_dir is not None)
            report.pairs.append(row)
            report.problems.extend(problems)

    tasks: dict[str, tuple[Task, list[int]]] = {}
    for pair in pairs:
        _, ids = tasks.setdefault(pair.task.key, (pair.task, []))
        ids.extend(f for f in pair.features if f not in ids)
    from cooperbench.runner._options import load_agent_config

    options = {k: v for k, v in (load_agent_config(agent_config, None).get("backend") or {}).items() if k != "name"}
    backend_obj = get_backend(backend, **options)
    labels = RunLabels(f"validate-{backend}")
    lock = threading.Lock()

    def check(item: tuple[Task, list[int]]) -> None:
        task, ids = item
        rows = _features_without_patch(task, sorted(ids), backend_obj, labels, test_timeout)
        with lock:
            report.features.extend(rows)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(check, tasks.values()))
    report.features.sort(key=lambda r: (r["task"], r["feature"]))
    describe = getattr(backend_obj, "image_provenance", None)
    if callable(describe):
        for task, _ in tasks.values():
            report.environments[task.key] = describe(backend_obj.resolve_image(task))
    for row in report.features:
        if not row["fails_without_patch"]:
            report.problems.append(
                f"{row['task']} feature {row['feature']}: its tests pass without its patch "
                f"({row['tests_passed']} passed), so they do not test the feature"
            )
    return report
