"""``cooperbench run --agent claude_code`` on the local backend: the real CLI in real sandboxes, a scripted model."""

from __future__ import annotations

from pathlib import Path

from claude_code_helpers import USAGE, coop_script, cooperbench_run, files_containing, load, solo_script, tool_results

from cooperbench.testing.llm_server import LLMTestServer


def test_coop_with_git_and_solo_on_local_message_apply_gold_patches_and_pass(tmp_path: Path, api_key: str):
    proof = f"cb-outside-{tmp_path.name}"
    with LLMTestServer(coop_script(proof), usage=USAGE, api_key=api_key) as server:
        proc = cooperbench_run(tmp_path, server.url, api_key, "--setting", "coop", "--git", "-n", "cc-coop")
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    pair = tmp_path / "logs" / "cc-coop" / "coop" / "textkit_task" / "1" / "f1_f3"
    result = load(pair / "result.json")
    assert load(pair / "eval.json")["both_passed"] is True
    for agent_id in ("agent1", "agent2"):
        record = result["agents"][agent_id]
        assert record["status"] == "Submitted" and record["error_kind"] is None, record
        assert record["steps"] == 4
        assert record["input_tokens"] >= 4 * USAGE.prompt_tokens and record["output_tokens"] >= 4 * 50
        assert record["cost"] > 0
        traj = load(pair / f"{agent_id}_traj.json")
        assert traj["info"]["agent"] == "claude_code" and traj["events"][-1]["type"] == "result"
        assert (pair / f"{agent_id}_stream.jsonl").read_text().count('"type":"result"') == 1
    assert "+def kebab_case(text):" in (pair / "agent1.patch").read_text()
    assert '+def slugify(text, sep="-", max_length=None):' in (pair / "agent2.patch").read_text()
    summary = load(tmp_path / "logs" / "cc-coop" / "summary.json")
    assert summary["outcomes"] == {"pass": 1}
    assert summary["cost"] > 0 and summary["tokens"]["input_tokens"] > 0 and summary["tokens"]["output_tokens"] > 0

    # both directions in the harness's ledger, and each agent read the other's message
    messages = [e for e in load(pair / "conversation.json") if e["kind"] == "message"]
    assert {(m["from"], m["to"]) for m in messages} == {("agent1", "agent2"), ("agent2", "agent1")}
    results = tool_results(requests)
    assert "[Message from agent2]: agent2 here: I implement feature 3" in results
    assert "[Message from agent1]: agent1 here: I implement feature 1" in results
    # with --git the team remote is set up and explained after Claude Code's own system prompt
    system = next(r for r in requests if r.route == "agent2").text_of("system")[0]
    assert "You are agent2" in system and "team" in system and system.index("You are agent2") > 1000
    # the 429 was retried: agent1's first turn was asked twice
    agent1 = [r for r in requests if r.route == "agent1"]
    assert [r.reply_index for r in agent1][:2] == [0, 1]
    # the CLI's shell ran in the sandbox: its file outside the repository is there, not on the host
    assert f"{proof}-agent1" in results and not Path(f"/tmp/{proof}-agent1.txt").exists()
    # the key reached the model (the server checks it) but not the sandbox, the logs or the cache
    assert "key in the sandbox: cooperbench-relay" in results and api_key not in results
    assert files_containing(tmp_path / "logs", api_key) == []
    assert files_containing(tmp_path / "cache", api_key) == []

    with LLMTestServer(solo_script(proof), usage=USAGE, api_key=api_key) as server:
        proc = cooperbench_run(tmp_path, server.url, api_key, "--setting", "solo", "-n", "cc-solo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    solo_pair = tmp_path / "logs" / "cc-solo" / "solo" / "textkit_task" / "1" / "f1_f3"
    solo = load(solo_pair / "result.json")
    assert load(solo_pair / "eval.json")["both_passed"] is True
    assert load(tmp_path / "logs" / "cc-solo" / "summary.json")["outcomes"] == {"pass": 1}
    assert solo["agents"]["solo"]["cost"] > 0 and solo["agents"]["solo"]["steps"] == 4
    assert not Path(f"/tmp/{proof}").exists()
    assert files_containing(tmp_path / "logs", api_key) == []
