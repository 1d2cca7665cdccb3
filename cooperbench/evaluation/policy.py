"""Scoring policies: which upstream CooperBench semantics an evaluation reproduces.

==========================  ====================================  =====================================
                            ``upstream`` (0.0.16+, default)       ``paper`` (0.0.14)
==========================  ====================================  =====================================
merge                       naive ``git merge``                   naive, then ``* merge=union`` on conflict
on conflict                 the lead's (agent1's) patch alone     the union merge's code is tested
                            must pass every feature's tests
                            (``merge.strategy = "solo-agent1"``)
identical patches           merge skipped (``merge.status =       merged like any others
                            "identical"``)
test files dropped          every language                        Python only (upstream's substrings)
tree reset between runs     ``git clean -fd`` (build output       ``git clean -fdx``
                            baked into images is kept)
==========================  ====================================  =====================================

docs/outcomes.md holds the same table for users.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cooperbench.errors import ConfigError
from cooperbench.evaluation.patch_filter import TestPathRule, is_test_path, is_test_path_any_language

__all__ = ["DEFAULT_POLICY", "POLICIES", "PolicyName", "ScoringPolicy", "get_policy"]

PolicyName = Literal["upstream", "paper"]


@dataclass(frozen=True)
class ScoringPolicy:
    """How a pair's patches are merged and tested.

    Attributes:
        name: ``upstream`` or ``paper``, recorded as ``policy`` in eval.json.
        union_fallback: on a naive merge conflict, merge again with ``* merge=union`` and test that.
        lead_fallback: on a conflict, test the lead agent's patch alone against every feature's tests.
        skip_identical: when every agent's patch is the same, test it once instead of merging.
        test_path: the rule that decides which of an agent's files are tests (dropped before applying).
        clean: the ``git clean`` flags run before each feature's tests.
        upstream_version: the upstream CooperBench version whose semantics this is.
    """

    name: PolicyName
    union_fallback: bool
    lead_fallback: bool
    skip_identical: bool
    test_path: TestPathRule
    clean: str
    upstream_version: str


POLICIES: dict[str, ScoringPolicy] = {
    "upstream": ScoringPolicy(
        name="upstream",
        union_fallback=False,
        lead_fallback=True,
        skip_identical=True,
        test_path=is_test_path_any_language,
        clean="-fd",
        upstream_version="0.0.29",
    ),
    "paper": ScoringPolicy(
        name="paper",
        union_fallback=True,
        lead_fallback=False,
        skip_identical=False,
        test_path=is_test_path,
        clean="-fdx",
        upstream_version="0.0.14",
    ),
}

#: The policy used when none is named.
DEFAULT_POLICY: PolicyName = "upstream"


def get_policy(policy: str | ScoringPolicy | None) -> ScoringPolicy:
    """The policy named ``policy`` (``None``: :data:`DEFAULT_POLICY`).

    Raises:
        ConfigError: no policy has that name; the message lists those that exist.
    """
    if isinstance(policy, ScoringPolicy):
        return policy
    name = DEFAULT_POLICY if policy is None else policy
    try:
        return POLICIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown scoring policy {name!r}; choose one of: {', '.join(POLICIES)} "
            "(see docs/outcomes.md for what each does)"
        ) from None
