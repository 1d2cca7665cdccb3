"""The workspace as installed for development: every distribution's plugin, and a light ``import cooperbench``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parents[2]

HEAVY_MODULES = ("docker", "modal", "litellm", "minisweagent", "google.cloud", "openhands", "huggingface_hub")

# Plugins each distribution of the workspace must provide: (kind, name) -> distribution.
EXPECTED = {
    ("backend", "local"): "cooperbench",
    ("agent", "oracle"): "cooperbench",
    ("agent", "nop"): "cooperbench",
    ("backend", "docker"): "cooperbench-backend-docker",
    ("backend", "modal"): "cooperbench-backend-modal",
    ("backend", "gcp"): "cooperbench-backend-gcp",
    ("agent", "mini_swe_agent"): "cooperbench-agent-miniswe",
    ("agent", "example"): "cooperbench-agent-example",
}

HEAVY_CHECK = f"""
import json, sys
heavy = {HEAVY_MODULES!r}

def loaded():
    return [m for m in heavy if m in sys.modules]

import cooperbench
seen = {{"import cooperbench": loaded()}}
from cooperbench.plugins import list_plugins
list_plugins()
seen["list_plugins()"] = loaded()
from cooperbench.cli import main
for argv in (["--help"], ["plugins"], ["plugins", "--json"], ["prepare", "--help"]):
    try:
        main(argv)
    except SystemExit:
        pass
    seen["cooperbench " + " ".join(argv)] = loaded()
print(json.dumps(seen))
"""


def _workspace_distributions() -> set[str]:
    root = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    members = root["tool"]["uv"]["workspace"]["members"]
    return {root["project"]["name"]} | {
        tomllib.loads((REPO_ROOT / m / "pyproject.toml").read_text())["project"]["name"] for m in members
    }


def _workspace_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("COOPERBENCH_")}


def test_workspace_lists_every_builtin_and_every_distribution_plugin_as_ok() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cooperbench", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=_workspace_env(),
        timeout=120,
    )

    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    listed = {(r["kind"], r["name"]): r for r in rows}
    for (kind, name), distribution in EXPECTED.items():
        assert (kind, name) in listed, f"{kind} {name!r} is missing from `cooperbench plugins`"
        assert listed[kind, name]["distribution"] == distribution
        assert listed[kind, name]["source"] == "entry point"
    assert [r for r in rows if r["status"] != "ok"] == []
    # Every distribution of the workspace provides at least one plugin through its entry point.
    assert _workspace_distributions() <= {r["distribution"] for r in rows}


def test_import_listing_and_help_load_no_heavy_sdk() -> None:
    probe = f"import cooperbench, sys; print([m for m in {HEAVY_MODULES!r} if m in sys.modules])"
    bare = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_workspace_env())
    assert bare.returncode == 0, bare.stderr
    assert bare.stdout.strip() == "[]"

    proc = subprocess.run(
        [sys.executable, "-c", HEAVY_CHECK], capture_output=True, text=True, env=_workspace_env(), timeout=120
    )

    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen == {step: [] for step in seen}
    assert len(seen) == 6
