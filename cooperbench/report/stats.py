"""The statistics of a report: intervals, paired tests, pass@k.

Every interval and test comes from SciPy; this module only adapts their
inputs (counts, 0/1 vectors) and says what happens at the edges (no data, no variance), so
that every number of a report has one definition, tested against hand-computed values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "CONFIDENCE",
    "Interval",
    "bootstrap_mean",
    "flip_rate",
    "mcnemar_exact",
    "mean_interval",
    "pass_at_k",
    "pass_hat_k",
    "wilson",
]

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 20240917


@dataclass(frozen=True)
class Interval:
    """An estimate with a confidence interval and the method that made it.

    Attributes:
        estimate: the point estimate (a rate, a mean, a difference).
        low: the lower bound.
        high: the upper bound.
        method: how the interval was computed (``"wilson"``, ``"bootstrap-percentile"``, ``"t"``, ...).
        n: how many observations it rests on.
    """

    estimate: float
    low: float
    high: float
    method: str
    n: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval | None:
    """The Wilson score interval of ``successes`` out of ``n`` (SciPy ``binomtest(...).proportion_ci``).

    Returns:
        The interval, or ``None`` when ``n`` is 0 (no rate to estimate).

    Raises:
        ValueError: ``successes`` is negative or more than ``n``.
    """
    if successes < 0 or successes > n:
        raise ValueError(f"successes must be within 0..n, got {successes} of {n}")
    if n == 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(successes / n, float(ci.low), float(ci.high), "wilson", n)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """The two-sided exact McNemar p-value of a paired 2×2 table.

    The exact test is a binomial test of the discordant pairs against 1/2 (SciPy ``binomtest``):
    under "no difference" a discordant pair is as likely to favour A as B.

    Args:
        only_a: pairs that passed in run A and failed in run B.
        only_b: pairs that failed in run A and passed in run B.

    Returns:
        The p-value; ``1.0`` when there are no discordant pairs (nothing contradicts "no difference").
    """
    if only_a + only_b == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_a, only_a + only_b, 0.5, alternative="two-sided").pvalue)


def bootstrap_mean(
    values: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Interval | None:
    """A seeded percentile bootstrap interval of the mean of ``values`` (SciPy ``stats.bootstrap``).

    For a paired difference pass ``values`` = per-pair ``a - b``: resampling pairs keeps each
    pair's two results together.

    Returns:
        The interval (the same for the same seed); ``None`` for no values. Values that are all
        equal give the degenerate interval ``[v, v]``.
    """
    if not values:
        return None
    import numpy as np

    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if np.all(data == data[0]):
        return Interval(mean, mean, mean, "bootstrap-percentile", len(data))
    from scipy.stats import bootstrap

    result = bootstrap(
        (data,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return Interval(mean, float(ci.low), float(ci.high), "bootstrap-percentile", len(data))


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval | None:
    """The mean of ``values`` with a Student-t interval (SciPy ``stats.t``): runs of one configuration.

    Returns:
        The interval; ``None`` for no values; a single value (or no spread) gives ``[v, v]``.
    """
    if not values:
        return None
    import numpy as np

    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if len(data) < 2 or np.all(data == data[0]):
        return Interval(mean, mean, mean, "t", len(data))
    from scipy import stats

    sem = float(stats.sem(data))
    low, high = stats.t.interval(confidence, len(data) - 1, loc=mean, scale=sem)
    return Interval(mean, float(low), float(high), "t", len(data))


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one pair: the chance that at least one of ``k`` of its ``n`` attempts passed.

    ``1 - C(n - c, k) / C(n, k)`` with ``c`` passing attempts (Chen et al., 2021).

    Raises:
        ValueError: not ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    _check_counts(n, c, k)
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k of one pair: the chance that all of ``k`` of its ``n`` attempts passed, ``C(c, k) / C(n, k)``.

    Raises:
        ValueError: not ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    _check_counts(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def _check_counts(n: int, c: int, k: int) -> None:
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")


def flip_rate(results: Sequence[Sequence[bool]]) -> dict[str, float | int]:
    """How often repeats of the same pair disagree.

    Args:
        results: per pair, the pass/fail of each of its attempts (pairs with fewer than two
            attempts are left out).

    Returns:
        ``{"pairs", "mixed_pairs", "mixed_fraction", "pairwise_flip_rate"}``: ``mixed_fraction`` is
        the share of pairs that both passed and failed; ``pairwise_flip_rate`` is the chance
        that two different attempts of the same pair (drawn at random) disagree, averaged over pairs.
    """
    rows = [list(r) for r in results if len(r) >= 2]
    if not rows:
        return {"pairs": 0, "mixed_pairs": 0, "mixed_fraction": 0.0, "pairwise_flip_rate": 0.0}
    mixed = sum(1 for r in rows if any(r) and not all(r))
    flips = []
    for r in rows:
        n, c = len(r), sum(r)
        flips.append(c * (n - c) / math.comb(n, 2))
    return {
        "pairs": len(rows),
        "mixed_pairs": mixed,
        "mixed_fraction": mixed / len(rows),
        "pairwise_flip_rate": sum(flips) / len(flips),
    }
