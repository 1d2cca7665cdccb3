"""Asking for a plugin that is not installed says what is installed and what to install."""

from __future__ import annotations

from typing import Any

LOOKUP_ERRORS = """
import json
from cooperbench.agents import get_runner
from cooperbench.backends import get_backend
from cooperbench.errors import UnknownPluginError

messages = {}
for label, lookup in [
    ("agent", lambda: get_runner("no_such_agent")),
    ("backend", lambda: get_backend("no_such_backend")),
    ("docker", lambda: get_backend("docker")),
    ("modal", lambda: get_backend("modal")),
    ("miniswe", lambda: get_runner("mini_swe_agent")),
    ("claude_code", lambda: get_runner("claude_code")),
    ("swe_agent", lambda: get_runner("swe_agent")),
]:
    try:
        lookup()
    except UnknownPluginError as exc:
        assert isinstance(exc, LookupError)
        messages[label] = str(exc)
print(json.dumps(messages))
"""


def test_unknown_names_list_what_is_installed_and_the_install_line_for_known_builtins(venv: Any) -> None:
    messages = venv.python_json(LOOKUP_ERRORS)

    assert messages["agent"] == "Unknown agent 'no_such_agent'. Installed agents: nop, oracle."
    assert messages["backend"] == "Unknown backend 'no_such_backend'. Installed backends: local."
    assert "Installed backends: local." in messages["docker"]
    assert "pip install cooperbench-backend-docker" in messages["docker"]
    assert "pip install cooperbench-backend-modal" in messages["modal"]
    assert "Installed agents: nop, oracle." in messages["miniswe"]
    assert "pip install cooperbench-agent-miniswe" in messages["miniswe"]
    assert "pip install cooperbench-agent-claude-code" in messages["claude_code"]
    assert "not installable from PyPI" in messages["swe_agent"]
    assert "docs/plugins-agents.md" in messages["swe_agent"] and "pip install" not in messages["swe_agent"]


def test_cli_reports_an_uninstalled_backend_with_its_install_line(venv: Any) -> None:
    proc = venv.cli("cleanup", "--backend", "docker")

    assert proc.returncode == 2
    assert "Unknown backend 'docker'" in proc.stderr
    assert "pip install cooperbench-backend-docker" in proc.stderr
    assert "Traceback" not in proc.stderr
