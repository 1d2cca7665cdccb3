"""The team's task list: tasks the harness holds, that agents create, claim, update and finish.

The list lives in the harness's process, one per pair. Agents reach it only through their
own :class:`~cooperbench.team.TeamClient` (in the harness's process) or their in-sandbox
endpoint (``coop-msg task ...``), so the acting agent is always the one the harness knows,
never one an agent names. Every change is an event with its time and the agent's step; the
runner writes them to ``tasks.json`` and to the pair's ledger.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cooperbench.errors import CooperBenchError

__all__ = ["STATUSES", "Task", "TaskEvent", "TaskList", "TaskListError", "coordination_metrics"]

STATUSES = ("open", "in_progress", "blocked", "done")


class TaskListError(CooperBenchError, ValueError):
    """A task-list request that cannot be done: an unknown task, someone else's task, a bad status."""


@dataclass
class Task:
    """One task of the list.

    Attributes:
        id: its number, from 1, in creation order.
        title: what to do.
        status: ``open``, ``in_progress``, ``blocked`` or ``done``.
        owner: the agent that claimed it (``None`` while nobody has).
        assignee: whom its creator meant it for (a suggestion; the assignee still claims it).
        created_by: the agent that created it (``cooperbench`` for the harness's seed tasks).
        created_at: seconds since the epoch.
        note: the last note its owner left.
        feature: the feature the task is about, for the seed tasks.
        lead_task: whether it is the lead's "integrate and submit" task.
    """

    id: int
    title: str
    status: str = "open"
    owner: str | None = None
    assignee: str | None = None
    created_by: str = "cooperbench"
    created_at: float = field(default_factory=time.time)
    note: str = ""
    feature: int | None = None
    lead_task: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TaskEvent:
    """One change of the list: ``create``, ``claim``, ``update`` or ``done``."""

    action: str
    task_id: int
    by: str
    at: float
    step: int | None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "task_id": self.task_id,
            "by": self.by,
            "at": self.at,
            "step": self.step,
            **self.details,
        }


class TaskList:
    """A thread-safe task list with an event log.

    Args:
        agents: the team's agent ids (owners and assignees must be among them).
        on_event: called with each event and the task after it (the runner records it in the ledger).
    """

    def __init__(self, agents: Sequence[str], *, on_event: Callable[[TaskEvent, Task], None] | None = None) -> None:
        self.agents = list(agents)
        self._tasks: dict[int, Task] = {}
        self._events: list[TaskEvent] = []
        self._lock = threading.Lock()
        self._on_event = on_event

    # -- changes ---------------------------------------------------------------------------

    def create(
        self,
        title: str,
        *,
        by: str,
        assignee: str | None = None,
        step: int | None = None,
        feature: int | None = None,
        lead_task: bool = False,
    ) -> Task:
        """Add an open task.

        Raises:
            TaskListError: an empty title, or an assignee who is not on the team.
        """
        title = " ".join(str(title).split())
        if not title:
            raise TaskListError("a task needs a title")
        if assignee is not None and assignee not in self.agents:
            raise TaskListError(f"cannot assign to {assignee!r}: not on the team ({', '.join(self.agents)})")
        with self._lock:
            task = Task(
                id=len(self._tasks) + 1,
                title=title[:500],
                assignee=assignee,
                created_by=by,
                feature=feature,
                lead_task=lead_task,
            )
            self._tasks[task.id] = task
            details: dict[str, Any] = {"title": task.title}
            if assignee:
                details["assignee"] = assignee
            event = self._log("create", task, by, step, details)
        self._notify(event, task)
        return task

    def claim(self, task_id: int, *, by: str, step: int | None = None) -> Task:
        """Make ``by`` the task's owner (status ``in_progress``). Claiming one's own task again is a no-op.

        Raises:
            TaskListError: no such task, or another agent owns it.
        """
        with self._lock:
            task = self._get(task_id)
            if task.owner == by:
                return Task(**task.as_dict())
            if task.owner is not None:
                raise TaskListError(f"task {task_id} is {task.owner}'s already")
            task.owner = by
            if task.status == "open":
                task.status = "in_progress"
            event = self._log("claim", task, by, step, {})
            snapshot = Task(**task.as_dict())
        self._notify(event, snapshot)
        return snapshot

    def update(
        self, task_id: int, *, by: str, status: str | None = None, note: str | None = None, step: int | None = None
    ) -> Task:
        """Change the status of one's own task and/or leave a note (``status="done"`` finishes it).

        Raises:
            TaskListError: no such task, a task ``by`` does not own, an unknown status, nothing to change.
        """
        if status is not None and status not in STATUSES:
            raise TaskListError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        if status is None and note is None:
            raise TaskListError("an update needs a status or a note")
        with self._lock:
            task = self._get(task_id)
            if task.owner != by:
                whose = f"{task.owner}'s" if task.owner else "nobody's yet (claim it first)"
                raise TaskListError(f"task {task_id} is {whose}; only its owner updates it")
            details: dict[str, Any] = {}
            if status is not None:
                task.status = status
                details["status"] = status
            if note is not None:
                task.note = str(note)[:2000]
                details["note"] = task.note
            event = self._log("done" if status == "done" else "update", task, by, step, details)
            snapshot = Task(**task.as_dict())
        self._notify(event, snapshot)
        return snapshot

    # -- reads -----------------------------------------------------------------------------

    def tasks(self, *, owner: str | None = None, open_only: bool = False) -> list[Task]:
        """Copies of the tasks, in id order; ``open_only``: unclaimed ones."""
        with self._lock:
            found = [Task(**t.as_dict()) for t in self._tasks.values()]
        if owner is not None:
            found = [t for t in found if t.owner == owner]
        if open_only:
            found = [t for t in found if t.owner is None and t.status != "done"]
        return found

    def events(self) -> list[TaskEvent]:
        with self._lock:
            return list(self._events)

    def summary(self, viewer: str) -> str:
        """The list as a few lines for a model: ``[Team task list] ...`` then one line per task."""
        return format_tasks(self.tasks(), viewer=viewer)

    # -- internals -------------------------------------------------------------------------

    def _get(self, task_id: int) -> Task:
        try:
            return self._tasks[int(task_id)]
        except (KeyError, ValueError, TypeError):
            known = ", ".join(str(i) for i in self._tasks) or "none yet"
            raise TaskListError(f"no task {task_id!r}; the tasks are {known}") from None

    def _log(self, action: str, task: Task, by: str, step: int | None, details: dict[str, Any]) -> TaskEvent:
        event = TaskEvent(action=action, task_id=task.id, by=by, at=time.time(), step=step, details=details)
        self._events.append(event)
        return event

    def _notify(self, event: TaskEvent, task: Task) -> None:
        if self._on_event is not None:
            self._on_event(event, task)


def format_tasks(tasks: Sequence[Task], *, viewer: str) -> str:
    """Tasks as an agent reads them (``coop-msg task list``, the refresh before each step)."""
    if not tasks:
        return "[Team task list] no tasks."
    counts = Counter(t.status for t in tasks)
    lines = ["[Team task list] " + ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])]
    for t in tasks:
        who = t.owner or (f"unclaimed, for {t.assignee}" if t.assignee else "unclaimed")
        mine = " (yours)" if t.owner == viewer or (t.owner is None and t.assignee == viewer) else ""
        note = f" - note: {t.note}" if t.note else ""
        lines.append(f"  #{t.id} [{t.status}] {who}{mine}: {t.title}{note}")
    return "\n".join(lines)


def coordination_metrics(tasks: Sequence[Task], events: Sequence[TaskEvent], agents: Sequence[str]) -> dict[str, Any]:
    """What ``result.json`` records about how the team used its task list.

    Returns:
        ``tasks_total``, ``tasks_done``, ``tasks_unowned`` (at the end), ``time_to_first_claim_s``
        (from the first task's creation; ``None`` without claims), ``claims_per_agent`` and
        ``updates_per_agent`` (``done`` included), with every agent of the team listed.
    """
    creates = [e.at for e in events if e.action == "create"]
    claims = [e for e in events if e.action == "claim"]
    first_claim = min((e.at for e in claims), default=None)
    return {
        "tasks_total": len(tasks),
        "tasks_done": sum(1 for t in tasks if t.status == "done"),
        "tasks_unowned": sum(1 for t in tasks if t.owner is None),
        "time_to_first_claim_s": round(first_claim - min(creates), 3) if first_claim is not None and creates else None,
        "claims_per_agent": {a: sum(1 for e in claims if e.by == a) for a in agents},
        "updates_per_agent": {
            a: sum(1 for e in events if e.by == a and e.action in ("update", "done")) for a in agents
        },
    }
