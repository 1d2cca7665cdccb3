"""The default evaluator (``merge``): merge the agents' patches with git and run each feature's tests.

Compatible with upstream CooperBench under a named scoring policy (:mod:`cooperbench.evaluation.policy`):
test files are dropped from each agent's patch by the policy's rule, each patch is applied on
its own branch from the base commit, the branches are folded together in agent order with
naive merges (``git merge --no-ff``), and on a conflict the policy decides: ``paper`` merges
again with ``* merge=union`` and tests that, ``upstream`` tests the lead agent's (agent1's)
patch alone against every feature's tests. Each feature's tests run from a clean base as
``runner.sh tests<i>.patch <patch>``. Everything happens in one fresh sandbox of the task image.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cooperbench.backends.base import PATCHES_DIR, Backend, RunLabels, Sandbox
from cooperbench.errors import ConfigError, CooperBenchError, DatasetError, SandboxError
from cooperbench.evaluation import _steps
from cooperbench.evaluation.attribution import classify
from cooperbench.evaluation.base import clip, feature_record, now_iso
from cooperbench.evaluation.memo import test_memo
from cooperbench.evaluation.patch_filter import prepare_patch
from cooperbench.evaluation.policy import ScoringPolicy, get_policy
from cooperbench.outcomes import decide_outcome
from cooperbench.patches import patch_bytes

if TYPE_CHECKING:
    from cooperbench.dataset import Pair, Task

__all__ = ["DEFAULT_TEST_TIMEOUT", "MergeEvaluator", "agent_ids_for", "task_inputs"]

#: Seconds one feature's test run may take before it is killed and recorded as timed out.
DEFAULT_TEST_TIMEOUT = 900.0


def task_inputs(task: Task, features: Sequence[int]) -> dict[str, bytes]:
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
        path = task.feature_file(feature_id, "tests.patch")
        if not path.is_file():
            raise DatasetError(f"{path}: missing tests.patch of feature {feature_id} of {task.repo}/task{task.task_id}")
        tests = path.read_bytes()
        files[f"tests{i}.patch"] = tests if tests.endswith(b"\n") else tests + b"\n"
    return files


def agent_ids_for(setting: str, n_features: int) -> list[str]:
    """The agents of a pair folder: ``agent1..agentN`` in feature order (coop), ``solo`` (solo)."""
    return ["solo"] if setting == "solo" else [f"agent{i}" for i in range(1, n_features + 1)]


def _apply_error_message(agent: str, feature_id: int | None, git_output: str) -> str:
    lines = [ln for ln in git_output.splitlines() if ln.startswith("error:")]
    owner = f" (feature {feature_id})" if feature_id is not None else ""
    head = "; ".join(dict.fromkeys(lines[:4])) or git_output.strip()[:300]
    return f"{agent}.patch{owner} does not apply to the base commit: {head}"


class MergeEvaluator:
    """Evaluator plugin ``merge``: implements :class:`cooperbench.evaluation.Evaluator`.

    Args:
        policy: the scoring policy, ``upstream`` (default) or ``paper`` (see docs/outcomes.md).
        test_timeout: seconds each test run may take (overridden per call by ``timeout``).
        attribution: for a failing coop pair, also test each failing feature on its own
            agent's patch alone to tell whose work failed (one extra run per failing feature).
        memoize: reuse a test run already made in this process with the same inputs
            (:mod:`cooperbench.evaluation.memo`); the verdicts are the same either way.

    Raises:
        ConfigError: ``policy`` is not a known policy.
    """

    name = "merge"

    def __init__(
        self,
        *,
        policy: str | ScoringPolicy | None = None,
        test_timeout: float = DEFAULT_TEST_TIMEOUT,
        attribution: bool = True,
        memoize: bool = True,
    ) -> None:
        self.scoring = get_policy(policy)
        self.policy = self.scoring.name
        self.test_timeout = test_timeout
        self.attribution = attribution
        self.memoize = memoize

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
        features = list(pair.features)
        agents = agent_ids_for(setting, len(features))
        record: dict[str, Any] = {
            "repo": pair.repo,
            "task_id": pair.task_id,
            "features": features,
            "setting": setting,
            "evaluator": self.name,
            "policy": self.policy,
            "agents": agents,
            "apply_status": dict.fromkeys(agents, "not_run"),
            "apply_errors": {},
            "merge": None if setting == "solo" else {"status": "missing_input", "strategy": None, "diff": ""},
            **{f"feature{i}": feature_record(f) for i, f in enumerate(features, start=1)},
            "both_passed": False,
            "error": None,
            "error_kind": None,
            "evaluated_at": now_iso(),
            "outcome": None,
            "attribution": None,
        }
        timings: dict[str, float] = {}
        sandbox: Sandbox | None = None
        try:
            if setting not in ("coop", "solo", "team"):  # a team's patches are graded as coop's
                raise ConfigError(f"setting must be coop, solo or team, got {setting!r} for {pair.key}")
            files = task_inputs(pair.task, features)
            prepared_patches = {a: prepare_patch(patches.get(a), self.scoring.test_path) for a in agents}
            for agent, text in prepared_patches.items():
                files[f"{agent}.patch"] = patch_bytes(text)
            mark = time.monotonic()
            image = backend.resolve_image(pair.task)
            sandbox = backend.create_sandbox(image, run=run, purpose="eval")
            for name, data in files.items():
                sandbox.write_file(f"{PATCHES_DIR}/{name}", data, mode=0o755 if name == "runner.sh" else 0o644)
            timings["sandbox"] = time.monotonic() - mark
            limit = timeout if timeout is not None else self.test_timeout
            job = _Job(self, sandbox, backend.name, image, pair, record, limit, timings)
            if setting == "solo":
                job.solo()
            else:
                job.coop(agents, prepared_patches)
        except DatasetError as exc:
            record["error"], record["error_kind"] = f"{type(exc).__name__}: {exc}", "dataset_error"
        except (CooperBenchError, OSError) as exc:
            record["error"], record["error_kind"] = f"{type(exc).__name__}: {exc}", "infra_error"
        finally:
            if sandbox is not None:
                sandbox.cleanup()
        results = [record[f"feature{i}"] for i in range(1, len(features) + 1)]
        record["feature_results"] = [{k: v for k, v in r.items() if k != "test_output"} for r in results]
        record["both_passed"] = bool(results) and all(r["passed"] for r in results)
        record["outcome"] = decide_outcome(record, agent_statuses).value
        record["evaluated_at"] = now_iso()
        timings["total"] = time.monotonic() - started
        record["timings"] = {k: round(v, 3) for k, v in timings.items()}
        record["eval_duration"] = record["timings"]["total"]
        return record


class _Job:
    """One pair's evaluation in one sandbox."""

    def __init__(
        self,
        evaluator: MergeEvaluator,
        sandbox: Sandbox,
        backend_name: str,
        image: str,
        pair: Pair,
        record: dict[str, Any],
        limit: float,
        timings: dict[str, float],
    ) -> None:
        self.ev, self.sandbox, self.backend_name, self.image = evaluator, sandbox, backend_name, image
        self.pair, self.record, self.limit, self.timings = pair, record, limit, timings
        self.policy = evaluator.scoring
        self.ctx: _steps.TestContext | None = None

    # --- steps ---------------------------------------------------------------------------

    def prepare(self, branches: Sequence[str], *, merge: bool) -> _steps.Prepared:
        mark = time.monotonic()
        prepared = _steps.prepare(self.sandbox, branches, merge=merge, union=self.policy.union_fallback)
        self.timings["merge"] = time.monotonic() - mark
        self.ctx = _steps.TestContext(
            backend=self.backend_name,
            image=self.image,
            base=prepared.base,
            clean=self.policy.clean,
            hashes=prepared.hashes,
            memo=test_memo() if self.ev.memoize else None,
        )
        self.record["apply_status"] = prepared.apply_status
        self.record["apply_errors"] = prepared.apply_errors
        failed = [a for a in branches if prepared.apply_status.get(a) == "failed"]
        if failed:
            features = dict(zip(self.record["agents"], self.pair.features, strict=False))
            self.record["error"] = "; ".join(
                _apply_error_message(a, features.get(a), prepared.apply_errors.get(a, "")) for a in failed
            )
            self.record["error_kind"] = "apply_failed"
        return prepared

    def test(self, index: int, patch_file: str) -> dict[str, Any]:
        """Feature ``index`` (1-based)'s tests on ``/patches/<patch_file>``."""
        assert self.ctx is not None
        mark = time.monotonic()
        result = _steps.run_tests(self.sandbox, self.ctx, f"tests{index}.patch", patch_file, timeout=self.limit)
        self.timings["tests"] = self.timings.get("tests", 0.0) + time.monotonic() - mark
        return result.record(self.pair.features[index - 1])

    # --- settings ------------------------------------------------------------------------

    def solo(self) -> None:
        prepared = self.prepare(("solo",), merge=False)
        if prepared.apply_status["solo"] != "applied":
            return
        # The tested patch is git's own diff of what applied, as the merged patch is in coop.
        for index in range(1, len(self.pair.features) + 1):
            self.record[f"feature{index}"] = self.test(index, "solo.applied.patch")

    def coop(self, agents: list[str], patches: Mapping[str, str]) -> None:
        record = self.record
        texts = [patches[a] for a in agents]
        identical = self.policy.skip_identical and bool(texts[0]) and all(t == texts[0] for t in texts)
        prepared = self.prepare(agents, merge=not identical)
        apply_status = prepared.apply_status
        n = len(agents)
        if identical:
            record["merge"] = {"status": "identical", "strategy": "skip-merge-identical", "diff": ""}
            if apply_status[agents[0]] != "applied":
                record["attribution"] = self._attribution("own_implementation_failed", apply_status, {}, {})
                return
            applied = _steps.read_text(self.sandbox, f"{PATCHES_DIR}/agent1.applied.patch")
            record["merge"]["diff"] = clip(applied, keep="head")
            self._test_all("agent1.applied.patch")
            self._attribute(apply_status, merged_clean=True, union_clean=None)
            return
        if "failed" in apply_status.values():
            # Nothing merged is tested; under `upstream` the lead's patch alone may still carry the pair.
            if self.policy.lead_fallback and apply_status.get("agent1") == "applied":
                self._lead_alone(n)
            unusable = {a: False if s != "applied" else None for a, s in apply_status.items()}
            if not self._lead_passed():
                record["attribution"] = self._attribution("own_implementation_failed", apply_status, {}, unusable)
            else:
                record["attribution"] = self._attribution("lead_rescued", apply_status, {}, {})
            return
        steps = prepared.steps
        if n > 1 and not steps:
            raise SandboxError(f"the merge of the agents' branches did not run in sandbox {self.sandbox.id}")
        naive_clean = all(s.naive_clean for s in steps) and len(steps) == n - 1
        merge: dict[str, Any] = {
            "status": "clean" if naive_clean else "conflicts",
            "strategy": "naive",
            "diff": "",
            "steps": [s.record() for s in steps],
        }
        conflict_files = sorted({f for s in steps for f in s.conflict_files})
        union_clean: bool | None = None
        if not naive_clean:
            merge["conflict_files"] = conflict_files
            if self.policy.union_fallback:
                union_clean = prepared.merged
                merge.update(strategy="union", union_status="clean" if union_clean else "conflicts")
        record["merge"] = merge
        if not prepared.merged:
            if self.policy.lead_fallback and apply_status.get("agent1") == "applied":
                self._lead_alone(n)
            category = "lead_rescued" if self._lead_passed() else "merge_conflict"
            record["attribution"] = self._attribution(category, apply_status, {}, {})
            return
        diff = _steps.read_text(self.sandbox, f"{PATCHES_DIR}/merged.patch")
        merge["diff"] = clip(diff, keep="head")
        if not diff.strip():  # no agent left anything to test
            empty = dict.fromkeys(apply_status, False)
            record["attribution"] = self._attribution("own_implementation_failed", apply_status, {}, empty)
            return
        self._test_all("merged.patch")
        self._attribute(apply_status, merged_clean=naive_clean, union_clean=union_clean)

    # --- helpers -------------------------------------------------------------------------

    def _test_all(self, patch_file: str) -> None:
        for index in range(1, len(self.pair.features) + 1):
            self.record[f"feature{index}"] = self.test(index, patch_file)

    def _lead_alone(self, n: int) -> None:
        """Upstream's fallback: agent1's patch alone against each feature's tests, stopping at the
        first that fails; when all pass, those runs are the pair's results (``solo-agent1``)."""
        runs: list[dict[str, Any]] = []
        for index in range(1, n + 1):
            runs.append(self.test(index, "agent1.applied.patch"))
            if not runs[-1]["passed"]:
                break
        passed = len(runs) == n and all(r["passed"] for r in runs)
        merge = self.record["merge"]
        merge["lead_alone"] = {"agent": "agent1", "passed": passed, "results": runs}
        if passed:
            merge["strategy"] = "solo-agent1"
            for index, result in enumerate(runs, start=1):
                self.record[f"feature{index}"] = result

    def _lead_passed(self) -> bool:
        lead = (self.record.get("merge") or {}).get("lead_alone") or {}
        return bool(lead.get("passed"))

    def _attribute(self, apply_status: Mapping[str, str], *, merged_clean: bool, union_clean: bool | None) -> None:
        record, agents = self.record, self.record["agents"]
        merged_ok = {a: bool(record[f"feature{i}"]["passed"]) for i, a in enumerate(agents, start=1)}
        alone: dict[str, dict[str, Any]] = {}
        alone_ok: dict[str, bool | None] = dict.fromkeys(merged_ok)
        for index, agent in enumerate(agents, start=1):
            if merged_ok[agent] or record[f"feature{index}"]["timed_out"]:
                continue  # a hang is its own verdict; running the patch alone would likely hang again
            if apply_status[agent] != "applied":
                alone_ok[agent] = False  # an empty patch cannot pass its own feature
            elif self.ev.attribution:
                alone[agent] = self.test(index, f"{agent}.applied.patch")
                alone_ok[agent] = bool(alone[agent]["passed"])
        if any(not merged_ok[a] and alone_ok[a] is None for a in merged_ok):
            return  # undecidable without the alone runs (switched off, or the merged run hung)
        category = classify(merged_ok=merged_ok, alone_ok=alone_ok, naive_clean=merged_clean, union_clean=union_clean)
        record["attribution"] = self._attribution(category, apply_status, merged_ok, alone_ok, alone)

    def _attribution(
        self,
        category: str | None,
        apply_status: Mapping[str, str],
        merged_ok: Mapping[str, bool],
        alone_ok: Mapping[str, bool | None],
        alone: Mapping[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        agents = {}
        for index, agent in enumerate(self.record["agents"], start=1):
            entry: dict[str, Any] = {
                "feature_id": self.pair.features[index - 1],
                "apply_status": apply_status.get(agent),
                "merged_passed": merged_ok.get(agent),
                "alone_passed": alone_ok.get(agent),
            }
            if alone and agent in alone:
                entry["alone"] = alone[agent]
            agents[agent] = entry
        return {"category": category, "agents": agents}
