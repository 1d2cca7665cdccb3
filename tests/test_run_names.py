"""Generated run names: two runs that differ in an option that changes results never share a folder."""

from __future__ import annotations

from pathlib import Path

from cooperbench.runner import run

DATASET = Path(__file__).resolve().parents[1] / "examples" / "dataset"


def folders(logs: Path) -> set[str]:
    return {p.name for p in logs.iterdir()}


def nop(logs: Path, **options: object) -> set[str]:
    before = folders(logs)
    run(agent="nop", dataset_dir=DATASET, logs_dir=logs, repo="textkit_task", task_id=1, features=[1, 2],
        redis_url="redis://127.0.0.1:1", auto_eval=False, **options)  # fmt: skip
    return folders(logs) - before


def test_runs_differing_only_in_messaging_or_in_agent_config_content_get_different_folders(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (with_messaging,) = nop(logs)
    (without,) = nop(logs, messaging_enabled=False)
    assert with_messaging != without and without.endswith("nomsg")
    config = tmp_path / "agent.yaml"  # the same file, two contents
    config.write_text("agent:\n  step_limit: 10\n")
    (first,) = nop(logs, agent_config=str(config))
    config.write_text("agent:\n  step_limit: 20\n")
    (second,) = nop(logs, agent_config=str(config))
    assert len({with_messaging, without, first, second}) == 4
    assert nop(logs, agent_config=str(config)) == set()  # the same experiment again: the same folder
