"""Why a coop pair failed: the failure attribution stored in ``eval.json``.

For every feature that fails on the merged code, its owner's patch is also tested alone
against that feature's tests. With ``merged_ok[i]`` (feature i passes on the merge) and
``alone_ok[i]`` (it passes on its own agent's patch alone), the category of the pair (of any
number of agents) is:

==============================  ==================================================================
``None``                        the naive merge was clean and every feature passes
``union_rescued``               the naive merge conflicted, the union merge went through, all pass
                                (``paper`` policy)
``lead_rescued``                the naive merge conflicted (or a partner's patch did not apply) and the
                                lead's (agent1's) patch alone passes every feature (``upstream`` policy)
``merge_conflict``              the merge conflicted and the policy's fallback (union merge, or the
                                lead's patch alone) did not pass: nothing merged was tested
``own_implementation_failed``   every failing feature also fails on its own agent's patch (an empty or
                                unappliable patch counts as failing): the agents' own work is at fault
``integration_failure``         every failing feature passes on its own agent's patch: each side works
                                alone, only the combination fails
``partner_breakage``            mixed: a feature that works alone fails on the merge next to a partner
                                whose own feature fails alone, i.e. the partner's broken patch took it down
==============================  ==================================================================

A feature that passes on the merge counts as working (no alone run is spent on it), so at
most one extra test run per failing feature is needed, and none for a passing pair.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CATEGORIES", "classify"]

CATEGORIES: tuple[str, ...] = (
    "union_rescued",
    "lead_rescued",
    "merge_conflict",
    "own_implementation_failed",
    "integration_failure",
    "partner_breakage",
)


def classify(
    *,
    merged_ok: Mapping[str, bool],
    alone_ok: Mapping[str, bool | None],
    naive_clean: bool,
    union_clean: bool | None,
) -> str | None:
    """The attribution category of a coop pair (see the module docstring).

    Args:
        merged_ok: ``{agent_id: passed}`` for each agent's own feature on the merged code
            (ignored when the merge conflicted).
        alone_ok: ``{agent_id: passed}`` for that feature on the agent's patch alone; ``None``
            when not run (the feature passed on the merge). An agent whose patch is empty or
            does not apply is ``False``.
        naive_clean: the naive merge was clean.
        union_clean: the union merge was clean; ``None`` when it was not tried.

    Returns:
        One of :data:`CATEGORIES`, or ``None`` for a pair that passed on a clean merge.
    """
    if not naive_clean and not union_clean:
        return "merge_conflict"
    failing = [agent for agent, ok in merged_ok.items() if not ok]
    if not failing:
        return None if naive_clean else "union_rescued"
    works_alone = [bool(alone_ok.get(agent)) for agent in failing]
    if all(works_alone):
        return "integration_failure"
    if not any(works_alone):
        return "own_implementation_failed"
    return "partner_breakage"
