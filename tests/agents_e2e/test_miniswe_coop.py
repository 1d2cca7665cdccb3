"""``cooperbench run`` of two scripted ``mini_swe_agent`` teammates: messages, gold edits, evaluation, cost.

The CLI runs as a subprocess on the ``local`` backend and the example dataset; the model is the
LLM test server reached through LiteLLM. Each agent tells the other what it takes, applies its
feature's gold patch with a bash command and submits; the run evaluates the merge.
"""

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

from cooperbench.testing.llm_server import LLMTestServer, Reply, ScriptItem, Usage, bash, text

REPO, TASK, FEATURES = "textkit_task", 1, (1, 3)  # merges cleanly; both features' tests pass on the merge
USAGE = Usage(prompt_tokens=1000, completion_tokens=50, cached_tokens=200)
SUBMIT = bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")
MESSAGES = {
    "agent1": "agent1 here: I take kebab_case in textkit/case.py and textkit/__init__.py",
    "agent2": "agent2 here: I take slugify(max_length) in textkit/slug.py and README.md",
}


def send(sender: str, to: str) -> Reply:
    return bash(f"send_message {to} <<'MSG'\n{MESSAGES[sender]}\nMSG")


def coop_script(server: LLMTestServer) -> dict[str, list[ScriptItem]]:
    """agent1 writes first; each applies its gold patch only once the other has written.

    An agent's second request comes after its first command (the ``send_message``) ran, so
    holding a reply until the teammate's second request fixes the order of the messages.
    """
    return {
        "agent1": [
            send("agent1", "agent2"),
            held(bash(apply_command(gold_patch(REPO, TASK, FEATURES[0]))), has_asked(server, "agent2", 2)),
            SUBMIT,
        ],
        "agent2": [
            held(send("agent2", "agent1"), has_asked(server, "agent1", 2)),
            bash(apply_command(gold_patch(REPO, TASK, FEATURES[1]))),
            SUBMIT,
        ],
    }


def test_coop_agents_message_each_other_apply_their_features_and_the_pair_passes(
    tmp_path: Path, cache_dir: Path
) -> None:
    logs = tmp_path / "logs"
    with LLMTestServer({"agent1": [], "agent2": []}, usage=USAGE, fallback=text(PROBE_ANSWER)) as server:
        script = coop_script(server)
        for route, replies in script.items():
            server.add(*replies, route=route)
        config = write_agent_config(
            tmp_path / "agent.yaml",
            server,
            agent={"step_limit": 8},
            num_retries=2,
            retry_min_wait=0.01,
            retry_max_wait=0.1,
        )
        proc = cooperbench_run(
            ["-n", "coop", "--agent", "mini_swe_agent", "-m", MODEL, "--agent-config", str(config),
             "--dataset-dir", str(DATASET),
             "--log-dir", str(logs), "-r", REPO, "-t", str(TASK), "-f", ",".join(map(str, FEATURES)),
             "--redis", NO_REDIS],
            env=cli_env(cache_dir, tmp_path),
            cwd=tmp_path,
        )  # fmt: skip
        requests = {a: server.requests_for(a) for a in ("agent1", "agent2")}
        calls = {a: answered(server, a, script[a]) for a in ("agent1", "agent2")}
        unrouted = [r for r in server.chat_requests if r.route is None]
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # the preflight probed the model once, before the agents
    (probe,) = unrouted
    assert "preflight" in probe.text_of("user")[0]
    assert probe.received_at < min(r.received_at for r in requests["agent1"] + requests["agent2"])

    pdir = pair_path(logs, "coop", "coop", REPO, TASK, FEATURES)
    result, evaluation = load(pdir / "result.json"), load(pdir / "eval.json")
    summary = load(logs / "coop" / "summary.json")
    assert evaluation["outcome"] == "pass", evaluation
    assert evaluation["both_passed"] is True and evaluation["merge"]["status"] == "clean"
    assert summary["outcomes"] == {"pass": 1} and summary["pass_rate"]["pass_rate"] == 1.0

    # each agent's patch is its gold change, taken from its sandbox
    for agent_id, feature in zip(("agent1", "agent2"), FEATURES, strict=True):
        patch = (pdir / f"{agent_id}.patch").read_text()
        assert changed_lines(patch) == changed_lines(gold_patch(REPO, TASK, feature)), patch

    # messages: in send order, with the sender's and the receiver's steps
    ledger = load(pdir / "conversation.json")
    conversation = [m for m in ledger if m["kind"] == "message"]  # the rest: notices and state changes
    assert [(m["from"], m["to"], m["text"]) for m in conversation] == [
        ("agent1", "agent2", MESSAGES["agent1"]),
        ("agent2", "agent1", MESSAGES["agent2"]),
    ]
    assert conversation[0]["id"] < conversation[1]["id"]
    assert conversation[0]["sent_at"] <= conversation[1]["sent_at"]
    assert [m["sender_step"] for m in conversation] == [1, 1]
    for message in conversation:
        shown = f"[Message from {message['from']}]: {message['text']}"
        # the receiver's model saw it before the step the ledger names, and still sees it at the end
        assert message["receiver_step"] == request_index_with(requests[message["to"]], shown), message
        assert request_index_with(requests[message["to"]][-1:], shown) == 1
        assert message["delivered_at"] is not None
    assert result["messages"] == 2

    # cost and tokens are the server's usage at the configured prices
    for agent_id, feature in zip(("agent1", "agent2"), FEATURES, strict=True):
        record = result["agents"][agent_id]
        assert record["status"] == "Submitted" and record["error"] is None, record
        assert record["features"] == [feature]
        assert record["steps"] == calls[agent_id] == len(requests[agent_id]) == 3
        assert record["sent_messages"] == 1
        bill = expected_bill(calls[agent_id], USAGE)
        assert record["cost"] == pytest.approx(bill.pop("cost"))
        assert {k: record[k] for k in bill} == bill
    total = expected_bill(calls["agent1"] + calls["agent2"], USAGE)
    assert result["totals"]["cost"] == pytest.approx(total["cost"], abs=1e-6)
    assert summary["cost"] == pytest.approx(total["cost"], abs=1e-6)
    assert summary["tokens"]["input_tokens"] == total["input_tokens"]
    assert summary["tokens"]["output_tokens"] == total["output_tokens"]
    assert summary["tokens"]["cache_read_tokens"] == total["cache_read_tokens"]
    for agent_id in ("agent1", "agent2"):
        assert (pdir / f"{agent_id}_traj.json").is_file()
        assert "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT" in (pdir / f"{agent_id}.log").read_text()
