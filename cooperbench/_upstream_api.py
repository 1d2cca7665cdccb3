"""Upstream CooperBench 0.0.29's Python API, as thin functions over ours.

Scripts written against upstream keep working: ``cooperbench.discover_tasks``,
``discover_runs``, ``test_merged``, ``test_solo``, ``evaluate_merge`` and
``cooperbench.eval.run_patch_test`` take the same arguments and return dicts of the same
shape as upstream's (docs/api.md). They grade with the ``upstream`` scoring policy. One
deliberate difference: ``backend`` defaults to the configured backend (``local`` unless set)
rather than ``docker``; pass ``backend="docker"`` for upstream's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["discover_runs", "discover_tasks", "evaluate_merge", "run_patch_test", "test_merged", "test_solo"]

# Upstream treats a short string naming an existing file as a path to read.
_PATH_LIKE_MAX = 500


def _dataset_root(dataset_dir: Path | str | None) -> Path:
    from cooperbench.settings import defaults

    return Path(dataset_dir if dataset_dir is not None else defaults().dataset_dir)


def discover_tasks(
    subset: str | None = None,
    repo_filter: str | None = None,
    task_filter: int | None = None,
    features_filter: list[int] | None = None,
    dataset_dir: Path | str | None = None,
) -> list[dict[str, Any]]:
    """The selected feature tuples of the dataset: ``[{"repo", "task_id", "features": [f1, f2, ...]}]``.

    Same selection as ``cooperbench run`` (``features_filter`` is one tuple; no filter: every pair).

    Raises:
        DatasetError: the dataset or the subset does not exist.
    """
    from cooperbench.dataset import discover_pairs

    pairs = discover_pairs(
        _dataset_root(dataset_dir), subset=subset, repo=repo_filter, task_id=task_filter, features=features_filter
    )
    return [{"repo": p.repo, "task_id": p.task_id, "features": list(p.features)} for p in pairs]


def discover_runs(
    run_name: str,
    subset: str | None = None,
    repo_filter: str | None = None,
    task_filter: int | None = None,
    features_filter: list[int] | None = None,
    logs_dir: Path | str | None = None,
    dataset_dir: Path | str | None = None,
) -> list[dict[str, Any]]:
    """The pair folders of a run that hold a ``result.json``:
    ``[{"repo", "task_id", "features", "log_dir", "setting"}]`` (``[]`` for an unknown run).

    ``features_filter`` selects the folders of exactly those features (in any order).
    """
    from cooperbench.dataset import load_subset
    from cooperbench.evaluation.run import discover_pair_dirs
    from cooperbench.settings import defaults

    run_dir = Path(logs_dir if logs_dir is not None else defaults().logs_dir) / run_name
    if not run_dir.is_dir():
        return []
    selection = load_subset(_dataset_root(dataset_dir), subset) if subset else None
    found = []
    for pd in discover_pair_dirs(run_dir, repo=repo_filter, task_id=task_filter, selection=selection):
        if features_filter and set(features_filter) != set(pd.features):
            continue
        if not (pd.path / "result.json").is_file():
            continue
        found.append(
            {
                "repo": pd.repo,
                "task_id": pd.task_id,
                "features": list(pd.features),
                "log_dir": str(pd.path),
                "setting": pd.setting,
            }
        )
    return found


def _load_patch(patch: str | Path | None) -> str | None:
    """A patch argument as upstream reads it: ``Path`` or a short existing file name is read;
    ``""``/whitespace is no patch."""
    from cooperbench.patches import patch_text

    if patch is None:
        return None
    if isinstance(patch, Path):
        return patch_text(patch.read_bytes())
    if not patch.strip():
        return None
    if len(patch) < _PATH_LIKE_MAX and "\n" not in patch and Path(patch).is_file():
        return patch_text(Path(patch).read_bytes())
    return patch


def _evaluate(
    setting: str,
    repo_name: str,
    task_id: int,
    features: tuple[int, ...],
    patches: Mapping[str, str | None],
    *,
    timeout: float,
    backend: str | None,
    dataset_dir: Path | str | None,
) -> dict[str, Any]:
    from cooperbench.backends import RunLabels, get_backend
    from cooperbench.dataset import Pair, load_task
    from cooperbench.errors import CooperBenchError
    from cooperbench.evaluation.merge import MergeEvaluator
    from cooperbench.settings import defaults

    task_dir = _dataset_root(dataset_dir) / repo_name / f"task{task_id}"
    for feature_id in features:
        tests = task_dir / f"feature{feature_id}" / "tests.patch"
        if not tests.is_file():
            return {"error": f"Tests patch not found: {tests}"}
    try:
        task = load_task(task_dir, repo_name)
        if task is None:
            return {"error": f"Task not found: {task_dir}"}
        the_backend = get_backend(backend or defaults().backend)
        evaluator = MergeEvaluator(policy="upstream", test_timeout=float(timeout))
        return evaluator.evaluate_pair(
            Pair(repo_name, task_id, features, task), setting, patches, the_backend, RunLabels("api")
        )
    except CooperBenchError as exc:
        return {"error": str(exc)}


def _feature(record: dict[str, Any], feature_id: int) -> dict[str, Any]:
    return {
        "feature_id": feature_id,
        "passed": bool(record.get("passed")),
        "exit_code": record.get("exit_code"),
        "tests_passed": record.get("tests_passed", 0),
        "tests_failed": record.get("tests_failed", 0),
        "test_output": record.get("test_output", ""),
    }


def _merged_error(error: str) -> dict[str, Any]:
    empty = {"feature_id": None, "passed": False, "exit_code": None, "tests_passed": 0, "tests_failed": 0}
    return {
        "apply_status": {"agent1": "unknown", "agent2": "unknown"},
        "merge": {"status": "error", "strategy": None, "diff": ""},
        "feature1": {**empty, "test_output": ""},
        "feature2": {**empty, "test_output": ""},
        "both_passed": False,
        "error": error,
    }


def _infra(record: dict[str, Any]) -> str | None:
    """The record's error when it is the evaluation's own failure (upstream reports those, not bad patches)."""
    return record.get("error") if record.get("error_kind") in ("infra_error", "dataset_error", None) else None


def test_merged(
    repo_name: str,
    task_id: int,
    feature1_id: int,
    feature2_id: int,
    patch1: str | Path | None = None,
    patch2: str | Path | None = None,
    timeout: int = 600,
    backend: str | None = None,
    dataset_dir: Path | str | None = None,
) -> dict[str, Any]:
    """Merge two agents' patches and test the result against both features' tests (coop).

    Returns:
        ``{"apply_status", "merge": {"status", "strategy", "diff"}, "feature1": {"feature_id",
        "passed", "exit_code", "tests_passed", "tests_failed", "test_output"}, "feature2",
        "both_passed", "error"}`` (identical patches also carry ``repo, task_id, features,
        setting, evaluated_at``, as upstream's do).
    """
    patches = {"agent1": _load_patch(patch1) or "", "agent2": _load_patch(patch2) or ""}
    features = (feature1_id, feature2_id)
    record = _evaluate(
        "coop", repo_name, task_id, features, patches, timeout=timeout, backend=backend, dataset_dir=dataset_dir
    )
    error = _infra(record)
    if error is not None:
        return _merged_error(error)
    merge = record.get("merge") or {}
    result: dict[str, Any] = {
        "apply_status": record["apply_status"],
        "merge": {"status": merge.get("status"), "strategy": merge.get("strategy"), "diff": merge.get("diff", "")},
        "feature1": _feature(record["feature1"], feature1_id),
        "feature2": _feature(record["feature2"], feature2_id),
        "both_passed": bool(record["both_passed"]),
        "error": None,
    }
    if merge.get("status") == "identical":
        result = {
            "repo": repo_name,
            "task_id": task_id,
            "features": [feature1_id, feature2_id],
            "setting": "coop",
            **result,
            "evaluated_at": datetime.now().isoformat(),
        }
    return result


def test_solo(
    repo_name: str,
    task_id: int,
    feature1_id: int,
    feature2_id: int,
    patch: str | Path | None = None,
    timeout: int = 600,
    backend: str | None = None,
    dataset_dir: Path | str | None = None,
) -> dict[str, Any]:
    """Test one agent's patch against both features' tests (solo).

    Returns:
        ``{"setting": "solo", "patch_lines", "feature1": {"passed", "test_output"}, "feature2",
        "both_passed", "error"}``.
    """
    from cooperbench.evaluation.patch_filter import prepare_patch
    from cooperbench.evaluation.policy import POLICIES

    content = _load_patch(patch) or ""
    features = (feature1_id, feature2_id)
    record = _evaluate(
        "solo",
        repo_name,
        task_id,
        features,
        {"solo": content},
        timeout=timeout,
        backend=backend,
        dataset_dir=dataset_dir,
    )
    error = _infra(record)
    if error is not None:
        empty = {"passed": False, "test_output": ""}
        return {"setting": "solo", "patch_lines": 0, "feature1": empty, "feature2": dict(empty),
                "both_passed": False, "error": error}  # fmt: skip
    filtered = prepare_patch(content, POLICIES["upstream"].test_path)
    return {
        "setting": "solo",
        "patch_lines": len(filtered.splitlines()),
        "feature1": {"passed": bool(record["feature1"]["passed"]), "test_output": record["feature1"]["test_output"]},
        "feature2": {"passed": bool(record["feature2"]["passed"]), "test_output": record["feature2"]["test_output"]},
        "both_passed": bool(record["both_passed"]),
        "error": None,
    }


def evaluate_merge(
    repo_name: str,
    task_id: int,
    feature1_id: int,
    feature2_id: int,
    patch1: str,
    patch2: str,
) -> dict[str, Any]:
    """:func:`test_merged` reduced to what upstream's training code reads.

    Returns:
        ``{"feature1_tests_passed": 0 | 1, "feature1_tests_total": 1, "feature2_tests_passed",
        "feature2_tests_total", "error"}``.
    """
    result = test_merged(repo_name, task_id, feature1_id, feature2_id, patch1=patch1, patch2=patch2)
    return {
        "feature1_tests_passed": 1 if result.get("feature1", {}).get("passed") else 0,
        "feature1_tests_total": 1,
        "feature2_tests_passed": 1 if result.get("feature2", {}).get("passed") else 0,
        "feature2_tests_total": 1,
        "error": result.get("error"),
    }


def run_patch_test(
    repo_name: str,
    task_id: int,
    feature_id: int,
    agent_patch: str | Path | None = None,
    timeout: int = 600,
    backend: str | None = None,
    dataset_dir: Path | str | None = None,
) -> dict[str, Any]:
    """Test one patch against one feature's tests (``None``: the feature's gold patch).

    Returns:
        ``{"passed", "tests_passed", "tests_failed", "tests_total", "output", "error"}``.
    """
    from cooperbench.backends import RunLabels, get_backend
    from cooperbench.backends.base import PATCHES_DIR
    from cooperbench.dataset import load_task
    from cooperbench.errors import CooperBenchError
    from cooperbench.evaluation import _steps
    from cooperbench.evaluation.memo import test_memo
    from cooperbench.evaluation.merge import task_inputs
    from cooperbench.evaluation.patch_filter import prepare_patch
    from cooperbench.evaluation.policy import POLICIES
    from cooperbench.patches import patch_bytes
    from cooperbench.settings import defaults

    def error(message: str) -> dict[str, Any]:
        return {"passed": False, "tests_passed": 0, "tests_failed": 0, "tests_total": 0, "output": "", "error": message}

    task_dir = _dataset_root(dataset_dir) / repo_name / f"task{task_id}"
    tests_path = task_dir / f"feature{feature_id}" / "tests.patch"
    if not tests_path.is_file():
        return error(f"Tests patch not found: {tests_path}")
    gold = task_dir / f"feature{feature_id}" / "feature.patch"
    if agent_patch is None and gold.is_file():
        agent_patch = gold
    policy = POLICIES["upstream"]
    content = _load_patch(agent_patch)
    filtered = prepare_patch(content, policy.test_path) if content else ""
    if agent_patch is not None and not filtered:
        return error("Agent patch is empty")
    sandbox = None
    try:
        task = load_task(task_dir, repo_name)
        if task is None:
            return error(f"Task not found: {task_dir}")
        the_backend = get_backend(backend or defaults().backend)
        image = the_backend.resolve_image(task)
        sandbox = the_backend.create_sandbox(image, run=RunLabels("api"), purpose="eval")
        files = task_inputs(task, (feature_id,))
        if filtered:
            files["agent.patch"] = patch_bytes(filtered)
        for name, data in files.items():
            sandbox.write_file(f"{PATCHES_DIR}/{name}", data, mode=0o755 if name == "runner.sh" else 0o644)
        prepared = _steps.prepare(sandbox, (), merge=False)  # the base commit and the files' hashes
        ctx = _steps.TestContext(
            backend=the_backend.name, image=image, base=prepared.base, clean=policy.clean,
            hashes=prepared.hashes, memo=test_memo(),
        )  # fmt: skip
        run = _steps.run_tests(sandbox, ctx, "tests1.patch", "agent.patch" if filtered else "", timeout=float(timeout))
    except CooperBenchError as exc:
        return error(str(exc))
    finally:
        if sandbox is not None:
            sandbox.cleanup()
    return {
        "passed": run.passed,
        "tests_passed": run.tests_passed,
        "tests_failed": run.tests_failed,
        "tests_total": run.tests_passed + run.tests_failed,
        "output": run.output,
        "error": None,
    }


# not pytest tests, despite their names (users import them into test modules)
test_merged.__test__ = False  # type: ignore[attr-defined]
test_solo.__test__ = False  # type: ignore[attr-defined]
