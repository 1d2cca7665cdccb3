"""What the agent is told about CooperBench: its sandbox, its teammates, and the task."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CONTINUE_MESSAGE", "system_suffix", "task_message"]

CONTINUE_MESSAGE = (
    "Please continue working on the task on whatever approach you think is suitable. "
    "When you are done, call the `finish` tool. "
    "IMPORTANT: you should never ask for human help; nobody will answer."
)
"""Sent when the model replies with text instead of a tool call (the way OpenHands' own benchmarks keep it going)."""


def system_suffix(
    *,
    agent_id: str,
    teammates: Sequence[str],
    repo_dir: str,
    messaging: bool,
    git_instructions: str | None,
    team_instructions: str | None = None,
) -> str:
    """The CooperBench part of the system message.

    It names the agent first (``You are agent1``), before any teammate, so logs and scripted
    test models can tell the agents' conversations apart.
    """
    lines = [
        f"You are {agent_id}, a software engineer working in a sandbox that holds a git repository at {repo_dir}.",
        "Your change is taken from that repository's working tree when you finish: edit the files in place, "
        "there is no need to commit.",
    ]
    if teammates:
        lines.append(
            f"You work at the same time as your teammate(s) {', '.join(teammates)}, each implementing another "
            "feature of the same repository in their own sandbox. Your changes and theirs are merged at the end, "
            "so avoid editing the same lines in conflicting ways."
        )
        if messaging:
            lines.append(
                "Coordinate with them through the `send_message` tool: say early which files and functions you "
                "will change, and answer their questions. Their messages reach you as `[Message from <id>]: ...`."
            )
    if git_instructions:
        lines.append(git_instructions)
    if team_instructions:  # team runs: role, task list, requests, scratchpad (`coop-msg` in the terminal)
        lines.append(team_instructions)
    return "\n\n".join(lines)


def task_message(task: str, *, repo_dir: str) -> str:
    """The first user message: the feature(s) to implement."""
    return (
        f"<task>\n{task.strip()}\n</task>\n\n"
        f"Implement the task above in the repository at {repo_dir}. Explore the code first, make the change, "
        "and check it (run the relevant tests if there are any). When you are done, call the `finish` tool."
    )
