"""The report's statistics against values computed by hand on small fixed tables."""

from __future__ import annotations

import math
from math import comb, factorial

import pytest

from cooperbench.report import stats

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def hand_wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.parametrize(
    ("k", "n", "low", "high"), [(10, 12, 0.5519691, 0.9530349), (0, 10, 0.0, 0.2775328), (5, 5, 0.5655175, 1.0)]
)
def test_wilson_interval_matches_the_score_formula(k: int, n: int, low: float, high: float) -> None:
    iv = stats.wilson(k, n)
    assert iv is not None and iv.method == "wilson" and iv.n == n
    assert iv.estimate == pytest.approx(k / n)
    assert (iv.low, iv.high) == pytest.approx(hand_wilson(k, n), abs=1e-9)
    assert (iv.low, iv.high) == pytest.approx((low, high), abs=1e-6)


def test_wilson_of_nothing_is_none_and_bad_counts_are_refused() -> None:
    assert stats.wilson(0, 0) is None
    with pytest.raises(ValueError, match=r"within 0\.\.n"):
        stats.wilson(3, 2)


@pytest.mark.parametrize(
    ("only_a", "only_b", "p"),
    [
        (1, 6, 2 * (comb(7, 0) + comb(7, 1)) / 2**7),  # 0.125
        (0, 5, 2 / 2**5),  # 0.0625
        (2, 10, 2 * (comb(12, 0) + comb(12, 1) + comb(12, 2)) / 2**12),
        (3, 3, 1.0),  # a tie: two-sided p capped at 1
        (0, 0, 1.0),  # no discordant pair
    ],
)
def test_mcnemar_exact_is_the_two_sided_binomial_tail_of_the_discordant_pairs(
    only_a: int, only_b: int, p: float
) -> None:
    assert stats.mcnemar_exact(only_a, only_b) == pytest.approx(p, abs=1e-12)
    assert stats.mcnemar_exact(only_b, only_a) == pytest.approx(p, abs=1e-12)


def exact_bootstrap_quantiles(values: list[int], lo: float = 0.025, hi: float = 0.975) -> tuple[float, float]:
    """The percentile interval of the *exact* bootstrap distribution of the mean of ±1/0 values."""
    n = len(values)
    p_up, p_down = values.count(1) / n, values.count(-1) / n
    p_zero = 1 - p_up - p_down
    dist: dict[float, float] = {}
    for up in range(n + 1):
        for down in range(n + 1 - up):
            zero = n - up - down
            weight = factorial(n) / (factorial(up) * factorial(down) * factorial(zero))
            prob = weight * p_up**up * p_down**down * p_zero**zero
            mean = round((up - down) / n, 10)
            dist[mean] = dist.get(mean, 0.0) + prob
    cdf, low, high = 0.0, None, None
    for mean in sorted(dist):
        before, cdf = cdf, cdf + dist[mean]
        # the test is meaningful only when no atom sits right at a quantile
        assert abs(cdf - lo) > 0.004 and abs(cdf - hi) > 0.004
        if low is None and cdf >= lo:
            low = mean
        if high is None and cdf >= hi:
            high = mean
        del before
    assert low is not None and high is not None
    return low, high


def test_seeded_bootstrap_interval_is_reproducible_and_matches_the_exact_bootstrap() -> None:
    diffs = [1, 1, 1, -1, 0, 0, 0, 0, 0, 0]  # per-pair (A passed) - (B passed)
    first = stats.bootstrap_mean(diffs)
    assert first is not None and first.method == "bootstrap-percentile" and first.n == 10
    assert first == stats.bootstrap_mean(diffs)  # same seed, same interval
    assert first.estimate == pytest.approx(0.2)
    assert (first.low, first.high) == pytest.approx(exact_bootstrap_quantiles(diffs), abs=1e-9)  # (-0.2, 0.6)
    other_seed = stats.bootstrap_mean(diffs, seed=7)
    assert other_seed is not None and (other_seed.low, other_seed.high) == pytest.approx((-0.2, 0.6), abs=1e-9)


def test_bootstrap_edge_cases() -> None:
    assert stats.bootstrap_mean([]) is None
    same = stats.bootstrap_mean([1, 1, 1])
    assert same is not None and (same.low, same.estimate, same.high) == (1.0, 1.0, 1.0)


def test_mean_interval_is_students_t() -> None:
    iv = stats.mean_interval([0.4, 0.5, 0.6])
    # mean 0.5, sd 0.1, sem 0.1/sqrt(3), t(0.975, 2) = 4.302652729911275
    half = 4.302652729911275 * 0.1 / math.sqrt(3)
    assert iv is not None and iv.method == "t" and iv.n == 3
    assert (iv.estimate, iv.low, iv.high) == pytest.approx((0.5, 0.5 - half, 0.5 + half), abs=1e-9)
    single = stats.mean_interval([0.3])
    assert single is not None and (single.low, single.high) == (0.3, 0.3)
    assert stats.mean_interval([]) is None


def test_pass_at_k_and_pass_hat_k() -> None:
    # 5 attempts, 2 passing: pass@1 = 2/5, pass@2 = 1 - C(3,2)/C(5,2) = 0.7, pass@5 = 1
    assert stats.pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert stats.pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert stats.pass_at_k(5, 2, 5) == pytest.approx(1.0)
    assert stats.pass_at_k(3, 0, 3) == 0.0
    # pass^k: all k drawn attempts pass: C(2,1)/C(5,1) = 0.4, C(2,2)/C(5,2) = 0.1, C(2,3) = 0
    assert stats.pass_hat_k(5, 2, 1) == pytest.approx(0.4)
    assert stats.pass_hat_k(5, 2, 2) == pytest.approx(0.1)
    assert stats.pass_hat_k(5, 2, 3) == 0.0
    with pytest.raises(ValueError):
        stats.pass_at_k(2, 3, 1)
    with pytest.raises(ValueError):
        stats.pass_hat_k(2, 1, 3)


def test_flip_rate() -> None:
    result = stats.flip_rate([[True, True, True], [True, False, False], [False, False], [True]])
    # pairs with two or more attempts: 3; mixed: 1; pairwise disagreement: 0, 2/3, 0 -> 2/9
    assert result == {
        "pairs": 3,
        "mixed_pairs": 1,
        "mixed_fraction": pytest.approx(1 / 3),
        "pairwise_flip_rate": pytest.approx(2 / 9),
    }
    assert stats.flip_rate([])["pairs"] == 0
