"""Helpers of the claude_code tests (importable because conftest puts this folder on sys.path): scripted
Claude Code turns, a ``cooperbench run`` subprocess, checks on what it left."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from cooperbench.testing.llm_server import RecordedRequest, Reply, Usage, rate_limited, text, tool_call

REPO_ROOT = Path(__file__).resolve().parents[3]
DATASET = REPO_ROOT / "examples" / "dataset"
TASK_DIR = DATASET / "textkit_task" / "task1"
USAGE = Usage(prompt_tokens=1000, completion_tokens=50)
MSG = "/run/cooperbench/messaging/coop-msg"


def gold(feature: int) -> str:
    return (TASK_DIR / f"feature{feature}" / "feature.patch").read_text()


def bash(command: str) -> Reply:
    """A turn running ``command`` through Claude Code's own Bash tool."""
    return tool_call("Bash", {"command": command, "description": "scripted step"})


def teammate(me: str, partner: str, feature: int, proof: str) -> list[Reply]:
    """Tell the partner, write the gold patch with the Write tool, apply it with Bash, read the partner's message."""
    return [
        bash(
            f'{MSG} send {partner} "{me} here: I implement feature {feature}" && echo {proof} > /tmp/{proof}.txt '
            '&& echo "key in the sandbox: $ANTHROPIC_API_KEY"'
        ),
        tool_call("Write", {"file_path": f"/tmp/gold-{me}.patch", "content": gold(feature)}),
        bash(f"git apply /tmp/gold-{me}.patch && cat /tmp/{proof}.txt && {MSG} receive --wait 120"),
        text("Feature done."),
    ]


def solo_script(proof: str) -> list[Reply]:
    return [
        tool_call("Write", {"file_path": "/tmp/gold-1.patch", "content": gold(1)}),
        tool_call("Write", {"file_path": "/tmp/gold-3.patch", "content": gold(3)}),
        bash(f"git apply /tmp/gold-1.patch && git apply /tmp/gold-3.patch && echo {proof} > /tmp/{proof}"),
        text("Both features done."),
    ]


def coop_script(proof: str) -> dict[str, list[Reply]]:
    # agent1's first request is rate limited: the CLI retries it (bounded by model.max_retries).
    return {
        "agent1": [rate_limited(retry_after=0), *teammate("agent1", "agent2", 1, f"{proof}-agent1")],
        "agent2": teammate("agent2", "agent1", 3, f"{proof}-agent2"),
    }


def new_key() -> str:
    return f"sk-ant-test-{secrets.token_hex(12)}"


def cooperbench_run(
    tmp_path: Path, server_url: str, key: str, *args: str, cache: Path | None = None, extra_config: str = ""
) -> subprocess.CompletedProcess[str]:
    """``cooperbench run --agent claude_code`` on textkit task 1, features 1 and 3, against the test server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COOPERBENCH_", "ANTHROPIC_"))}
    env["COOPERBENCH_CACHE_DIR"] = str(cache or tmp_path / "cache")
    env["COOPERBENCH_CONFIG"] = str(tmp_path / "defaults.yaml")  # none of the user's defaults
    env["ANTHROPIC_API_KEY"] = key
    (tmp_path / "defaults.yaml").write_text("{}\n")
    config = tmp_path / "claude.yaml"
    config.write_text(
        f"model:\n  base_url: {server_url}\n  max_retries: 2\n  request_timeout: 60\n"
        "agent:\n  max_turns: 20\n  timeout: 240\n" + extra_config
    )
    cli = str(Path(sys.executable).with_name("cooperbench"))
    return subprocess.run(
        [
            cli, "run", "--agent", "claude_code", "-m", "anthropic/claude-sonnet-4-5", "--agent-config", str(config),
            "--dataset-dir", str(DATASET), "-r", "textkit_task", "-t", "1", "-f", "1,3",
            "--redis", "redis://127.0.0.1:1", "--log-dir", str(tmp_path / "logs"), *args,
        ],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every regular file under ``root`` whose bytes contain ``needle``."""
    data = needle.encode()
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if data in path.read_bytes():
                    found.append(path)
            except OSError:
                pass
    return found


def tool_results(requests: list[RecordedRequest]) -> str:
    """Every tool result the CLI sent back to the model, as one text."""
    out = []
    for request in requests:
        for message in request.messages:
            for block in message.get("content") or []:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    out.append(json.dumps(block.get("content")))
    return "\n".join(out)


def load(path: Path) -> Any:
    return json.loads(path.read_text())
