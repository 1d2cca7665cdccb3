"""Never lose agent work or spend (#10.5): a hung or interrupted agent's working tree is its patch,
and every attempt's cost, tokens and steps are recorded and counted."""

from __future__ import annotations

import _thread
import json
import threading
import time
from pathlib import Path

from cooperbench.agents import AgentResult
from cooperbench.agents.registry import register
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.errors import InfraError
from cooperbench.runner import run

DATASET = Path(__file__).resolve().parents[2] / "examples" / "dataset"
WORK = (
    "printf 'committed work\\n' > committed.txt && git add committed.txt && "
    "git -c user.name=a -c user.email=a@example.com commit -qm wip && printf 'unsaved work\\n' > unsaved.txt"
)
_tries = {"agent2": 0}
_interrupt = {"next_run": False}
_lock = threading.Lock()


def _spent(steps: int, cost: float, error: BaseException) -> BaseException:
    error.partial_result = AgentResult(  # type: ignore[attr-defined]
        status="Error", patch="", cost=cost, steps=steps, messages=[], error=str(error), input_tokens=100 * steps
    )
    return error


@register("t_faults_lost")
class LosingAgent:
    """agent1 works, then hangs (or interrupts the run); agent2 spends, then fails (infra, then its own bug)."""

    def run(self, task, image, *, agent_id="agent", **kwargs):
        if agent_id == "agent1":
            with SandboxEnvironment(image) as env:
                assert env.execute(WORK)["returncode"] == 0
                if _interrupt.pop("next_run", False):
                    _thread.interrupt_main()  # Ctrl-C while this agent is mid-work
                env.execute("sleep 600", timeout=900)
            return AgentResult(status="Submitted", patch="", steps=1)
        with _lock:
            _tries["agent2"] += 1
            attempt = _tries["agent2"]
        if attempt == 1:
            raise _spent(2, 0.5, InfraError("LLM provider failure after 4 attempts (scripted)"))
        raise _spent(1, 0.25, RuntimeError("the agent's own bug"))


def load(path: Path):
    return json.loads(path.read_text())


def test_timed_out_agents_work_is_its_patch_and_every_attempts_spend_is_counted(tmp_path):
    _tries["agent2"] = 0
    summary = run("lost", agent="t_faults_lost", dataset_dir=DATASET, logs_dir=tmp_path, repo="textkit_task",
                  features=[1, 2], agent_timeout=4, attempts=2, auto_eval=False, messaging_enabled=False,
                  _return_summary=True)  # fmt: skip
    pdir = tmp_path / "lost" / "coop" / "textkit_task" / "1" / "f1_f2"
    result = load(pdir / "result.json")
    # attempt 1: agent2's provider outage (infra_error, retried); attempt 2: agent1's timeout wins over agent2's bug
    assert result["outcome"] == "timeout" and _tries["agent2"] == 2
    hung = result["agents"]["agent1"]
    assert hung["error_kind"] == "timeout" and hung["patch_source"] == "rescued" and hung["patch_bytes"] > 0
    patch = (pdir / "agent1.patch").read_text()
    assert "+committed work" in patch and "+unsaved work" in patch  # committed and uncommitted work, from the base
    assert "+unsaved work" in (pdir / "attempts" / "1" / "agent1.patch").read_text()  # the first try's work is kept

    failed = result["agents"]["agent2"]
    assert failed["error_kind"] == "agent_error" and failed["cost"] == 0.25 and failed["steps"] == 1
    history = result["attempts"]
    assert [a["outcome"] for a in history] == ["infra_error", "timeout"] and [a["number"] for a in history] == [1, 2]
    assert history[0]["agents"]["agent2"] == {**history[0]["agents"]["agent2"], "cost": 0.5, "steps": 2,
                                              "input_tokens": 200, "error_kind": "infra_error"}  # fmt: skip
    assert result["spent"] == {**result["spent"], "cost": 0.75, "steps": 3, "input_tokens": 300, "attempts": 2}
    assert load(pdir / "attempts.json") == history
    assert summary is not None and summary["cost"] == 0.75 and summary["tokens"]["input_tokens"] == 300


def test_interrupted_agents_work_is_saved_and_survives_the_resumed_run(tmp_path):
    _tries["agent2"] = 1  # agent2 fails at once with its own bug: the pair waits on agent1 only
    _interrupt["next_run"] = True
    summary = run("interrupted", agent="t_faults_lost", dataset_dir=DATASET, logs_dir=tmp_path, repo="textkit_task",
                  features=[1, 2], auto_eval=False, messaging_enabled=False, _return_summary=True)  # fmt: skip
    assert summary is not None and summary["interrupted"] is True
    pdir = tmp_path / "interrupted" / "coop" / "textkit_task" / "1" / "f1_f2"
    assert not (pdir / "result.json").exists()  # not marked done: the next run resumes it
    for saved in (pdir / "agent1.patch", pdir / "attempts" / "1" / "agent1.patch"):
        assert "+unsaved work" in saved.read_text() and "+committed work" in saved.read_text()
    deadline = time.monotonic() + 60  # the pair's own thread records the try once its agents are gone
    while not (pdir / "attempts.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    (entry,) = load(pdir / "attempts.json")
    assert entry["outcome"] == "interrupted" and entry["agents"]["agent1"]["patch_bytes"] > 0

    run("interrupted", agent="t_faults_lost", dataset_dir=DATASET, logs_dir=tmp_path, repo="textkit_task",
        features=[1, 2], agent_timeout=4, auto_eval=False, messaging_enabled=False)  # fmt: skip
    result = load(pdir / "result.json")
    assert [a["outcome"] for a in result["attempts"]] == ["interrupted", "timeout"]
    assert "+unsaved work" in (pdir / "attempts" / "1" / "agent1.patch").read_text()
