"""Reading a pair folder's patches and agent statuses, and writing its ``eval.json``.

Two layouts are read: ours (``agent1.patch`` ... ``agentN.patch`` by agent, ``solo.patch``) and
upstream CooperBench's log folders, where a coop patch is named after its feature
(``agent<feature_id>.patch``).

``eval.json`` holds the result of the run's own scoring policy; re-grading under another policy
writes ``eval.<policy>.json`` beside it (:func:`eval_file_name`), never over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cooperbench.io import read_json, write_json_atomic

if TYPE_CHECKING:
    from cooperbench.backends.base import Backend, RunLabels
    from cooperbench.dataset import Pair
    from cooperbench.evaluation.base import Evaluator

__all__ = [
    "EVAL_FILE",
    "eval_file_name",
    "evaluate_pair_dir",
    "get_evaluator",
    "read_agent_statuses",
    "read_pair_patches",
    "run_policy",
]

EVAL_FILE = "eval.json"


def eval_file_name(policy: str | None, own_policy: str | None) -> str:
    """The file a pair's evaluation under ``policy`` goes to: ``eval.json`` for the run's own
    policy (``own_policy``; ``None``: not decided yet, so ``policy`` becomes it), else ``eval.<policy>.json``."""
    if policy is None or own_policy is None or policy == own_policy:
        return EVAL_FILE
    return f"eval.{policy}.json"


def run_policy(run_dir: Path) -> str | None:
    """The scoring policy whose results a run's ``eval.json`` files hold.

    ``config.json``'s ``policy`` when the run recorded one; else the policy of its first
    ``eval.json`` (ours before policies existed are ``paper``: that is what they were graded
    with); ``None`` when neither says (the first evaluation decides).
    """
    config = read_json(Path(run_dir) / "config.json")
    if isinstance(config, dict) and isinstance(config.get("policy"), str):
        return str(config["policy"])
    found = (
        p for pattern in (f"*/*/*/*/{EVAL_FILE}", f"*/*/*/*/repeat-*/{EVAL_FILE}") for p in Path(run_dir).glob(pattern)
    )
    for path in sorted(found):
        record = read_json(path)
        if isinstance(record, dict):
            if isinstance(record.get("policy"), str):
                return str(record["policy"])
            if record.get("evaluator") == "merge":
                return "paper"
    return None


def get_evaluator(name: str = "merge", **options: Any) -> Evaluator:
    """Instantiate the evaluator plugin registered as ``name``.

    Raises:
        UnknownPluginError: no evaluator of that name is installed (the message lists those that are).
        ConfigError: ``options`` are not understood by the evaluator.
    """
    from cooperbench.errors import ConfigError
    from cooperbench.plugins import get_plugin

    cls = get_plugin("evaluator", name)
    try:
        return cls(**options)  # type: ignore[no-any-return]
    except TypeError as exc:
        if "policy" in options:
            raise ConfigError(
                f"evaluator {name!r} takes no scoring policy (policy={options['policy']!r}): {exc}"
            ) from exc
        raise ConfigError(f"evaluator {name!r}: invalid option: {exc}") from exc


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def read_pair_patches(pair_dir: Path, setting: str, features: tuple[int, ...]) -> dict[str, bytes | None]:
    """Each agent's patch in ``pair_dir``, keyed by agent id (``agent1`` ... ``agentN``, or ``solo``).

    Coop patches are ``agent<i>.patch`` for ``features[i - 1]``; an upstream log folder names
    them ``agent<feature_id>.patch`` instead. The layout with more of its files present wins,
    ours on a tie (for features 1, 2, ... both layouts are the same files).

    Returns:
        ``{agent_id: bytes}``, byte for byte as on disk; ``None`` for a patch file that is missing.
    """
    pair_dir = Path(pair_dir)
    if setting == "solo":
        return {"solo": _read(pair_dir / "solo.patch")}
    ours = [pair_dir / f"agent{i}.patch" for i in range(1, len(features) + 1)]
    upstream = [pair_dir / f"agent{f}.patch" for f in features]
    present = sum(p.is_file() for p in ours), sum(p.is_file() for p in upstream)
    chosen = upstream if present[1] > present[0] else ours
    return {f"agent{i}": _read(path) for i, path in enumerate(chosen, start=1)}


def read_agent_statuses(pair_dir: Path) -> dict[str, str | None]:
    """``{agent_id: status}`` from the pair's ``result.json`` (empty when there is none).

    An agent's ``error_kind`` (``infra_error``, ``timeout``, ``agent_error``: the runner's own
    classification) wins over its free-form ``status``; upstream's solo result has one ``agent``.
    """
    result = read_json(Path(pair_dir) / "result.json")
    if not isinstance(result, dict):
        return {}
    agents = result.get("agents")
    if not isinstance(agents, dict):
        single = result.get("agent")
        agents = {"solo": single} if isinstance(single, dict) else {}
    statuses: dict[str, str | None] = {}
    for agent_id, rec in agents.items():
        if isinstance(rec, Mapping):
            value = rec.get("error_kind") or rec.get("status")
            statuses[str(agent_id)] = str(value) if value is not None else None
    return statuses


def evaluate_pair_dir(
    evaluator: Evaluator,
    pair: Pair,
    pair_dir: Path,
    *,
    setting: str,
    backend: Backend,
    run: RunLabels,
    timeout: float | None = None,
    eval_file: str = EVAL_FILE,
) -> dict[str, Any]:
    """Evaluate the patches in ``pair_dir`` and write its ``eval.json`` atomically.

    Args:
        evaluator: an :class:`~cooperbench.evaluation.Evaluator` (see :func:`get_evaluator`).
        pair: the pair (its task locates ``runner.sh`` and the tests).
        pair_dir: ``logs/<run>/<setting>/<repo>/<task_id>/f<a>_f<b>/``.
        setting: ``coop`` or ``solo``.
        backend: where the evaluation sandbox is created.
        run: the labels of the run the sandbox belongs to.
        timeout: seconds per test run; ``None`` for the evaluator's default.
        eval_file: the file name to write (``eval.<policy>.json`` when re-grading under
            another policy than the run's, see :func:`eval_file_name`).

    Returns:
        The record written.
    """
    pair_dir = Path(pair_dir)
    record = evaluator.evaluate_pair(
        pair,
        setting,
        read_pair_patches(pair_dir, setting, pair.features),
        backend,
        run,
        timeout=timeout,
        agent_statuses=read_agent_statuses(pair_dir),
    )
    write_json_atomic(pair_dir / eval_file, record)
    if eval_file == EVAL_FILE:
        _record_final_outcome(pair_dir, record)
    return record


def _record_final_outcome(pair_dir: Path, record: dict[str, Any]) -> None:
    """result.json says the pair's final outcome once it is evaluated (not ``pending_eval``).

    How the agents ended stays in ``agents_outcome``: a resumed run reruns the agents only when
    they hit an infrastructure error, and evaluates again a pair whose evaluation did.
    """
    result = read_json(pair_dir / "result.json")
    if not isinstance(result, dict) or not record.get("outcome"):
        return
    updated = {**result, "agents_outcome": result.get("agents_outcome", result.get("outcome"))}
    updated["outcome"] = record["outcome"]
    if updated != result:
        write_json_atomic(pair_dir / "result.json", updated)
