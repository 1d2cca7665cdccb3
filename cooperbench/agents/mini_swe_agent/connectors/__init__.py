"""Compatibility import paths for the collaboration connectors of earlier releases.

``cooperbench.agents.mini_swe_agent.connectors.GitConnector`` and
``cooperbench.agents.mini_swe_agent.connectors.messaging.MessagingConnector`` are the core's
:class:`cooperbench.git_collab.GitConnector` and :class:`cooperbench.messaging.MessagingConnector`.
"""

from __future__ import annotations

from cooperbench.git_collab import GitConnector
from cooperbench.messaging import MessagingConnector

__all__ = ["GitConnector", "MessagingConnector"]
