"""Fixtures: the example dataset, the gold patches the scripted Codex teammates apply, a clean CLI environment."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from cooperbench.testing.llm_server import LLMTestServer, Usage
from cooperbench.testing.responses_api import responses_requests, teammate_script

REPO_ROOT = Path(__file__).resolve().parents[3]
DATASET = REPO_ROOT / "examples" / "dataset"
TASK_DIR = DATASET / "textkit_task" / "task1"


@pytest.fixture(scope="session")
def dataset_dir() -> Path:
    return DATASET


@pytest.fixture(scope="session")
def gold() -> dict[int, str]:
    """The gold patches of textkit task 1's features 1 and 3."""
    return {f: (TASK_DIR / f"feature{f}" / "feature.patch").read_text() for f in (1, 3)}


@pytest.fixture
def secret_key() -> str:
    return f"sk-cooperbench-test-{secrets.token_hex(12)}"


def cli_env(tmp_path: Path, key: str | None) -> dict[str, str]:
    """The environment of a ``cooperbench`` subprocess: no user defaults, its own cache, the key (or none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOPERBENCH_") and k != "OPENAI_API_KEY"}
    env["COOPERBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    env["COOPERBENCH_CONFIG"] = str(tmp_path / "defaults.yaml")
    (tmp_path / "defaults.yaml").write_text("{}\n")
    if key is not None:
        env["OPENAI_API_KEY"] = key
    return env


def cooperbench_cli() -> str:
    return str(Path(sys.executable).with_name("cooperbench"))


@pytest.fixture(scope="session")
def local_run(tmp_path_factory: pytest.TempPathFactory):
    """A run on the ``local`` backend with textkit task 1's workspace template resolved (for in-process runs)."""
    from cooperbench.backends import get_backend
    from cooperbench.backends._context import ActiveRun
    from cooperbench.backends.base import RunLabels
    from cooperbench.dataset import load_task

    task = load_task(TASK_DIR)
    assert task is not None
    backend = get_backend("local", cache_dir=str(tmp_path_factory.mktemp("codex-local-cache")))
    ref = backend.resolve_image(task)
    labels = RunLabels("codex-test")
    yield ActiveRun(backend=backend, labels=labels, images={task.image_name(): ref}, backend_name="local"), task
    backend.cleanup(run_name="codex-test")


def backend_section(backend: str) -> str:
    """The ``backend:`` section of the agent config for ``backend`` (docker: the locally built test images)."""
    if backend != "docker":
        return ""
    from cooperbench_backend_docker.testing import ensure_base_image

    return f"backend:\n  name: docker\n  pull: false\n  build_args: {{BASE_IMAGE: '{ensure_base_image()}'}}\n"


USAGE = Usage(prompt_tokens=300, completion_tokens=30, cached_tokens=100)


def _run(tmp_path: Path, dataset_dir: Path, key: str, config: Path, setting: str, *extra: str) -> None:
    proc = subprocess.run(
        [
            cooperbench_cli(), "run", "--agent", "codex", "-m", "openai/gpt-5", "--agent-config", str(config),
            "--dataset-dir", str(dataset_dir), "-r", "textkit_task", "-t", "1", "-f", "1,3", "--setting", setting,
            "--redis", "redis://127.0.0.1:1", "-n", f"codex-{setting}", "--log-dir", str(tmp_path / "logs"), *extra,
        ],
        cwd=tmp_path, env=cli_env(tmp_path, key), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def check_coop_and_solo(
    tmp_path: Path, dataset_dir: Path, gold: dict[int, str], secret_key: str, *, backend: str, git: bool = False
) -> None:
    """Run codex in coop then solo on textkit f1,f3 through the CLI and check everything the issue asks for."""
    outside = f"/tmp/codex-outside-{secrets.token_hex(6)}.txt"
    probes = [f"echo written-in-sandbox > {outside} && cat {outside}", 'echo "key:${OPENAI_API_KEY:-absent}"']
    if git:
        probes.append("git remote -v")
    script = {
        "agent1": teammate_script(partner="agent2", patch=gold[1], message="agent1: I add kebab_case", before=probes),
        "agent2": teammate_script(partner="agent1", patch=gold[3], message="agent2: I take feature 3"),
        "solo": teammate_script(partner=None, patch=gold[1] + gold[3]),
    }
    with LLMTestServer(script, usage=USAGE) as server:
        config = tmp_path / "codex.yaml"
        config.write_text(
            f"model:\n  base_url: {server.base_url}\n  request_max_retries: 1\n  stream_max_retries: 0\n"
            "agent:\n  timeout: 300\n" + backend_section(backend)
        )
        extra = ("--backend", backend)
        _run(tmp_path, dataset_dir, secret_key, config, "coop", *extra, *(("--git",) if git else ()))
        _run(tmp_path, dataset_dir, secret_key, config, "solo", *extra)
        requests = responses_requests(server)
    assert {r.route for r in requests} == {"agent1", "agent2", "solo"}
    assert all(r.headers.get("authorization") == f"Bearer {secret_key}" for r in requests)  # added by the relay

    pair = tmp_path / "logs" / "codex-coop" / "coop" / "textkit_task" / "1" / "f1_f3"
    result = json.loads((pair / "result.json").read_text())
    assert json.loads((pair / "eval.json").read_text())["both_passed"] is True
    for agent_id in ("agent1", "agent2"):
        record, feature_steps = result["agents"][agent_id], len(script[agent_id])
        assert record["status"] == "Submitted" and record["error_kind"] is None, record
        assert record["steps"] == feature_steps, record  # model requests: one per scripted reply
        assert record["input_tokens"] == feature_steps * USAGE.prompt_tokens
        assert record["cache_read_tokens"] == feature_steps * USAGE.cached_tokens
        assert record["output_tokens"] == feature_steps * USAGE.completion_tokens
        assert record["cost"] > 0
        traj = json.loads((pair / f"{agent_id}_traj.json").read_text())
        assert traj["info"]["codex_version"].startswith("codex-cli")
        assert any(e.get("type") == "turn.completed" for e in traj["events"])
        assert "codex exit status 0" in (pair / f"{agent_id}.log").read_text()
    messages = [(e["from"], e["to"], e["text"]) for e in json.loads((pair / "conversation.json").read_text())
                if e["kind"] == "message"]  # fmt: skip
    assert ("agent1", "agent2", "agent1: I add kebab_case") in messages
    assert ("agent2", "agent1", "agent2: I take feature 3") in messages
    assert "+def kebab_case(text):" in (pair / "agent1.patch").read_text()
    events = json.loads((pair / "agent1_traj.json").read_text())["events"]
    outputs = [e["item"].get("aggregated_output", "") for e in events if e.get("type") == "item.completed"]
    assert any("written-in-sandbox" in o for o in outputs)  # the CLI's shell ran in the sandbox ...
    assert not Path(outside).exists()  # ... not on the host
    assert any("key:absent" in o for o in outputs)  # the agent's commands never see the key
    if git:
        assert any("team\t" in o for o in outputs)  # the shared remote of --git

    solo = tmp_path / "logs" / "codex-solo" / "solo" / "textkit_task" / "1" / "f1_f3"
    assert json.loads((solo / "eval.json").read_text())["both_passed"] is True
    for setting in ("coop", "solo"):
        summary = json.loads((tmp_path / "logs" / f"codex-{setting}" / "summary.json").read_text())
        assert summary["outcomes"] == {"pass": 1}, summary
        assert summary["cost"] > 0 and summary["tokens"]["input_tokens"] > 0, summary

    leaks = [p for root in (tmp_path / "logs", tmp_path / "cache") for p in root.rglob("*")
             if p.is_file() and secret_key.encode() in p.read_bytes()]  # fmt: skip
    assert leaks == []
