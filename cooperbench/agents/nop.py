"""The ``nop`` agent: changes nothing (a baseline, and a check that empty patches are handled)."""

from __future__ import annotations

from typing import Any

from cooperbench.agents._base import AgentResult


class NopAgent:
    """Returns an empty patch without starting a sandbox."""

    def run(self, task: str, image: str, **kwargs: Any) -> AgentResult:
        return AgentResult(status="Submitted", patch="", cost=0.0, steps=0, messages=[], error=None)
