"""The same clean-merging pair in ``--setting solo`` (mini_swe_agent) and in coop with ``--agent openhands``."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_helpers import (
    DATASET,
    MODEL,
    NO_REDIS,
    PROBE_ANSWER,
    answered,
    apply_command,
    changed_lines,
    cli_env,
    cooperbench_run,
    expected_bill,
    gold_patch,
    has_asked,
    held,
    load,
    pair_path,
    request_index_with,
    write_agent_config,
)

from cooperbench.testing.llm_server import LLMTestServer, Reply, ScriptItem, Usage, bash, text, tool_call

REPO, TASK, FEATURES = "textkit_task", 1, (1, 3)
SELECT = ["--dataset-dir", str(DATASET), "-r", REPO, "-t", str(TASK), "-f", ",".join(map(str, FEATURES))]
USAGE = Usage(prompt_tokens=800, completion_tokens=40)


def test_solo_agent_applies_both_features_and_the_pair_passes(tmp_path: Path, cache_dir: Path) -> None:
    script: list[ScriptItem] = [
        bash(apply_command(gold_patch(REPO, TASK, FEATURES[0]), "one.patch")),
        bash(apply_command(gold_patch(REPO, TASK, FEATURES[1]), "two.patch")),
        bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"),
    ]
    logs = tmp_path / "logs"
    with LLMTestServer({"solo": script}, usage=USAGE, fallback=text(PROBE_ANSWER)) as server:
        config = write_agent_config(tmp_path / "agent.yaml", server, agent={"step_limit": 6})
        proc = cooperbench_run(
            ["-n", "solo", "--setting", "solo", "--agent", "mini_swe_agent", "-m", MODEL, "--agent-config",
             str(config), "--log-dir", str(logs), *SELECT],
            env=cli_env(cache_dir, tmp_path),
            cwd=tmp_path,
        )  # fmt: skip
        calls = answered(server, "solo", script)
        first = server.requests_for("solo")[0]
    assert proc.returncode == 0, proc.stdout + proc.stderr

    pdir = pair_path(logs, "solo", "solo", REPO, TASK, FEATURES)
    evaluation, result = load(pdir / "eval.json"), load(pdir / "result.json")
    assert evaluation["outcome"] == "pass", evaluation
    assert evaluation["setting"] == "solo"
    assert evaluation["feature1"]["passed"] and evaluation["feature2"]["passed"]
    assert load(logs / "solo" / "summary.json")["outcomes"] == {"pass": 1}
    # one agent was given both features and made both changes
    task_text = first.text_of("user")[0]
    assert "## Feature 1" in task_text and "## Feature 3" in task_text
    both = gold_patch(REPO, TASK, FEATURES[0]) + gold_patch(REPO, TASK, FEATURES[1])
    assert changed_lines((pdir / "solo.patch").read_text()) == changed_lines(both)
    assert not (pdir / "agent1.patch").exists()
    record = result["agents"]["solo"]
    assert record["status"] == "Submitted" and record["features"] == list(FEATURES)
    assert record["steps"] == calls == 3
    bill = expected_bill(calls, USAGE)
    assert record["cost"] == pytest.approx(bill.pop("cost"))
    assert {k: record[k] for k in bill} == bill
    assert load(pdir / "conversation.json") == []


OH_MESSAGES = {
    "agent1": "agent1 here: kebab_case goes into textkit/case.py, I export it too",
    "agent2": "agent2 here: I only touch textkit/slug.py and README.md",
}


def openhands_script(server: LLMTestServer) -> dict[str, list[ScriptItem]]:
    """OpenHands tool calls: agent1 writes first; each edits once the other has written, then finishes."""

    def send(sender: str, to: str) -> Reply:
        return tool_call("send_message", {"to": to, "message": OH_MESSAGES[sender]})

    def apply(feature: int) -> Reply:
        return tool_call("terminal", {"command": apply_command(gold_patch(REPO, TASK, feature))})

    return {
        "agent1": [
            send("agent1", "agent2"),
            held(apply(FEATURES[0]), has_asked(server, "agent2", 2)),
            tool_call("finish", {"message": "kebab_case is in"}),
        ],
        "agent2": [
            held(send("agent2", "agent1"), has_asked(server, "agent1", 2)),
            apply(FEATURES[1]),
            tool_call("finish", {"message": "slugify(max_length) is in"}),
        ],
    }


def test_openhands_coop_agents_message_apply_their_features_and_the_pair_passes(
    tmp_path: Path, cache_dir: Path
) -> None:
    logs = tmp_path / "logs"
    with LLMTestServer({"agent1": [], "agent2": []}, usage=USAGE) as server:
        script = openhands_script(server)
        for route, replies in script.items():
            server.add(*replies, route=route)
        config = write_agent_config(tmp_path / "agent.yaml", server, agent={"max_iterations": 8}, num_retries=1)
        proc = cooperbench_run(
            ["-n", "oh", "--agent", "openhands", "-m", MODEL, "--agent-config", str(config), "--log-dir", str(logs),
             "--redis", NO_REDIS, *SELECT],
            env=cli_env(cache_dir, tmp_path),
            cwd=tmp_path,
        )  # fmt: skip
        requests = {a: server.requests_for(a) for a in ("agent1", "agent2")}
        calls = {a: answered(server, a, script[a]) for a in ("agent1", "agent2")}
    assert proc.returncode == 0, proc.stdout + proc.stderr

    pdir = pair_path(logs, "oh", "coop", REPO, TASK, FEATURES)
    evaluation, result = load(pdir / "eval.json"), load(pdir / "result.json")
    assert evaluation["outcome"] == "pass", evaluation
    assert evaluation["merge"]["status"] == "clean"
    assert load(logs / "oh" / "summary.json")["outcomes"] == {"pass": 1}
    for agent_id, feature in zip(("agent1", "agent2"), FEATURES, strict=True):
        patch = (pdir / f"{agent_id}.patch").read_text()
        assert changed_lines(patch) == changed_lines(gold_patch(REPO, TASK, feature)), patch

    ledger = load(pdir / "conversation.json")
    conversation = [m for m in ledger if m["kind"] == "message"]  # the rest: notices and state changes
    assert [(m["from"], m["to"], m["text"]) for m in conversation] == [
        ("agent1", "agent2", OH_MESSAGES["agent1"]),
        ("agent2", "agent1", OH_MESSAGES["agent2"]),
    ]
    assert conversation[0]["id"] < conversation[1]["id"]
    assert [m["sender_step"] for m in conversation] == [1, 1]
    for message in conversation:
        shown = f"[Message from {message['from']}]: {message['text']}"
        assert message["receiver_step"] == request_index_with(requests[message["to"]], shown), message
        assert message["delivered_at"] is not None
    for agent_id in ("agent1", "agent2"):
        record = result["agents"][agent_id]
        assert record["status"] == "Submitted" and record["error"] is None, record
        assert record["steps"] == calls[agent_id] == 3
        assert record["sent_messages"] == 1
        bill = expected_bill(calls[agent_id], USAGE)
        assert record["cost"] == pytest.approx(bill.pop("cost"))
        assert (record["input_tokens"], record["output_tokens"]) == (bill["input_tokens"], bill["output_tokens"])
