"""The ``team`` setting: a lead and members, a harness-owned task list, a shared scratchpad, typed requests.

The runner opens a :class:`TeamPair` for each pair of a team run; each agent gets its own
:class:`TeamClient` (the ``team`` keyword argument of ``AgentRunner.run``, and ``coop-msg
task ...`` in its sandbox). See docs/team.md.
"""

from __future__ import annotations

from cooperbench.team._session import SCRATCHPAD_DIR, TeamClient, TeamFeatures, TeamPair, TeamPieceOff
from cooperbench.team._tasks import (
    STATUSES,
    Task,
    TaskEvent,
    TaskList,
    TaskListError,
    coordination_metrics,
    format_tasks,
)
from cooperbench.team.prompt import team_instructions

__all__ = [
    "SCRATCHPAD_DIR",
    "STATUSES",
    "Task",
    "TaskEvent",
    "TaskList",
    "TaskListError",
    "TeamClient",
    "TeamFeatures",
    "TeamPair",
    "TeamPieceOff",
    "coordination_metrics",
    "format_tasks",
    "team_instructions",
]
