"""What Claude Code is told: the task as its prompt, the team and the tools in its system prompt."""

from __future__ import annotations

from cooperbench.messaging.endpoint import SANDBOX_COMMAND

__all__ = ["system_prompt", "task_prompt"]


def task_prompt(task: str, *, repo_dir: str) -> str:
    return (
        f"Implement the following feature in the repository at {repo_dir} (your working directory).\n"
        "Edit the files there; your work is taken from the repository's working tree when you finish, "
        "so there is nothing to submit and no need to commit.\n\n"
        f"{task.strip()}\n"
    )


def system_prompt(
    *,
    agent_id: str,
    teammates: list[str],
    repo_dir: str,
    messaging: bool,
    git_instructions: str | None,
    extra: str | None,
) -> str:
    """The text appended to Claude Code's own system prompt (``--append-system-prompt-file``)."""
    parts = [
        f"You are {agent_id}, a software engineer working in a sandbox on the repository at {repo_dir}. "
        "Nobody will answer questions: work autonomously until the feature is implemented, then stop."
    ]
    if teammates:
        parts.append(
            f"Your teammate(s) {', '.join(teammates)} implement other features of the same repository at the "
            "same time, each in a sandbox of their own; your changes and theirs are merged afterwards, so "
            "coordinate to avoid conflicting edits (who changes which file, function names, shared code)."
        )
    if messaging:
        parts.append(
            "Talk to your teammates with this shell command (run it with your Bash tool):\n"
            f'  {SANDBOX_COMMAND} send <teammate> "message"          # send\n'
            f'  {SANDBOX_COMMAND} send --wait 120 <teammate> "question" # send and wait for the reply\n'
            f"  {SANDBOX_COMMAND} receive [--wait 60]                   # read messages sent to you\n"
            f'  {SANDBOX_COMMAND} broadcast "message"                   # every teammate\n'
            "Messages to you are not shown unless you receive them: check before you finish."
        )
    if git_instructions:
        parts.append(git_instructions)
    if extra:
        parts.append(extra)
    return "\n\n".join(parts) + "\n"
