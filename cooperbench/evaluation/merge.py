"""The default evaluator (``merge``): merge the agents' patches with git and run each feature's tests.

Compatible with upstream CooperBench: test files are dropped from each agent's patch, each
patch is applied on its own branch from the base commit, the branches are merged naively
(``git merge --no-ff``) and, on conflict, again with ``* merge=union``; then each feature's
tests run from a clean base as ``runner.sh tests<i>.patch merged.patch``. Everything happens
in one fresh sandbox of the task image.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cooperbench.backends.base import PATCHES_DIR, Backend, RunLabels, Sandbox
from cooperbench.errors import ConfigError, CooperBenchError, DatasetError, SandboxError
from cooperbench.evaluation import _steps
from cooperbench.evaluation.attribution import classify
from cooperbench.evaluation.base import clip, feature_record, now_iso
from cooperbench.evaluation.patch_filter import prepare_patch
from cooperbench.outcomes import decide_outcome

if TYPE_CHECKING:
    from cooperbench.dataset import Pair, Task

__all__ = ["DEFAULT_TEST_TIMEOUT", "MergeEvaluator", "task_inputs"]

#: Seconds one feature's test run may take before it is killed and recorded as timed out.
DEFAULT_TEST_TIMEOUT = 900.0


def task_inputs(task: Task, features: tuple[int, ...]) -> dict[str, bytes]:
    """The task's files an evaluation writes into ``/patches``: ``runner.sh`` and ``tests<i>.patch``.

    Raises:
        DatasetError: ``runner.sh`` or a feature's ``tests.patch`` is missing; the message names the path.
    """
    runner = Path(task.path) / "runner.sh"
    if not runner.is_file():
        raise DatasetError(
            f"{runner}: missing runner.sh of {task.repo}/task{task.task_id}; the evaluation runs each "
            "feature's tests with the task folder's runner.sh (`runner.sh <tests.patch> <feature.patch>`), "
            "add it to the task folder"
        )
    files = {"runner.sh": runner.read_bytes()}
    for i, feature_id in enumerate(features, start=1):
        tests = task.feature_file(feature_id, "tests.patch").read_bytes()
        files[f"tests{i}.patch"] = tests if tests.endswith(b"\n") else tests + b"\n"
    return files


class MergeEvaluator:
    """Evaluator plugin ``merge``: implements :class:`cooperbench.evaluation.Evaluator`.

    Args:
        test_timeout: seconds each test run may take (overridden per call by ``timeout``).
        attribution: for a failing coop pair, also test each failing feature on its own
            agent's patch alone to tell whose work failed (one extra run per failing feature).
    """

    name = "merge"

    def __init__(self, *, test_timeout: float = DEFAULT_TEST_TIMEOUT, attribution: bool = True) -> None:
        self.test_timeout = test_timeout
        self.attribution = attribution

    def evaluate_pair(
        self,
        pair: Pair,
        setting: str,
        patches: Mapping[str, str | bytes | None],
        backend: Backend,
        run: RunLabels,
        *,
        timeout: float | None = None,
        agent_statuses: Mapping[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """See :meth:`cooperbench.evaluation.Evaluator.evaluate_pair`."""
        started = time.monotonic()
        agents = ["solo"] if setting == "solo" else ["agent1", "agent2"]
        record: dict[str, Any] = {
            "repo": pair.repo,
            "task_id": pair.task_id,
            "features": list(pair.features),
            "setting": setting,
            "evaluator": self.name,
            "apply_status": dict.fromkeys(agents, "not_run"),
            "merge": None if setting == "solo" else {"status": "missing_input", "strategy": None, "diff": ""},
            "feature1": feature_record(pair.features[0]),
            "feature2": feature_record(pair.features[1]),
            "both_passed": False,
            "error": None,
            "evaluated_at": now_iso(),
            "outcome": None,
            "attribution": None,
        }
        sandbox: Sandbox | None = None
        try:
            if setting not in ("coop", "solo"):
                raise ConfigError(f"setting must be coop or solo, got {setting!r} for {pair.key}")
            files = task_inputs(pair.task, pair.features)
            for agent in agents:
                files[f"{agent}.patch"] = prepare_patch(patches.get(agent)).encode("utf-8", "surrogateescape")
            sandbox = backend.create_sandbox(backend.resolve_image(pair.task), run=run, purpose="eval")
            for name, data in files.items():
                sandbox.write_file(f"{PATCHES_DIR}/{name}", data, mode=0o755 if name == "runner.sh" else 0o644)
            limit = timeout if timeout is not None else self.test_timeout
            if setting == "solo":
                self._solo(sandbox, pair, record, limit)
            else:
                self._coop(sandbox, pair, record, limit)
        except (CooperBenchError, OSError) as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            if sandbox is not None:
                sandbox.cleanup()
        record["both_passed"] = bool(record["feature1"]["passed"] and record["feature2"]["passed"])
        record["outcome"] = decide_outcome(record, agent_statuses).value
        record["evaluated_at"] = now_iso()
        record["eval_duration"] = round(time.monotonic() - started, 3)
        return record

    def _test(
        self, sandbox: Sandbox, base: str, pair: Pair, index: int, patch_file: str, limit: float
    ) -> dict[str, Any]:
        run = _steps.run_tests(sandbox, base, f"tests{index}.patch", patch_file, timeout=limit)
        return run.record(pair.features[index - 1])

    def _solo(self, sandbox: Sandbox, pair: Pair, record: dict[str, Any], limit: float) -> None:
        prepared = _steps.prepare(sandbox, ("solo",), merge=False)
        record["apply_status"] = prepared.apply_status
        if prepared.apply_status["solo"] != "applied":
            return
        # The tested patch is git's own diff of what applied, as the merged patch is in coop.
        for index in (1, 2):
            record[f"feature{index}"] = self._test(sandbox, prepared.base, pair, index, "solo.applied.patch", limit)

    def _coop(self, sandbox: Sandbox, pair: Pair, record: dict[str, Any], limit: float) -> None:
        prepared = _steps.prepare(sandbox, ("agent1", "agent2"), merge=True)
        base, apply_status = prepared.base, prepared.apply_status
        record["apply_status"] = apply_status
        if "failed" in apply_status.values():
            unusable = {a: False if s != "applied" else None for a, s in apply_status.items()}
            record["attribution"] = self._attribution("own_implementation_failed", pair, apply_status, {}, unusable)
            return
        naive, union = prepared.naive, prepared.union
        if naive is None:
            raise SandboxError(f"the merge of agent1 into agent2 did not run in sandbox {sandbox.id}")
        merge: dict[str, Any] = {"status": "clean" if naive.clean else "conflicts", "strategy": "naive", "diff": ""}
        union_clean = None if naive.clean else bool(union and union.clean)
        if not naive.clean:
            merge.update(
                strategy="union",
                union_status="clean" if union_clean else "conflicts",
                conflict_files=naive.conflict_files,
            )
        record["merge"] = merge
        if not (naive.clean or union_clean):
            record["attribution"] = self._attribution("merge_conflict", pair, apply_status, {}, {})
            return
        diff = _steps.read_text(sandbox, f"{PATCHES_DIR}/merged.patch")
        merge["diff"] = clip(diff, keep="head")
        if not diff.strip():  # both agents left nothing to test
            empty = {a: False for a in apply_status}
            record["attribution"] = self._attribution("own_implementation_failed", pair, apply_status, {}, empty)
            return
        for index in (1, 2):
            record[f"feature{index}"] = self._test(sandbox, base, pair, index, "merged.patch", limit)
        merged_ok = {f"agent{i}": bool(record[f"feature{i}"]["passed"]) for i in (1, 2)}
        alone: dict[str, dict[str, Any]] = {}
        alone_ok: dict[str, bool | None] = dict.fromkeys(merged_ok)
        for index, agent in ((1, "agent1"), (2, "agent2")):
            if merged_ok[agent] or record[f"feature{index}"]["timed_out"]:
                continue  # a hang is its own verdict; running the patch alone would likely hang again
            if apply_status[agent] != "applied":
                alone_ok[agent] = False  # an empty patch cannot pass its own feature
            elif self.attribution:
                alone[agent] = self._test(sandbox, base, pair, index, f"{agent}.applied.patch", limit)
                alone_ok[agent] = bool(alone[agent]["passed"])
        if any(not merged_ok[a] and alone_ok[a] is None for a in merged_ok):
            return  # undecidable without the alone runs (switched off, or the merged run hung)
        category = classify(merged_ok=merged_ok, alone_ok=alone_ok, naive_clean=naive.clean, union_clean=union_clean)
        record["attribution"] = self._attribution(category, pair, apply_status, merged_ok, alone_ok, alone)

    @staticmethod
    def _attribution(
        category: str | None,
        pair: Pair,
        apply_status: Mapping[str, str],
        merged_ok: Mapping[str, bool],
        alone_ok: Mapping[str, bool | None],
        alone: Mapping[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        agents = {}
        for index, agent in ((1, "agent1"), (2, "agent2")):
            entry: dict[str, Any] = {
                "feature_id": pair.features[index - 1],
                "apply_status": apply_status.get(agent),
                "merged_passed": merged_ok.get(agent),
                "alone_passed": alone_ok.get(agent),
            }
            if alone and agent in alone:
                entry["alone"] = alone[agent]
            agents[agent] = entry
        return {"category": category, "agents": agents}
