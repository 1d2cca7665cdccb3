"""Agents: the contract, the registry, and the core's ``oracle`` and ``nop`` agents."""

from __future__ import annotations

from cooperbench.agents._base import AgentResult, AgentRunner
from cooperbench.agents.registry import get_runner, list_agents, register

__all__ = ["AgentResult", "AgentRunner", "get_runner", "list_agents", "register"]
