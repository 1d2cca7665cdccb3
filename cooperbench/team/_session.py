"""One pair's team: roles, the task list, the shared scratchpad, typed requests, and each agent's access.

The runner opens a :class:`TeamPair` for each pair of a ``team`` run. Agent1 is the lead,
the others are members. Each agent reaches the team through its own :class:`TeamClient`
(handed to the agent as the ``team`` keyword argument, and served in its sandbox by its
messaging endpoint as ``coop-msg task ...``): whatever it does is done as that agent.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cooperbench.team._tasks import Task, TaskEvent, TaskList, TaskListError, coordination_metrics, format_tasks

if TYPE_CHECKING:
    from cooperbench.messaging.connector import MessagingConnector

__all__ = ["SCRATCHPAD_DIR", "TeamClient", "TeamFeatures", "TeamPair", "TeamPieceOff"]

SCRATCHPAD_DIR = "/workspace/shared"
"""Where the shared scratchpad is mounted in every teammate's sandbox."""

_PIECES = ("task_list", "scratchpad", "protocol", "auto_refresh")
_FLAGS = {p: f"--team-no-{p.replace('_', '-')}" for p in _PIECES}


class TeamPieceOff(TaskListError):
    """A part of the team setting that this run switched off (``--team-no-...``)."""


@dataclass(frozen=True)
class TeamFeatures:
    """Which pieces of the team setting a run has; each ``--team-no-<piece>`` flag switches one off.

    Attributes:
        task_list: the shared task list (seeded, claimable, in the ledger).
        scratchpad: the shared directory at ``/workspace/shared`` in every teammate's sandbox.
        protocol: typed requests and responses between teammates.
        auto_refresh: agents that support it see the task list before each step.
    """

    task_list: bool = True
    scratchpad: bool = True
    protocol: bool = True
    auto_refresh: bool = True

    def as_dict(self) -> dict[str, bool]:
        return {p: getattr(self, p) for p in _PIECES}

    def disabled(self) -> list[str]:
        """The pieces switched off, in flag order."""
        return [p for p in _PIECES if not getattr(self, p)]

    def flags(self) -> list[str]:
        """The ``--team-no-...`` flags that give these features."""
        return [_FLAGS[p] for p in self.disabled()]

    def require(self, piece: str) -> None:
        """Raise :class:`TeamPieceOff` when ``piece`` is switched off."""
        if not getattr(self, piece):
            raise TeamPieceOff(f"the team's {piece.replace('_', ' ')} is switched off in this run ({_FLAGS[piece]})")


@dataclass
class _Request:
    id: str
    sender: str
    recipient: str
    type: str
    body: str
    sent_at: float
    answered_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.sender,
            "to": self.recipient,
            "type": self.type,
            "body": self.body,
            "sent_at": self.sent_at,
            "answered_at": self.answered_at,
        }


class TeamPair:
    """The team of one pair: roles, task list, scratchpad, requests.

    Args:
        agents: the agent ids, lead first.
        features_of: each agent's feature ids.
        features: which pieces are on.
        record: called with ``(agent, text, event, step)`` for every task-list event, so the
            runner can put it in the pair's ledger.

    Attributes:
        lead: the lead's agent id.
        task_list: the task list, ``None`` when switched off.
        scratchpad: the host directory mounted as the scratchpad, ``None`` when switched off.
    """

    def __init__(
        self,
        agents: Sequence[str],
        features_of: dict[str, list[int]],
        features: TeamFeatures | None = None,
        *,
        record: Callable[[str, str, dict[str, Any], int | None], None] | None = None,
    ) -> None:
        self.agents = list(agents)
        self.lead = self.agents[0]
        self.features = features or TeamFeatures()
        self.features_of = {a: list(f) for a, f in features_of.items()}
        self._record = record
        self._clients: dict[str, TeamClient] = {}
        self._requests: dict[str, _Request] = {}
        self._request_ids = itertools.count(1)
        self._lock = threading.Lock()
        self.started = time.time()
        self.task_list = TaskList(self.agents, on_event=self._on_task_event) if self.features.task_list else None
        self.scratchpad: Path | None = None
        if self.features.scratchpad:
            self.scratchpad = Path(tempfile.mkdtemp(prefix="cbteam-"))
            os.chmod(self.scratchpad, 0o777)  # a container's user may differ from the harness's
        if self.task_list is not None:
            self._seed()

    def role(self, agent_id: str) -> str:
        """``lead`` or ``member``."""
        return "lead" if agent_id == self.lead else "member"

    @property
    def members(self) -> list[str]:
        return self.agents[1:]

    def _seed(self) -> None:
        assert self.task_list is not None
        for member in self.members:
            for feature in self.features_of.get(member, []):
                title = f"Implement feature {feature}"
                self.task_list.create(title, by="cooperbench", assignee=member, feature=feature)
        lead_features = self.features_of.get(self.lead, [])
        what = ", ".join(str(f) for f in lead_features)
        self.task_list.create(
            f"Integrate and submit: implement feature {what} and make sure every member's feature is done"
            if what
            else "Integrate and submit",
            by="cooperbench",
            assignee=self.lead,
            feature=lead_features[0] if lead_features else None,
            lead_task=True,
        )

    def _on_task_event(self, event: TaskEvent, task: Task) -> None:
        if self._record is None:
            return
        text = {
            "create": f"{event.by} created task #{task.id}: {task.title}",
            "claim": f"{event.by} claimed task #{task.id}",
            "update": f"{event.by} updated task #{task.id}: {task.status}" + (f" ({task.note})" if task.note else ""),
            "done": f"{event.by} finished task #{task.id}" + (f" ({task.note})" if task.note else ""),
        }[event.action]
        details = {k: v for k, v in event.as_dict().items() if k not in ("by", "at", "step")}
        with contextlib.suppress(Exception):  # the ledger is a record; a dead transport must not fail the agent
            self._record(event.by, text, {"team": "task", **details}, event.step)

    # -- per agent -------------------------------------------------------------------------

    def client(self, agent_id: str, connector: MessagingConnector | None = None) -> TeamClient:
        """The agent's access (one per agent; ``connector`` is its messaging, for requests)."""
        with self._lock:
            client = self._clients.get(agent_id)
            if client is None:
                client = self._clients[agent_id] = TeamClient(self, agent_id, connector)
            elif connector is not None and client.connector is None:
                client.connector = connector
            return client

    def attach(self, messaging: Any) -> None:
        """Serve the team through each agent's endpoint of ``messaging`` (a ``PairMessaging``)."""
        for agent_id in self.agents:
            endpoint = messaging.endpoint(agent_id)
            if endpoint is not None:
                endpoint.team = self.client(agent_id, endpoint.connector)

    def mounts(self) -> tuple[Any, ...]:
        """What every teammate's sandbox mounts: the scratchpad, writable, at :data:`SCRATCHPAD_DIR`."""
        if self.scratchpad is None:
            return ()
        from cooperbench.backends.base import Mount

        return (Mount(source=self.scratchpad, target=SCRATCHPAD_DIR, read_only=False),)

    # -- requests --------------------------------------------------------------------------

    def _open_request(self, sender: str, recipient: str, kind: str, body: str) -> _Request:
        with self._lock:
            request = _Request(f"r{next(self._request_ids)}", sender, recipient, kind, body, time.time())
            self._requests[request.id] = request
            return request

    def _answer(self, agent_id: str, request_id: str) -> _Request:
        with self._lock:
            request = self._requests.get(request_id)
            if request is None:
                raise TaskListError(f"no request {request_id!r}; see `coop-msg requests`")
            if request.recipient != agent_id:
                raise TaskListError(f"request {request_id} was sent to {request.recipient}, not to you")
            if request.answered_at is not None:
                raise TaskListError(f"request {request_id} is answered already")
            request.answered_at = time.time()
            return request

    def open_requests(self, agent_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r.as_dict() for r in self._requests.values() if r.recipient == agent_id and r.answered_at is None]

    # -- the record ------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        """``tasks.json``: the final tasks, every task-list event, every request."""
        tasks = self.task_list.tasks() if self.task_list is not None else []
        events = self.task_list.events() if self.task_list is not None else []
        with self._lock:
            requests = [r.as_dict() for r in self._requests.values()]
        return {
            "features": self.features.as_dict(),
            "tasks": [t.as_dict() for t in tasks],
            "events": [e.as_dict() for e in events],
            "requests": requests,
        }

    def metrics(self) -> dict[str, Any]:
        """Coordination metrics for ``result.json`` (task-list ones only with the task list on)."""
        with self._lock:
            requests = list(self._requests.values())
        out: dict[str, Any] = {}
        if self.task_list is not None:
            out.update(coordination_metrics(self.task_list.tasks(), self.task_list.events(), self.agents))
        if self.features.protocol:
            out["requests_per_agent"] = {a: sum(1 for r in requests if r.sender == a) for a in self.agents}
            out["requests_answered"] = sum(1 for r in requests if r.answered_at is not None)
        return out

    def save_scratchpad(self, destination: Path, limit_bytes: int = 20 << 20) -> None:
        """Copy the scratchpad's files (links as links, at most ``limit_bytes``) to ``destination``."""
        if self.scratchpad is None:
            return
        shutil.rmtree(destination, ignore_errors=True)  # what an earlier attempt left
        destination.mkdir(parents=True, exist_ok=True)
        total = 0
        for path in sorted(self.scratchpad.rglob("*")):
            rel = path.relative_to(self.scratchpad)
            target = destination / rel
            with contextlib.suppress(OSError):
                if path.is_symlink():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(os.readlink(path), target)
                elif path.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                elif path.is_file():
                    total += path.stat().st_size
                    if total > limit_bytes:
                        return
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target)

    def close(self) -> None:
        """Remove the scratchpad's host directory. Idempotent."""
        if self.scratchpad is not None:
            shutil.rmtree(self.scratchpad, ignore_errors=True)


@dataclass
class TeamClient:
    """One agent's access to its team; everything it does is done as ``agent_id``.

    Methods raise :class:`~cooperbench.team.TaskListError` (:class:`TeamPieceOff` for a piece
    the run switched off) for a request that cannot be done; the message says why.
    """

    team: TeamPair
    agent_id: str
    connector: MessagingConnector | None = None
    step: int | None = None
    _last_summary: str | None = field(default=None, repr=False)

    @property
    def role(self) -> str:
        return self.team.role(self.agent_id)

    @property
    def features(self) -> TeamFeatures:
        return self.team.features

    @property
    def scratchpad(self) -> str | None:
        """The scratchpad's path inside the sandbox, ``None`` when switched off."""
        return SCRATCHPAD_DIR if self.team.scratchpad is not None else None

    def set_step(self, step: int) -> None:
        """Record the agent's step for the ledger (also its messaging connector's)."""
        self.step = int(step)
        if self.connector is not None:
            self.connector.set_step(step)

    def _step(self) -> int | None:
        if self.connector is not None and self.connector.step is not None:
            return self.connector.step
        return self.step

    def info(self) -> dict[str, Any]:
        """``{"agent_id", "role", "lead", "members", "features", "scratchpad"}``."""
        return {
            "agent_id": self.agent_id,
            "role": self.role,
            "lead": self.team.lead,
            "members": self.team.members,
            "features": self.features.as_dict(),
            "scratchpad": self.scratchpad,
        }

    # -- the task list ---------------------------------------------------------------------

    def _tasks(self) -> TaskList:
        self.features.require("task_list")
        assert self.team.task_list is not None
        return self.team.task_list

    def tasks(self, *, mine: bool = False, open_only: bool = False) -> list[dict[str, Any]]:
        return [t.as_dict() for t in self._tasks().tasks(owner=self.agent_id if mine else None, open_only=open_only)]

    def create(self, title: str, *, assign: str | None = None) -> dict[str, Any]:
        return self._tasks().create(title, by=self.agent_id, assignee=assign, step=self._step()).as_dict()

    def claim(self, task_id: int) -> dict[str, Any]:
        return self._tasks().claim(task_id, by=self.agent_id, step=self._step()).as_dict()

    def update(self, task_id: int, *, status: str | None = None, note: str | None = None) -> dict[str, Any]:
        return self._tasks().update(task_id, by=self.agent_id, status=status, note=note, step=self._step()).as_dict()

    def done(self, task_id: int, note: str | None = None) -> dict[str, Any]:
        return self.update(task_id, status="done", note=note)

    def summary(self) -> str:
        """The task list as the agent reads it."""
        return format_tasks(self._tasks().tasks(), viewer=self.agent_id)

    def refresh(self) -> str | None:
        """The task list when it changed since the last refresh (auto-refresh on), else ``None``."""
        if not (self.features.auto_refresh and self.features.task_list):
            return None
        text = self.summary()
        if text == self._last_summary:
            return None
        self._last_summary = text
        return text

    # -- typed requests --------------------------------------------------------------------

    def _comm(self) -> MessagingConnector:
        self.features.require("protocol")
        if self.connector is None:
            raise TeamPieceOff("requests need messaging, which is off in this run")
        return self.connector

    def request(self, to: str, kind: str, body: str, *, wait: float | None = None) -> dict[str, Any]:
        """Send a typed request (``kind``: a word such as ``review`` or ``interface``) to a teammate.

        Returns:
            ``{"request_id", "messages"}``; with ``wait`` the messages that arrived while waiting
            (the wait ends early when the teammate has finished or left).

        Raises:
            TaskListError: the protocol is off, or ``to`` is not a teammate.
        """
        comm = self._comm()
        kind = "".join(ch for ch in str(kind) if ch.isalnum() or ch in "-_")[:40] or "request"
        if to not in comm.teammates:
            raise TaskListError(f"cannot send a request to {to!r}: not a teammate ({', '.join(comm.teammates)})")
        request = self.team._open_request(self.agent_id, to, kind, str(body))
        event = {"team": "request", "request_id": request.id, "request_type": kind}
        text = f"[request {request.id}: {kind}] {body}\n(answer with: coop-msg respond {request.id} <your answer>)"
        _post(comm, to, text, event)
        replies = comm.wait_for_reply(wait, from_agent=to) if wait is not None else []
        return {"request_id": request.id, "messages": replies}

    def respond(self, request_id: str, body: str) -> dict[str, Any]:
        """Answer a request addressed to this agent.

        Raises:
            TaskListError: the protocol is off, no such open request, or it was sent to someone else.
        """
        comm = self._comm()
        request = self.team._answer(self.agent_id, request_id)
        event = {"team": "response", "request_id": request.id, "request_type": request.type}
        _post(comm, request.sender, f"[response to {request.id}] {body}", event)
        return {"request_id": request.id, "to": request.sender}

    def requests(self) -> list[dict[str, Any]]:
        """The open requests addressed to this agent."""
        self._comm()
        return self.team.open_requests(self.agent_id)


def _post(comm: MessagingConnector, to: str, text: str, event: dict[str, Any]) -> None:
    """Send as the connector's agent, with ``event`` in the ledger where the bus records events."""
    from cooperbench.messaging.base import BusBase

    if isinstance(comm.bus, BusBase):
        comm.bus.post(comm.agent_id, [to], text, step=comm.step, event=event)
    else:
        comm.send(to, text)
