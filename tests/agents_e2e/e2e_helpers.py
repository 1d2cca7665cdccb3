"""Helpers of the agents' end-to-end tests: the CLI as a subprocess, scripts built from the gold patches.

Importable because ``conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cooperbench.testing.llm_server import LLMTestServer, RecordedRequest, Reply, ScriptItem, Usage

DATASET = Path(__file__).resolve().parents[2] / "examples" / "dataset"
MODEL = "openai/test-model"
INPUT_PRICE = 2e-6
OUTPUT_PRICE = 1e-5
# A port nothing listens on: messaging falls back to the embedded in-process bus.
NO_REDIS = "redis://127.0.0.1:1"
# The answer to mini_swe_agent's preflight probe: it names no agent, so no route claims it and the fallback answers.
PROBE_ANSWER = "OK"


def task_dir(repo: str, task_id: int) -> Path:
    return DATASET / repo / f"task{task_id}"


def gold_patch(repo: str, task_id: int, feature: int) -> str:
    """The text of a feature's gold ``feature.patch`` in the example dataset."""
    return (task_dir(repo, task_id) / f"feature{feature}" / "feature.patch").read_text()


def feature_title(repo: str, task_id: int, feature: int) -> str:
    """The ``**Title**`` line of a feature's description: a marker of that feature in an agent's prompt."""
    text = (task_dir(repo, task_id) / f"feature{feature}" / "feature.md").read_text()
    match = re.search(r"\*\*Title\*\*:\s*(.+)", text)
    assert match, f"no **Title** in feature{feature}/feature.md of {repo}/task{task_id}"
    return match.group(1).strip()


def apply_command(patch: str, name: str = "gold.patch") -> str:
    """A shell command writing ``patch`` through a heredoc (outside the repository) and applying it with git."""
    assert "GOLD_PATCH_EOF" not in patch
    return f"cat > /tmp/{name} <<'GOLD_PATCH_EOF'\n{patch}GOLD_PATCH_EOF\ngit apply --whitespace=nowarn /tmp/{name}"


def held(reply: Reply, until: Callable[[], bool], timeout: float = 90.0) -> Callable[[RecordedRequest], Reply]:
    """A scripted answer the model gives only once ``until()`` holds, to order two agents' steps."""

    def answer(_request: RecordedRequest) -> Reply:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
        return reply

    return answer


def has_asked(server: LLMTestServer, route: str, n: int) -> Callable[[], bool]:
    """Whether ``route`` has sent ``n`` requests: its agent ran its first ``n - 1`` commands."""
    return lambda: len(server.requests_for(route)) >= n


def write_agent_config(path: Path, server: LLMTestServer, *, agent: dict[str, Any] | None = None, **model: Any) -> Path:
    """An ``--agent-config`` YAML pointing the model at ``server``, priced, with quick retries."""
    import yaml

    sections: dict[str, Any] = {
        "model": {
            "api_base": server.base_url,
            "api_key": "test",
            "input_cost_per_token": INPUT_PRICE,
            "output_cost_per_token": OUTPUT_PRICE,
            **model,
        }
    }
    if agent:
        sections["agent"] = agent
    path.write_text(yaml.safe_dump(sections, sort_keys=False))
    return path


def cli_env(cache_dir: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``cooperbench`` subprocess: none of the user's defaults, keys or caches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOPERBENCH_") and not k.endswith("_API_KEY")}
    defaults = tmp_path / "cooperbench-defaults.yaml"
    defaults.write_text("{}\n")
    env.update(
        COOPERBENCH_CACHE_DIR=str(cache_dir),
        COOPERBENCH_CONFIG=str(defaults),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        **extra,
    )
    return env


def cooperbench_run(
    args: Sequence[str], *, env: dict[str, str], cwd: Path, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``python -m cooperbench run <args>`` as a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "cooperbench", "run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pair_path(logs: Path, run_name: str, setting: str, repo: str, task_id: int, features: Sequence[int]) -> Path:
    return logs / run_name / setting / repo / str(task_id) / "_".join(f"f{f}" for f in features)


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def answered(server: LLMTestServer, route: str, script: Sequence[ScriptItem]) -> int:
    """How many of ``route``'s requests got a completion (not an HTTP error or a broken body) from ``script``."""
    total = 0
    for request in server.requests_for(route):
        if request.reply_index is None:
            continue
        item = script[request.reply_index]
        if callable(item) or (item.status == 200 and item.body is None):
            total += 1
    return total


def expected_bill(calls: int, usage: Usage) -> dict[str, Any]:
    """What ``calls`` completions of ``usage`` each cost at the configured prices, and their tokens."""
    return {
        "cost": calls * (usage.prompt_tokens * INPUT_PRICE + usage.completion_tokens * OUTPUT_PRICE),
        "input_tokens": calls * usage.prompt_tokens,
        "output_tokens": calls * usage.completion_tokens,
        "cache_read_tokens": calls * usage.cached_tokens,
    }


def message_text(message: dict[str, Any]) -> str:
    """A chat message's text (list contents flattened)."""
    content = message.get("content")
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def request_index_with(requests: Sequence[RecordedRequest], text: str) -> int | None:
    """The 1-based index of the first request whose messages contain ``text`` (``None`` if none does)."""
    for i, request in enumerate(requests, start=1):
        if any(text in message_text(m) for m in request.messages):
            return i
    return None


def changed_lines(patch: str) -> list[str]:
    """The added and removed lines of a diff, sorted: equal for the same change whatever the hunks' order."""
    return sorted(
        line for line in patch.splitlines() if line[:1] in ("+", "-") and not line.startswith(("+++ ", "--- "))
    )
