"""An agent's steps, read from its trajectory file, for the lanes of a pair page.

Trajectories are each agent framework's own format; four are read, anything else gives no
steps (the pair page still shows the ledger's messages at their steps):

- mini-swe-agent (``{"trajectory_format": "mini-swe-agent-1.x", "messages": [...]}``): a step is
  an assistant message, its time ``extra.timestamp``, its commands ``extra.actions``, its
  result the tool messages after it;
- OpenHands (``{"trajectory_format": "cooperbench-openhands-1", "events": [...]}``): a step is an
  ``ActionEvent``, its result the ``ObservationEvent`` answering it;
- Claude Code (``{"trajectory_format": "cooperbench-claude-code-1", "events": [...]}``, the CLI's
  ``stream-json`` events): a step is a ``tool_use`` block of an ``assistant`` event, its result
  the ``tool_result`` answering it;
- a plain list of messages (what the harness writes from ``AgentResult.messages``): each
  assistant or tool message is a step, without times.

Messages are never taken from here: ``conversation.json`` (the harness's ledger) is their source.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

__all__ = ["MAX_STEP_TEXT", "git_action", "read_steps"]

MAX_STEP_TEXT = 600
_GIT = re.compile(r"\bgit\s+(?:-C\s+\S+\s+)?(push|fetch|pull|merge|rebase|cherry-pick)\b")
_SEND = re.compile(r"(?:^|[\s;&|])send_message\b|\bcoop-msg\s+(?:send|broadcast)\b")
_SUBMIT = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"


def _clip(text: str, limit: int = MAX_STEP_TEXT, *, keep: str = "head") -> str:
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return (
        text[:limit] + f"\n[… {cut} more characters]" if keep == "head" else f"[{cut} characters …]\n" + text[-limit:]
    )


def git_action(command: str) -> str | None:
    """The git collaboration verb a shell command runs (``push``, ``fetch``, ``pull``, ``merge``, ...), if any."""
    match = _GIT.search(command)
    return match.group(1) if match else None


def _kind(command: str) -> str:
    if _SUBMIT in command:
        return "submit"
    if _SEND.search(command):
        return "message"
    verb = git_action(command)
    if verb in ("push",):
        return "git push"
    if verb in ("fetch", "pull", "merge", "rebase", "cherry-pick"):
        return "git fetch"
    return "command"


def _as_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def _epoch(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _step(index: int, command: str, t: float | None) -> dict[str, Any]:
    return {"i": index, "t": t, "t_end": None, "kind": _kind(command), "text": _clip(command), "rc": None, "out": ""}


def _mini_swe_agent(messages: list[Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role, extra = message.get("role"), message.get("extra") or {}
        if role == "assistant":
            actions = [a.get("command", "") for a in extra.get("actions") or [] if isinstance(a, dict)]
            command = "\n".join(actions) if actions else _as_text(message.get("content"))
            steps.append(_step(len(steps) + 1, command, _epoch(extra.get("timestamp"))))
        elif role == "tool" and steps:
            last = steps[-1]
            last["rc"] = extra.get("returncode", last["rc"])
            last["t_end"] = _epoch(extra.get("timestamp")) or last["t_end"]
            out = extra.get("raw_output")
            last["out"] = _clip(str(out if out is not None else _as_text(message.get("content"))), keep="tail")
    return steps


def _openhands(events: list[Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = str(event.get("kind") or "")
        if kind == "ActionEvent":
            action = event.get("action") or {}
            command = str(action.get("command") or action.get("kind") or event.get("tool_name") or "action")
            steps.append(_step(len(steps) + 1, command, _epoch(event.get("timestamp"))))
        elif kind == "ObservationEvent" and steps:
            observation = event.get("observation") or {}
            last = steps[-1]
            last["t_end"] = _epoch(event.get("timestamp"))
            last["rc"] = observation.get("exit_code", last["rc"])
            last["out"] = _clip(_as_text(observation.get("content") or observation.get("output")), keep="tail")
    return steps


def _claude_code(events: list[Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for event in events:
        if not isinstance(event, dict) or event.get("type") not in ("assistant", "user"):
            continue
        for block in (event.get("message") or {}).get("content") or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                arguments = block.get("input") or {}
                command = str(arguments.get("command") or f"{block.get('name')} {arguments.get('file_path', '')}")
                step = _step(len(steps) + 1, command.strip(), _epoch(event.get("timestamp")))
                steps.append(step)
                by_id[str(block.get("id"))] = step
            elif block.get("type") == "tool_result" and str(block.get("tool_use_id")) in by_id:
                step = by_id[str(block.get("tool_use_id"))]
                step["rc"] = 1 if block.get("is_error") else 0
                step["t_end"] = _epoch(event.get("timestamp"))
                step["out"] = _clip(_as_text(block.get("content")), keep="tail")
    return steps


def _plain(messages: list[Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, dict) and message.get("role") in ("assistant", "tool"):
            text = _as_text(message.get("content")).strip()
            steps.append(_step(len(steps) + 1, text.removeprefix("$ "), _epoch(message.get("timestamp"))))
    return steps


def read_steps(trajectory: Any) -> list[dict[str, Any]]:
    """The steps of a trajectory (a parsed ``<agent>_traj.json``), in order.

    Returns:
        ``[{"i", "t", "t_end", "kind", "text", "rc", "out"}]``: ``i`` counts from 1 like the
        ledger's ``sender_step``; ``t``/``t_end`` are epoch seconds or ``None`` when the format
        has no times; ``kind`` is ``command``, ``message``, ``git push``, ``git fetch`` or
        ``submit``; ``text`` and ``out`` are clipped to :data:`MAX_STEP_TEXT` characters.
        An unknown format gives ``[]``.
    """
    if isinstance(trajectory, list):
        return _plain(trajectory)
    if not isinstance(trajectory, dict):
        return []
    fmt = str(trajectory.get("trajectory_format") or "")
    if isinstance(trajectory.get("events"), list) and "openhands" in fmt:
        return _openhands(trajectory["events"])
    if isinstance(trajectory.get("events"), list) and "claude-code" in fmt:
        return _claude_code(trajectory["events"])
    if isinstance(trajectory.get("messages"), list):
        if fmt.startswith("mini-swe-agent") or any(
            isinstance(m, dict) and isinstance(m.get("extra"), dict) for m in trajectory["messages"]
        ):
            return _mini_swe_agent(trajectory["messages"])
        return _plain(trajectory["messages"])
    return []
