"""LiteLLM and mini-swe-agent, imported with the settings CooperBench needs.

Every module of this package imports them from here, so the settings are in place first:

- ``LITELLM_LOCAL_MODEL_COST_MAP``: LiteLLM would otherwise fetch its price map from the
  network at import (and wait on retries when offline); the bundled copy is used instead.
- ``MSWEA_SILENT_STARTUP``: mini-swe-agent would otherwise print a banner at import.

Both are defaults: a user who sets them keeps their value.
"""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")

import litellm
from minisweagent.agents.default import DefaultAgent
from minisweagent.environments.local import LocalEnvironment
from minisweagent.exceptions import FormatError
from minisweagent.models.litellm_model import LitellmModel
from minisweagent.models.litellm_textbased_model import LitellmTextbasedModel
from minisweagent.models.utils.actions_toolcall import BASH_TOOL

litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on stdout for every failed call

SKIP_MCP_GATEWAY: dict[str, bool] = (
    {"_skip_mcp_handler": True}
    if importlib.util.find_spec("litellm.responses.mcp.chat_completions_handler") is not None
    else {}
)
"""Extra ``litellm.completion`` arguments for requests with tools.

LiteLLM releases with an MCP gateway on chat completions import the optional ``mcp`` package
(a recent one) for every request that has tools, and fail without it. We never send MCP
tools, so the gateway is skipped with LiteLLM's own switch, which LiteLLM strips from the
request. Releases without the gateway do not get the switch."""

__all__ = [
    "BASH_TOOL",
    "SKIP_MCP_GATEWAY",
    "DefaultAgent",
    "FormatError",
    "LitellmModel",
    "LitellmTextbasedModel",
    "LocalEnvironment",
    "litellm",
]
