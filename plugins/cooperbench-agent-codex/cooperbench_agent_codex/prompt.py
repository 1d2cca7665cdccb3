"""The prompt Codex gets: who it is, who its teammates are, how to reach them, and the feature."""

from __future__ import annotations

from cooperbench.backends.base import REPO_DIR
from cooperbench.messaging.endpoint import SANDBOX_COMMAND

__all__ = ["task_prompt"]


def task_prompt(
    task: str,
    *,
    agent_id: str,
    teammates: list[str],
    messaging: bool,
    git_instructions: str | None = None,
    extra: str | None = None,
) -> str:
    """The first (and only) user message of ``codex exec``.

    It names the agent before its teammates, so a test server routing by agent id finds the
    conversation's owner first.
    """
    parts = [f"You are {agent_id}, a software engineer working in the git repository at {REPO_DIR}."]
    if teammates:
        names = ", ".join(teammates)
        parts.append(
            f"You work at the same time as your teammate(s) {names}, each in a separate copy of the repository. "
            "Each of you implements a different feature; your changes are merged afterwards, so avoid "
            "conflicting edits and agree on shared interfaces."
        )
    if messaging and teammates:
        parts.append(
            "Talk to your teammates with this shell command (messages are the only way to reach them):\n\n"
            f'    {SANDBOX_COMMAND} send <agent> "text"       # e.g. send {teammates[0]} "I\'m editing parser.py"\n'
            f'    {SANDBOX_COMMAND} broadcast "text"\n'
            f"    {SANDBOX_COMMAND} receive --wait 60          # new messages, waiting up to 60 s\n"
            f'    {SANDBOX_COMMAND} send --wait 300 <agent> "question"   # and wait for the reply\n'
            f"    {SANDBOX_COMMAND} peers                       # who is still working\n\n"
            "Check for messages now and then, and answer your teammates."
        )
    if git_instructions:
        parts.append(git_instructions)
    parts.append(
        "Implement the feature below by editing the files of the repository. Your work is the working "
        "tree's diff from the starting commit: leave your changes in place (committing is optional). "
        "Do not ask for confirmation; finish when the feature is done."
    )
    parts.append(f"## Feature\n\n{task.strip()}")
    if extra:
        parts.append(extra)
    return "\n\n".join(parts) + "\n"
