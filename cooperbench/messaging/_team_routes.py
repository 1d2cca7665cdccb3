"""The team part of the messaging endpoint's HTTP API (``team`` runs): task list, requests, the agent's role.

==================================================  ==========================================
``GET  /v1/team``                                   ``{"agent_id", "role", "lead", "members", "features", ...}``
``GET  /v1/tasks[?mine=1|open=1]``                  ``{"tasks": [...]}``
``POST /v1/tasks[?assign=<id>]``, body = title      ``{"task"}``
``POST /v1/tasks/<n>/claim``                        ``{"task"}``
``POST /v1/tasks/<n>/update?status=<s>``, body=note ``{"task"}`` (``status`` or a note, or both)
``POST /v1/tasks/<n>/done``, body = note            ``{"task"}``
``POST /v1/request?to=<id>&type=<t>[&wait=<s>]``    body = text; ``{"request_id", "messages"}``
``GET  /v1/requests``                               ``{"requests": [...]}`` (open, addressed to this agent)
``POST /v1/respond?id=<request id>``, body = text   ``{"request_id", "to"}``
==================================================  ==========================================

A request the team cannot do (someone else's task, a piece the run switched off) is a 400
whose ``error`` says why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cooperbench.messaging.endpoint import _HttpError, format_messages

if TYPE_CHECKING:
    from cooperbench.team import TeamClient

__all__ = ["answer"]


def _task_text(task: dict[str, Any]) -> str:
    owner = task["owner"] or "unclaimed"
    note = f" - note: {task['note']}" if task.get("note") else ""
    return f"#{task['id']} [{task['status']}] {owner}: {task['title']}{note}"


def _task_id(raw: str) -> int:
    if not raw.isdigit():
        raise _HttpError(400, f"{raw!r} is not a task number")
    return int(raw)


def answer(
    team: TeamClient,
    method: str,
    path: str,
    query: dict[str, str],
    body: Callable[[], str],
    wait: float | None,
) -> tuple[dict[str, Any], str]:
    """Do one team request of the endpoint; returns (JSON answer, text answer).

    Raises:
        _HttpError: an unknown path or method, a malformed request.
        TaskListError: a request the team cannot do (400).
    """
    parts = path.split("/")[2:]  # "/v1/tasks/3/claim" -> ["tasks", "3", "claim"]
    post = method == "POST"
    if parts == ["team"] and not post:
        info = team.info()
        off = [k for k, v in info["features"].items() if not v]
        text = (
            f"You are {info['agent_id']}, the team's {info['role']}; the lead is {info['lead']}; members: "
            f"{', '.join(info['members'])}. Scratchpad: {info['scratchpad'] or 'none'}."
            + (f" Switched off: {', '.join(off)}." if off else "")
        )
        return info, text
    if parts == ["tasks"]:
        if post:
            task = team.create(body(), assign=query.get("assign") or None)
            return {"task": task}, f"Created task #{task['id']}: {task['title']}"
        tasks = team.tasks(mine=query.get("mine") == "1", open_only=query.get("open") == "1")
        if not (query.get("mine") == "1" or query.get("open") == "1"):
            return {"tasks": tasks}, team.summary()
        return {"tasks": tasks}, "\n".join(_task_text(t) for t in tasks) or "No such tasks."
    if len(parts) == 3 and parts[0] == "tasks" and post:
        task_id = _task_id(parts[1])
        action = parts[2]
        if action == "claim":
            task = team.claim(task_id)
            return {"task": task}, f"You own task #{task_id} now ({task['status']})."
        if action in ("update", "done"):
            note = body().strip() or None
            task = (
                team.done(task_id, note)
                if action == "done"
                else team.update(task_id, status=query.get("status") or None, note=note)
            )
            return {"task": task}, f"Task #{task_id} is {task['status']}."
    if parts == ["request"] and post:
        text = body()
        to = query.get("to", "")
        if not to or not text.strip():
            raise _HttpError(400, "a request needs to=<agent id> and a text")
        result = team.request(to, query.get("type") or "request", text, wait=wait)
        summary = f"Request {result['request_id']} sent to {to}."
        if wait is not None:
            summary += "\n" + (format_messages(result["messages"]) or f"No answer within {wait:g} seconds.")
        return result, summary
    if parts == ["requests"] and not post:
        open_requests = team.requests()
        lines = [f"{r['id']} from {r['from']} ({r['type']}): {r['body']}" for r in open_requests]
        return {"requests": open_requests}, "\n".join(lines) or "No open requests."
    if parts == ["respond"] and post:
        request_id = query.get("id", "")
        text = body()
        if not request_id or not text.strip():
            raise _HttpError(400, "a response needs id=<request id> and a text")
        result = team.respond(request_id, text)
        return result, f"Answered {request_id} (to {result['to']})."
    raise _HttpError(404, f"no team endpoint {method} {path}; see `coop-msg --help`")
