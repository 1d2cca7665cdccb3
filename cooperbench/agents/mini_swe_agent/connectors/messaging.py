"""Compatibility path of :class:`cooperbench.messaging.MessagingConnector`."""

from __future__ import annotations

from cooperbench.messaging import MessagingConnector

__all__ = ["MessagingConnector"]
