"""The message ledger: the harness's own record of every message of a namespace, and ``conversation.json``.

The ledger is kept by the bus as messages are posted and delivered, whichever agent
framework sends them; nothing is reconstructed from trajectories.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cooperbench.io import write_json_atomic
from cooperbench.messaging._url import EMBEDDED_SCHEME, open_bus

__all__ = ["CONVERSATION_FILE", "Ledger", "write_conversation"]

CONVERSATION_FILE = "conversation.json"


def _as_url(url_or_namespace: str) -> str:
    return url_or_namespace if "://" in url_or_namespace else f"{EMBEDDED_SCHEME}://{url_or_namespace}"


class Ledger:
    """Reads the ledger of one namespace."""

    @staticmethod
    def read(url_or_namespace: str) -> list[dict[str, Any]]:
        """Every message of a namespace in send order.

        Args:
            url_or_namespace: a messaging URL (``redis://host:6379#<namespace>``,
                ``embedded://<namespace>``), or a bare namespace of the embedded bus.

        Returns:
            One entry per message (a broadcast has one per recipient): ``id, from, to, text,
            sent_at, delivered_at, sender_step, receiver_step, broadcast``; times are ISO 8601
            UTC strings, ``delivered_at`` and ``receiver_step`` are ``None`` for a message
            nobody received.

        Raises:
            ConfigError: the URL is malformed.
            UnknownPluginError: no connector plugin handles the URL's scheme.
            MessagingError: the transport failed.
        """
        bus = open_bus(_as_url(url_or_namespace))
        try:
            return [m.as_ledger_entry() for m in bus.ledger()]
        finally:
            bus.close()


def write_conversation(log_dir: str | Path, url_or_namespace: str) -> Path:
    """Write a pair's ``conversation.json`` (its ledger, in send order) atomically into ``log_dir``.

    Args:
        log_dir: the pair's log directory (created if missing).
        url_or_namespace: the pair's messaging URL or embedded namespace (see :meth:`Ledger.read`).

    Returns:
        The path written.

    Raises:
        ConfigError, UnknownPluginError, MessagingError: see :meth:`Ledger.read`.
        OSError: the file cannot be written.
    """
    path = Path(log_dir) / CONVERSATION_FILE
    write_json_atomic(path, Ledger.read(url_or_namespace))
    return path
