"""The agent's readable log (``<agent_id>.log``) and trajectory (``<agent_id>_traj.json``)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from cooperbench.io import write_json_atomic

__all__ = ["TRAJECTORY_FORMAT", "AgentLog", "write_trajectory"]

TRAJECTORY_FORMAT = "cooperbench-openhands-1"
_MAX_EVENT_CHARS = 4000


class _ThreadFilter(logging.Filter):
    def __init__(self, thread_id: int) -> None:
        super().__init__()
        self.thread_id = thread_id

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread == self.thread_id


class AgentLog:
    """Writes what the agent does, event by event, to ``<log_dir>/<agent_id>.log``.

    SDK and LiteLLM warnings raised on the agent's thread (retries, tool failures) go there
    too. Without a ``log_dir`` nothing is written.

    Args:
        log_dir: the pair's log folder, or ``None``.
        agent_id: names the file.
    """

    def __init__(self, log_dir: str | None, agent_id: str) -> None:
        self.path = Path(log_dir) / f"{agent_id}.log" if log_dir else None
        self._fh: TextIO | None = None
        self._lock = threading.Lock()
        self._handler: logging.Handler | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8")
            handler = logging.StreamHandler(self._fh)
            handler.setLevel(logging.WARNING)
            handler.addFilter(_ThreadFilter(threading.get_ident()))
            handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: %(message)s"))
            for name in ("openhands", "litellm", "LiteLLM"):
                logging.getLogger(name).addHandler(handler)
            self._handler = handler

    def write(self, text: str) -> None:
        """Append a timestamped entry."""
        if self._fh is None:
            return
        with self._lock:
            self._fh.write(f"[{time.strftime('%H:%M:%S')}] {text.rstrip()}\n")
            self._fh.flush()

    def on_event(self, event: Any) -> None:
        """A conversation callback: log one SDK event readably."""
        if self._fh is None:
            return
        try:
            body = event.visualize.plain
        except Exception:  # an event the SDK cannot render must not break the run
            body = repr(event)
        if len(body) > _MAX_EVENT_CHARS:
            body = body[:_MAX_EVENT_CHARS] + f"\n[... {len(body) - _MAX_EVENT_CHARS} characters more ...]"
        source = getattr(event, "source", "")
        self.write(f"{type(event).__name__} ({source})\n{body}\n")

    def close(self) -> None:
        """Detach from the SDK's loggers and close the file. Idempotent."""
        if self._handler is not None:
            for name in ("openhands", "litellm", "LiteLLM"):
                logging.getLogger(name).removeHandler(self._handler)
            self._handler = None
        if self._fh is not None:
            with self._lock:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> AgentLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_trajectory(path: Path, info: dict[str, Any], messages: list[dict[str, Any]], events: list[Any]) -> None:
    """Write ``<agent_id>_traj.json`` atomically: run info, chat messages, and every SDK event."""
    dumped = []
    for event in events:
        try:
            dumped.append(event.model_dump(mode="json"))
        except Exception as exc:  # keep the rest of the trajectory when one event does not serialize
            dumped.append({"kind": type(event).__name__, "unserializable": str(exc)})
    write_json_atomic(
        path, {"trajectory_format": TRAJECTORY_FORMAT, "info": info, "messages": messages, "events": dumped}
    )
