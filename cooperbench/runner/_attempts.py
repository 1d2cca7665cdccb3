"""Nothing an attempt at a pair did is lost: its spend, and the work of an agent that never returned.

A pair may be tried several times: ``--attempts`` after an ``infra_error``, a resumed run after
an interruption or an infrastructure error, ``--force``. Each try is one entry of the pair's
``attempts.json`` (what it cost, its tokens and steps, how it ended), kept across tries; the
pair's ``result.json`` carries the whole list and ``spent``, their sum, which is what the
provider billed and what ``summary.json`` counts. Patches of earlier tries are kept in
``attempts/<n>/``.

An agent that hangs past its time limit, or whose pair is interrupted, returns no patch; its
working tree is taken from its sandbox before the sandbox is destroyed (:func:`rescue_patch`).
"""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cooperbench.errors import CooperBenchError
from cooperbench.io import read_json, write_json_atomic
from cooperbench.patches import working_tree_patch

if TYPE_CHECKING:
    from cooperbench.backends import Sandbox
    from cooperbench.dataset import Task

__all__ = ["ATTEMPTS_FILE", "archive_patches", "load_attempts", "record_attempt", "rescue_patch", "spent"]

ATTEMPTS_FILE = "attempts.json"
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
SPEND_FIELDS = ("cost", "steps", *TOKEN_FIELDS)
# A hung agent's diff must not hold up a Ctrl-C for long; a diff of a task repository takes well under a second.
_RESCUE_TIMEOUT = 60.0


class _Exec:
    """A sandbox seen as the ``execute`` environment :func:`working_tree_patch` drives."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def execute(self, command: str, timeout: float | None = None) -> dict[str, Any]:
        return self.sandbox.exec(command, timeout=timeout).to_dict()


def _base_commit(task: Task | None) -> str | None:
    if task is None:
        return None
    from cooperbench.backends.local import read_base_commit  # the task's setup.sh names it

    try:
        return read_base_commit(task)
    except CooperBenchError:
        return None


def rescue_patch(sandboxes: list[Sandbox], task: Task | None) -> str:
    """The working-tree diff of the first of ``sandboxes`` that has one (``""`` when none has).

    The diff is taken against the task's base commit (committed work included); where the
    sandbox does not know that commit, against its ``HEAD``. Never raises: a sandbox that is
    already gone has nothing to give.
    """
    base = _base_commit(task)
    for sandbox in sandboxes:
        env = _Exec(sandbox)
        with contextlib.suppress(CooperBenchError, OSError):
            rev = "HEAD"
            if base is not None:
                probe = env.execute(f"git cat-file -e {shlex.quote(base)}^{{commit}}", timeout=30)
                rev = base if probe.get("returncode") == 0 else "HEAD"
            patch = working_tree_patch(env, rev, timeout=_RESCUE_TIMEOUT)
            if patch:
                return patch
    return ""


def load_attempts(out_dir: Path) -> list[dict[str, Any]]:
    """The pair's earlier attempts, oldest first (from ``attempts.json``, or an older ``result.json``)."""
    data = read_json(out_dir / ATTEMPTS_FILE)
    if isinstance(data, list):
        return [a for a in data if isinstance(a, dict)]
    result = read_json(out_dir / "result.json")  # written before attempts were kept: its spend counts too
    if isinstance(result, dict) and isinstance(result.get("totals"), dict) and result.get("outcome") != "dataset_error":
        return [
            {
                "number": 1,
                "run_id": result.get("run_id"),
                "outcome": result.get("outcome"),
                "started_at": result.get("started_at"),
                "totals": result["totals"],
            }
        ]
    return []


def archive_patches(out_dir: Path, number: int) -> None:
    """Keep the patches an earlier attempt left in the pair folder as ``attempts/<number>/`` before a new try."""
    if number < 1:
        return
    target = out_dir / "attempts" / str(number)
    patches = [p for p in out_dir.glob("*.patch") if p.is_file() and p.stat().st_size > 0]
    if not patches or target.exists():
        return
    target.mkdir(parents=True, exist_ok=True)
    for patch in patches:
        patch.replace(target / patch.name)


def record_attempt(out_dir: Path, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Append ``entry`` (numbered after the earlier attempts) to ``attempts.json``; returns every attempt."""
    history = load_attempts(out_dir)
    history.append({"number": len(history) + 1, **entry})
    write_json_atomic(out_dir / ATTEMPTS_FILE, history)
    return history


def spent(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Cost, steps and tokens of every attempt, added up."""
    total: dict[str, Any] = {"cost": 0.0, **{k: 0 for k in SPEND_FIELDS if k != "cost"}}
    for entry in history:
        totals = entry.get("totals") or {}
        total["cost"] += float(totals.get("cost") or 0.0)
        for key in SPEND_FIELDS[1:]:
            total[key] += int(totals.get(key) or 0)
    total["cost"] = round(total["cost"], 6)
    total["attempts"] = len(history)
    return total
