"""The ``oracle`` agent: applies the task's gold ``feature.patch`` for its feature(s).

It uses no LLM and goes through the whole pipeline (backend sandbox, patch taken from the
working tree, evaluation), so it validates a dataset and a backend before paying for agents.
"""

from __future__ import annotations

import shlex
from typing import Any

from cooperbench.agents._base import AgentResult
from cooperbench.backends._context import active_run
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.errors import ConfigError
from cooperbench.patches import base_commit, working_tree_patch


class OracleAgent:
    """Applies the gold patches of the features the harness assigned (``config["task"]``)."""

    def run(
        self, task: str, image: str, *, agent_id: str = "agent", config: dict[str, Any] | None = None, **kwargs: Any
    ) -> AgentResult:
        info = (config or {}).get("task") or {}
        run = active_run()
        if run is None or run.task is None or "features" not in info:
            raise ConfigError(
                "the oracle agent needs the harness's task context (the active run's task and config['task']); "
                "run it with `cooperbench run`"
            )
        task_dir = run.task.path  # the harness's own copy of the dataset: agents never get this path
        features = list(info["features"])
        patch_files = [task_dir / f"feature{f}" / "feature.patch" for f in features]
        combined = task_dir / "combined.patch"
        if len(features) > 1 and combined.is_file():
            # Gold patches of one task may overlap; the task's combined patch is their reconciliation.
            patch_files = [combined]
        with SandboxEnvironment(image) as env:
            base = base_commit(env)
            log = []
            for i, path in enumerate(patch_files):
                target = f"/tmp/oracle_{i}.patch"
                env.sandbox.write_file(target, path.read_bytes())
                q = shlex.quote(target)
                out = env.execute(f"git apply --whitespace=nowarn {q} || git apply --3way {q}", timeout=120)
                log.append(f"$ git apply {path}\n{out['output']}")
                if out["returncode"] != 0:
                    return AgentResult(
                        status="Error",
                        patch=working_tree_patch(env, base),
                        steps=i + 1,
                        messages=[{"role": "tool", "content": "\n".join(log)}],
                        error=f"gold patch {path} does not apply: {out['output'][-2000:]}",
                    )
            patch = working_tree_patch(env, base)
        return AgentResult(
            status="Submitted",
            patch=patch,
            steps=len(patch_files),
            messages=[{"role": "tool", "content": "\n".join(log)}],
        )
