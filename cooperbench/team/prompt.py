"""What an agent of a ``team`` run is told: its role, and how to reach the task list, scratchpad and requests.

Agents that know the setting put :func:`team_instructions` in their own prompt; for agents
that do not, the runner puts it before the task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cooperbench.team._session import SCRATCHPAD_DIR

__all__ = ["team_instructions"]

SANDBOX_COMMAND = "/run/cooperbench/messaging/coop-msg"  # cooperbench.messaging.endpoint.SANDBOX_COMMAND


def team_instructions(info: Mapping[str, Any], *, command: str = SANDBOX_COMMAND) -> str:
    """The team block of an agent's prompt.

    Args:
        info: :meth:`TeamClient.info() <cooperbench.team.TeamClient.info>` (role, lead,
            members, features, scratchpad).
        command: how the agent runs ``coop-msg`` in its sandbox.
    """
    agent_id = str(info["agent_id"])
    lead = str(info["lead"])
    members: Sequence[str] = list(info.get("members") or [])
    features = dict(info.get("features") or {})
    scratch = info.get("scratchpad")
    parts: list[str] = []
    if info.get("role") == "lead":
        parts.append(
            f"## Your role: team lead\n\nYou are {agent_id}, the lead of a team whose members are "
            f"{', '.join(members)}. Each member implements their own feature in their own sandbox; you implement "
            "yours and you are responsible for the team's result: plan who changes what so that the changes do "
            "not conflict, keep track of the members' progress, unblock them, and check that every feature is "
            "done before you submit. The patches of every teammate are merged at the end and every feature's "
            "tests run on the merge."
        )
    else:
        parts.append(
            f"## Your role: team member\n\nYou are {agent_id}, a member of a team led by {lead}. Implement your "
            "own feature, stay within the parts of the code it needs, follow the lead's plan, and tell the lead "
            "when you are blocked or done. The patches of every teammate are merged at the end and every "
            "feature's tests run on the merge."
        )
    if features.get("task_list"):
        mine = "the task assigned to you" if info.get("role") != "lead" else "your integrate-and-submit task"
        parts.append(
            "### The team's task list\n\n"
            f"The harness keeps a task list for the team, seeded with one task per feature. Claim {mine} first, "
            "update it as you go, and mark it done when it is.\n\n"
            f"    {command} task list              # every task (--mine: yours, --open: unclaimed)\n"
            f"    {command} task claim ID\n"
            f"    {command} task update ID STATUS [NOTE...]   # open, in_progress, blocked or done\n"
            f"    {command} task done ID [NOTE...]\n"
            f"    {command} task create [--assign AGENT] TITLE..."
        )
    if features.get("protocol"):
        parts.append(
            "### Requests\n\nFor a question that needs an answer (a review, an interface to agree on), send a "
            "typed request; the teammate answers it by its id.\n\n"
            f"    {command} request [--wait SECONDS] AGENT TYPE TEXT...   # e.g. request agent2 interface '...'\n"
            f"    {command} requests                                     # requests waiting for your answer\n"
            f"    {command} respond REQUEST_ID TEXT..."
        )
    parts.append(
        "### Messages\n\n"
        f"    {command} send [--wait SECONDS] AGENT|all TEXT...\n"
        f"    {command} receive [--wait SECONDS]\n"
        f"    {command} peers                     # who is working, blocked or finished"
    )
    if scratch:
        parts.append(
            f"### Shared scratchpad\n\n{scratch} is a directory every teammate's sandbox shares (it is not part of "
            "anyone's patch): leave plans, interface notes or partial diffs there for the others"
            + (f", e.g. {SCRATCHPAD_DIR}/PLAN.md." if info.get("role") == "lead" else ".")
        )
    return "\n\n".join(parts)
