"""The distribution's plugin registration and import hygiene."""

from __future__ import annotations

import os
import subprocess
import sys

from cooperbench_agent_miniswe.runner import MiniSweAgentRunner

from cooperbench.agents import get_runner, list_agents


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("LITELLM_LOCAL_MODEL_COST_MAP", "MSWEA_SILENT_STARTUP")}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=environ | env, check=False
    )


def test_agent_is_registered_under_its_name_and_alias() -> None:
    assert "mini_swe_agent" in list_agents()
    assert isinstance(get_runner("mini_swe_agent"), MiniSweAgentRunner)
    assert isinstance(get_runner("mini_swe_agent_v2"), MiniSweAgentRunner)
    assert callable(MiniSweAgentRunner.preflight)  # the runner's hook before sandboxes start


def test_plugin_runner_and_config_import_neither_litellm_nor_minisweagent() -> None:
    out = python(
        "import sys, cooperbench_agent_miniswe.plugin, cooperbench_agent_miniswe.runner, "
        "cooperbench_agent_miniswe.config, cooperbench_agent_miniswe.commands\n"
        "print(sorted(m for m in ('litellm', 'minisweagent', 'mcp') if m in sys.modules))"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_agent_modules_import_offline_quietly_and_without_importing_mcp() -> None:
    # An unroutable proxy: any network access at import would fail or hang, and show in stderr.
    out = python(
        "import sys, os\n"
        "import cooperbench_agent_miniswe.session\n"
        "print(os.environ['LITELLM_LOCAL_MODEL_COST_MAP'], 'mcp' in sys.modules)",
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True False"  # mini-swe-agent's banner is silenced too
    assert "cost map" not in out.stderr
