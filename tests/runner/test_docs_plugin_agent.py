"""The agent written in docs/plugins-agents.md ("The runner") runs through the pipeline as printed."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

from cooperbench.agents.registry import register
from cooperbench.runner import run

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins-agents.md"


def test_the_documented_agent_runs_and_its_patch_is_recorded(tmp_path):
    section = DOC.read_text().split("## The runner", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)  # type: ignore[union-attr]
    module = types.ModuleType("docs_plugin_agent")
    exec(compile(code, str(DOC), "exec"), module.__dict__)
    register("docs_my_agent")(module.MyAgent)

    run("doc", agent="docs_my_agent", dataset_dir=ROOT / "examples" / "dataset", logs_dir=tmp_path,
        repo="minicalc_task", features=[1, 2], auto_eval=False)  # fmt: skip
    pdir = tmp_path / "doc" / "coop" / "minicalc_task" / "2" / "f1_f2"
    result = json.loads((pdir / "result.json").read_text())
    assert result["outcome"] == "pending_eval" and result["agents"]["agent1"]["status"] == "Submitted"
    assert "+# notes" in (pdir / "agent1.patch").read_text()  # the untracked NOTES.md is in the patch
