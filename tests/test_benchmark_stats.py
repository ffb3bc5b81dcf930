"""benchmark.stats: Wilson and bootstrap intervals, the Bayes-optimal curve, the normalised score."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from benchmark import stats


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (5, 10), (1, 300), (150, 300), (299, 300), (37, 100)])
def test_wilson_matches_scipy(k, n):
    ref = scipy_stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = stats.wilson_interval(k, n)
    assert low == pytest.approx(ref.low, abs=1e-9)
    assert high == pytest.approx(ref.high, abs=1e-9)
    assert low <= k / n <= high


def test_wilson_boundaries_are_exact_and_closed_form():
    z2 = 1.959963984540054**2
    assert stats.wilson_interval(0, 10) == (0.0, pytest.approx(z2 / (10 + z2)))
    assert stats.wilson_interval(10, 10) == (pytest.approx(10 / (10 + z2)), 1.0)


@pytest.mark.parametrize("k,n", [(-1, 10), (11, 10), (0, 0)])
def test_wilson_bad_input(k, n):
    with pytest.raises(ValueError):
        stats.wilson_interval(k, n)


def test_bayes_optimal():
    assert stats.bayes_optimal_curve(3, 2) == [0.5, 1.0, 1.0]
    assert stats.bayes_optimal_curve(4, 3) == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])
    assert stats.bayes_optimal(1, 1) == 1.0
    with pytest.raises(ValueError):
        stats.bayes_optimal(0, 2)


def test_normalised_score():
    assert stats.normalised_score([0.5, 1.0, 1.0], 2) == pytest.approx(1.0)
    assert stats.normalised_score([0.5, 0.5, 0.5], 2) == pytest.approx(1.5 / 2.5)  # always-first
    assert stats.normalised_score([0.0, 0.0, 0.0], 3) == 0.0
    with pytest.raises(ValueError):
        stats.normalised_score([], 2)


def test_stratified_bootstrap_keeps_strata():
    # Seed 0 always succeeds, seed 1 never: resampling within seeds keeps the mean at exactly 0.5;
    # a bootstrap that pooled the trials would not.
    raw = np.zeros((2, 20, 1))
    raw[0] = 1
    low, high = stats.stratified_bootstrap(raw, lambda a: a.mean(), samples=200)
    assert low == high == 0.5


def test_stratified_bootstrap_is_seeded_and_covers_the_mean():
    rng = np.random.default_rng(1)
    raw = (rng.random((3, 50, 3)) < 0.4).astype(float)
    a = stats.stratified_bootstrap(raw, lambda x: x.mean(), samples=300)
    b = stats.stratified_bootstrap(raw, lambda x: x.mean(), samples=300)
    assert a == b
    assert a[0] < raw.mean() < a[1]
    assert a[1] - a[0] < 0.15


def test_summarise():
    raw = np.zeros((2, 10, 3))
    raw[:, :4, :] = 1  # 8 of 20 trials succeed in every episode
    raw[:, :, 1:] = 1  # every trial succeeds from episode 2
    s = stats.summarise(raw, num_drawers=2, bootstrap_samples=200)
    assert s.success_rate == pytest.approx([0.4, 1.0, 1.0])
    assert s.bayes_optimal == [0.5, 1.0, 1.0]
    assert s.normalised_score == pytest.approx(2.4 / 2.5)
    assert s.ci_low[1] == pytest.approx(stats.wilson_interval(20, 20)[0]) and s.ci_high[1] == 1.0
    assert s.normalised_score_ci[0] <= s.normalised_score <= s.normalised_score_ci[1]


@pytest.mark.parametrize("bad", [np.zeros((2, 3)), np.full((1, 2, 3), 0.5), np.zeros((0, 2, 3))])
def test_summarise_rejects_bad_raw(bad):
    with pytest.raises(ValueError):
        stats.summarise(bad, num_drawers=2)


def test_breakdown_by_seed_and_task_counts_distinct_outcomes():
    from benchmark.stats import by_seed_and_task

    raw = [[[0, 1], [1, 1], [0, 1], [1, 1]], [[1, 1], [1, 1], [0, 0], [0, 1]]]
    tasks = [[0, 1, 0, 1], [0, 0, 1, 1]]
    rows = by_seed_and_task(raw, tasks, seeds=[3, 7])
    assert [(r["seed"], r["task"], r["trials"]) for r in rows] == [(3, 0, 2), (3, 1, 2), (7, 0, 2), (7, 1, 2)]
    assert rows[0]["success_rate"] == [0.0, 1.0] and rows[0]["distinct_outcomes"] == 1
    assert rows[3]["success_rate"] == [0.0, 0.5] and rows[3]["distinct_outcomes"] == 2
