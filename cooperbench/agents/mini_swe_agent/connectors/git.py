"""Compatibility path of :class:`cooperbench.git_collab.GitConnector`."""

from __future__ import annotations

from cooperbench.git_collab import GitConnector

__all__ = ["GitConnector"]
