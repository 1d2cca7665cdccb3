"""``evaluate()`` over a run folder: discovery, skipping, filters, both patch layouts, summary.json."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from cooperbench.backends.local import LocalBackend
from cooperbench.dataset import discover_pairs
from cooperbench.errors import DatasetError
from cooperbench.evaluation import discover_pair_dirs, evaluate, read_pair_patches
from cooperbench.outcomes import pass_rate

from .conftest import EXAMPLES


def gold(repo: str, task_id: int, feature: int) -> str:
    return (EXAMPLES / repo / f"task{task_id}" / f"feature{feature}" / "feature.patch").read_text()


def write_pair(run_dir: Path, setting: str, repo: str, task_id: int, features: tuple[int, int], files: dict[str, str],
               statuses: dict[str, str] | None = None) -> Path:  # fmt: skip
    pdir = run_dir / setting / repo / str(task_id) / f"f{features[0]}_f{features[1]}"
    pdir.mkdir(parents=True)
    for name, text in files.items():
        (pdir / name).write_text(text)
    agents = {aid: {"status": status, "error_kind": None} for aid, status in (statuses or {}).items()}
    (pdir / "result.json").write_text(json.dumps({"repo": repo, "task_id": task_id, "agents": agents}))
    return pdir


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run with four coop pairs (one in upstream's layout, one whose agent crashed) and one solo pair."""
    run = tmp_path / "logs" / "run1"
    tk, mc = "textkit_task", "minicalc_task"
    write_pair(run, "coop", tk, 1, (1, 3), {"agent1.patch": gold(tk, 1, 1), "agent2.patch": gold(tk, 1, 3)})
    write_pair(run, "coop", tk, 1, (1, 2), {"agent1.patch": gold(tk, 1, 1), "agent2.patch": gold(tk, 1, 2)})
    # upstream names coop patches after their feature: agent2.patch is f2's, agent4.patch f4's
    write_pair(run, "coop", mc, 2, (2, 4), {"agent2.patch": gold(mc, 2, 2), "agent4.patch": gold(mc, 2, 4)})
    crashed = {"agent1": "Error", "agent2": "Submitted"}
    write_pair(run, "coop", mc, 2, (1, 3), {"agent1.patch": "", "agent2.patch": gold(mc, 2, 3)}, statuses=crashed)
    write_pair(run, "solo", tk, 1, (1, 3), {"solo.patch": gold(tk, 1, 1)})
    (run / "summary.json").write_text(json.dumps({"run_name": "run1", "cost": 1.25}))
    return run


def run_eval(run_dir: Path, backend: LocalBackend, **kw: Any) -> tuple[dict[str, Any], str]:
    out = io.StringIO()
    result = evaluate(
        "run1", logs_dir=run_dir.parent, dataset_dir=EXAMPLES, backend=backend,
        console=Console(file=out, width=200, force_terminal=False), **kw,
    )  # fmt: skip
    return result, out.getvalue()


def outcomes_of(run_dir: Path, name: str = "eval.json") -> dict[str, str]:
    return {
        str(path.parent.relative_to(run_dir)): json.loads(path.read_text())["outcome"]
        for path in sorted(run_dir.glob(f"*/*/*/*/{name}"))
    }


def test_evaluate_writes_eval_json_per_pair_and_the_summary(run_dir: Path, backend: LocalBackend) -> None:
    result, printed = run_eval(run_dir, backend, concurrency=2)
    outcomes = outcomes_of(run_dir)
    assert outcomes == {
        "coop/minicalc_task/2/f1_f3": "agent_error",
        "coop/minicalc_task/2/f2_f4": "pass",
        "coop/textkit_task/1/f1_f2": "merge_conflict",  # upstream: the lead's patch alone fails f2's tests
        "coop/textkit_task/1/f1_f3": "pass",
        "solo/textkit_task/1/f1_f3": "fail_tests",
    }
    assert {json.loads(p.read_text())["policy"] for p in run_dir.glob("*/*/*/*/eval.json")} == {"upstream"}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["cost"] == 1.25  # the runner's part is kept
    part = summary["evaluation"]
    assert part["policy"] == "upstream" and result["policy"] == "upstream"
    assert part["pairs"] == 5 and part["outcomes"]["pass"] == 2 and part["outcomes"]["agent_error"] == 1
    assert part["pass_rate"] == pass_rate(outcomes.values())
    assert part["by_setting"]["coop"]["pass_rate"]["pass_rate"] == 0.5
    assert part["merge"] == {"clean": 3, "conflicts": 1}
    assert result["this_invocation"] == {"evaluated": 5, "skipped": 0, "errors": 0}
    assert "✓ pass textkit_task/1" in printed and "merge conflicts → lead alone fails" in printed
    assert "pass rate (upstream) 40.0% (2/5 pairs" in printed


def test_regrading_under_the_paper_policy_writes_beside_the_runs_own_results(
    run_dir: Path, backend: LocalBackend
) -> None:
    run_eval(run_dir, backend, concurrency=2)
    own = {p: p.read_bytes() for p in run_dir.glob("*/*/*/*/eval.json")}
    result, printed = run_eval(run_dir, backend, concurrency=2, policy="paper")
    assert {p: p.read_bytes() for p in run_dir.glob("*/*/*/*/eval.json")} == own  # never over the run's own
    paper = outcomes_of(run_dir, "eval.paper.json")
    assert paper["coop/textkit_task/1/f1_f2"] == "pass"  # the union merge rescues the conflict
    assert sum(o == "pass" for o in paper.values()) == 3 and len(paper) == 5
    record = json.loads((run_dir / "coop/textkit_task/1/f1_f2/eval.paper.json").read_text())
    assert record["policy"] == "paper" and record["merge"]["strategy"] == "union"
    part = json.loads((run_dir / "summary.json").read_text())["evaluation"]
    assert part["policy"] == "upstream" and part["pass_rate"]["passed"] == 2  # eval.json: the run's own
    assert part["by_policy"]["paper"]["pass_rate"]["passed"] == 3
    assert part["by_policy"]["upstream"]["pass_rate"]["passed"] == 2
    assert result["policy"] == "paper" and result["policy_pass_rate"]["passed"] == 3
    assert "under the paper policy (eval.paper.json)" in printed and "pass rate (paper) 60.0% (3/5" in printed
    again, _ = run_eval(run_dir, backend, policy="paper")
    assert again["this_invocation"] == {"evaluated": 0, "skipped": 5, "errors": 0}


def test_an_unknown_policy_is_refused_with_the_known_ones(run_dir: Path, backend: LocalBackend) -> None:
    from cooperbench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown scoring policy 'strict'.*upstream, paper"):
        run_eval(run_dir, backend, policy="strict")
    assert not list(run_dir.glob("*/*/*/*/eval*.json"))


def test_pairs_with_eval_json_are_skipped_unless_forced_and_the_summary_covers_all(
    run_dir: Path, backend: LocalBackend
) -> None:
    run_eval(run_dir, backend, features=[1, 3], repo="textkit_task")
    assert len(list(run_dir.glob("*/*/*/*/eval.json"))) == 2  # coop and solo f1_f3 of textkit
    result, _ = run_eval(run_dir, backend, repo="textkit_task")
    assert result["this_invocation"] == {"evaluated": 1, "skipped": 2, "errors": 0}
    assert result["pairs"] == 3  # from every eval.json, not just this invocation's
    forced, _ = run_eval(run_dir, backend, repo="textkit_task", task_id=1, features=[1, 3], force=True)
    assert forced["this_invocation"] == {"evaluated": 2, "skipped": 0, "errors": 0}


def test_an_infra_error_evaluation_is_retried(run_dir: Path, backend: LocalBackend) -> None:
    pdir = run_dir / "coop" / "textkit_task" / "1" / "f1_f3"
    (pdir / "eval.json").write_text(json.dumps({"outcome": "infra_error", "error": "SandboxError: gone"}))
    result, _ = run_eval(run_dir, backend, repo="textkit_task", features=[1, 3])
    assert result["this_invocation"]["evaluated"] == 2
    assert json.loads((pdir / "eval.json").read_text())["outcome"] == "pass"


def test_subset_filter_selects_the_subsets_pairs(run_dir: Path) -> None:
    from cooperbench.dataset import load_subset

    selection = load_subset(EXAMPLES, "lite")
    keys = {pd.key for pd in discover_pair_dirs(run_dir, selection=selection)}
    assert keys == {"coop/textkit_task/1/f1_f3", "coop/textkit_task/1/f1_f2", "coop/minicalc_task/2/f2_f4",
                    "solo/textkit_task/1/f1_f3"}  # fmt: skip


def test_both_patch_layouts_are_read(run_dir: Path) -> None:
    upstream = read_pair_patches(run_dir / "coop" / "minicalc_task" / "2" / "f2_f4", "coop", (2, 4))
    assert upstream["agent1"] == gold("minicalc_task", 2, 2).encode()
    assert upstream["agent2"] == gold("minicalc_task", 2, 4).encode()
    ours = read_pair_patches(run_dir / "coop" / "minicalc_task" / "2" / "f1_f3", "coop", (1, 3))
    assert ours == {"agent1": b"", "agent2": gold("minicalc_task", 2, 3).encode()}


def test_a_missing_run_folder_names_the_runs_there(run_dir: Path) -> None:
    with pytest.raises(DatasetError, match=r"no such run folder.*run1"):
        evaluate("nope", logs_dir=run_dir.parent, dataset_dir=EXAMPLES)


def test_a_pair_of_a_task_missing_from_the_dataset_is_reported_and_the_rest_evaluated(
    tmp_path: Path, backend: LocalBackend
) -> None:
    run = tmp_path / "logs" / "run1"
    write_pair(run, "coop", "textkit_task", 9, (1, 3), {"agent1.patch": "", "agent2.patch": ""})
    write_pair(run, "coop", "textkit_task", 1, (1, 3), {"agent1.patch": "", "agent2.patch": ""})
    result, printed = run_eval(run, backend)
    assert result["this_invocation"] == {"evaluated": 1, "skipped": 0, "errors": 1}
    # the console wraps at its width, wherever the (run-dependent) path lengths put the break
    assert "textkit_task/task9 is not in the dataset" in " ".join(printed.split())
    assert (run / "coop" / "textkit_task" / "1" / "f1_f3" / "eval.json").is_file()


def test_discovered_pairs_match_the_dataset_pairs(run_dir: Path) -> None:
    found = [(pd.repo, pd.task_id, pd.features) for pd in discover_pair_dirs(run_dir) if pd.setting == "coop"]
    dataset = {(p.repo, p.task_id, p.features) for p in discover_pairs(EXAMPLES)}
    assert set(found) <= dataset and len(found) == 4


def test_agent_statuses_are_read_from_ours_and_upstreams_result_json(tmp_path: Path) -> None:
    from cooperbench.evaluation import read_agent_statuses

    (tmp_path / "result.json").write_text(
        json.dumps(
            {"agents": {"agent1": {"status": "Timeout", "error_kind": "timeout"}, "agent2": {"status": "Submitted"}}}
        )
    )
    assert read_agent_statuses(tmp_path) == {"agent1": "timeout", "agent2": "Submitted"}
    (tmp_path / "result.json").write_text(json.dumps({"agent": {"status": "Error"}}))  # upstream solo
    assert read_agent_statuses(tmp_path) == {"solo": "Error"}
    (tmp_path / "result.json").write_text("{not json")
    assert read_agent_statuses(tmp_path) == {}
