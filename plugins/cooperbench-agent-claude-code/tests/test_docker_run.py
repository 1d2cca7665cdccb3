"""``cooperbench run --agent claude_code --backend docker``: the real CLI mounted into real containers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from claude_code_helpers import USAGE, coop_script, cooperbench_run, files_containing, load, solo_script, tool_results

from cooperbench.testing.llm_server import LLMTestServer

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def base_image() -> str:
    from cooperbench_backend_docker.testing import ensure_base_image

    from cooperbench.errors import SandboxError

    try:
        return ensure_base_image()
    except SandboxError as exc:
        if os.environ.get("COOPERBENCH_REQUIRE_DOCKER") == "1" or "Cannot reach the Docker daemon" not in str(exc):
            raise
        pytest.skip(f"no Docker Engine: {exc}")


def test_coop_with_git_and_solo_on_docker_message_apply_gold_patches_and_pass(
    tmp_path: Path, api_key: str, base_image: str
):
    from cooperbench_backend_docker.backend import DockerBackend

    backend = f"backend:\n  name: docker\n  pull: false\n  build_args: {{BASE_IMAGE: '{base_image}'}}\n"
    proof = f"cb-outside-{tmp_path.name}"
    with LLMTestServer(coop_script(proof), usage=USAGE, api_key=api_key) as server:
        proc = cooperbench_run(
            tmp_path, server.url, api_key, "--backend", "docker", "--setting", "coop", "--git", "-n", "ccd-coop",
            extra_config=backend,
        )  # fmt: skip
        requests = list(server.requests)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    pair = tmp_path / "logs" / "ccd-coop" / "coop" / "textkit_task" / "1" / "f1_f3"
    result = load(pair / "result.json")
    assert load(pair / "eval.json")["both_passed"] is True
    for agent_id in ("agent1", "agent2"):
        record = result["agents"][agent_id]
        assert record["status"] == "Submitted" and record["steps"] == 4, record
        assert record["cost"] > 0 and record["input_tokens"] > 0 and record["output_tokens"] > 0
    summary = load(tmp_path / "logs" / "ccd-coop" / "summary.json")
    assert summary["outcomes"] == {"pass": 1} and summary["cost"] > 0 and summary["tokens"]["input_tokens"] > 0
    messages = [e for e in load(pair / "conversation.json") if e["kind"] == "message"]
    assert {(m["from"], m["to"]) for m in messages} == {("agent1", "agent2"), ("agent2", "agent1")}
    results = tool_results(requests)
    assert "[Message from agent2]: agent2 here: I implement feature 3" in results
    assert "[Message from agent1]: agent1 here: I implement feature 1" in results
    assert [r.reply_index for r in requests if r.route == "agent1"][:2] == [0, 1]  # the 429 was retried
    assert f"{proof}-agent1" in results and not Path(f"/tmp/{proof}-agent1.txt").exists()
    # with --git the system prompt explains the team remote
    system = next(r for r in requests if r.route == "agent2").text_of("system")[0]
    assert "team" in system and "You are agent2" in system
    assert "key in the sandbox: cooperbench-relay" in results and api_key not in results
    assert files_containing(tmp_path / "logs", api_key) == []
    assert files_containing(tmp_path / "cache", api_key) == [] if (tmp_path / "cache").exists() else True

    with LLMTestServer(solo_script(proof), usage=USAGE, api_key=api_key) as server:
        proc = cooperbench_run(
            tmp_path, server.url, api_key, "--backend", "docker", "--setting", "solo", "-n", "ccd-solo",
            extra_config=backend,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    solo_pair = tmp_path / "logs" / "ccd-solo" / "solo" / "textkit_task" / "1" / "f1_f3"
    assert load(solo_pair / "eval.json")["both_passed"] is True
    assert load(solo_pair / "result.json")["agents"]["solo"]["cost"] > 0
    assert files_containing(tmp_path / "logs", api_key) == []
    assert DockerBackend().resources("ccd-coop") == [] and DockerBackend().resources("ccd-solo") == []
