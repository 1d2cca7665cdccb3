"""Evaluators are plugins: the documented minimal evaluator, registered through a hookimpl, runs via --evaluator."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import pytest

from cooperbench.errors import UnknownPluginError
from cooperbench.evaluation import evaluate, get_evaluator
from cooperbench.plugins import get_host

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "dataset"
DOC = ROOT / "docs" / "plugins-evaluators.md"


@pytest.fixture(scope="module")
def applies_evaluator():
    """The docs' evaluator and plugin modules, registered with the plugin host like an installed plugin."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    package = "cooperbench_evaluator_applies_doc"
    evaluator_mod = types.ModuleType(f"{package}.evaluator")
    exec(compile(blocks[0], str(DOC), "exec"), evaluator_mod.__dict__)
    sys.modules[f"{package}.evaluator"] = evaluator_mod
    plugin_source = blocks[1].replace("cooperbench_evaluator_applies.evaluator", f"{package}.evaluator")
    plugin_mod = types.ModuleType(f"{package}.plugin")
    exec(compile(plugin_source, str(DOC), "exec"), plugin_mod.__dict__)
    get_host().add_plugin(plugin_mod, name="evaluator-applies-doc", distribution="docs-example")
    return "applies"


def test_the_documented_evaluator_is_selected_by_name(tmp_path, applies_evaluator):
    pdir = tmp_path / "logs" / "r" / "coop" / "textkit_task" / "1" / "f1_f3"
    pdir.mkdir(parents=True)
    gold = EXAMPLES / "textkit_task" / "task1"
    (pdir / "agent1.patch").write_text((gold / "feature1" / "feature.patch").read_text())
    (pdir / "agent2.patch").write_text("diff --git a/nope b/nope\ncorrupt\n")
    (pdir / "result.json").write_text(json.dumps({"repo": "textkit_task", "task_id": 1, "agents": {}}))
    evaluate("r", logs_dir=tmp_path / "logs", dataset_dir=EXAMPLES, backend="local", evaluator=applies_evaluator)
    record = json.loads((pdir / "eval.json").read_text())
    assert record["apply_status"] == {"agent1": "applied", "agent2": "failed"}
    assert record["outcome"] == "apply_failed"
    summary = json.loads((tmp_path / "logs" / "r" / "summary.json").read_text())
    assert summary["outcomes"] == {"apply_failed": 1}


def test_an_unknown_evaluator_lists_the_installed_ones():
    with pytest.raises(UnknownPluginError, match=r"Installed evaluators: .*merge"):
        get_evaluator("nonexistent")
