"""benchmark.stats: per-seed task-balanced curves, the bootstrap over training seeds (by hand and
against rliable's own numbers), the exploration score, distinct rollouts."""

import json
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats
import pytest

from benchmark import stats

REFERENCE = json.loads((Path(__file__).parent / "data" / "rliable_reference.json").read_text())


def _constant_seeds(scores, trials=20, n=1):
    """Raw successes (S, n*trials, 1) whose seed s succeeds in round(scores[s] * trials) trials of each task."""
    raw, tasks = [], []
    for sc in scores:
        wins = int(round(sc * trials))
        per_task = np.r_[np.ones(wins), np.zeros(trials - wins)]
        raw.append(np.tile(per_task, n)[:, None])
        tasks.append(np.repeat(np.arange(n), trials))
    return np.asarray(raw, dtype=int), np.asarray(tasks)


def test_bayes_optimal_and_exploration_score_closed_forms():
    assert stats.bayes_optimal_curve(3, 2) == [0.5, 1.0, 1.0]
    assert stats.bayes_optimal_curve(4, 3) == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])
    with pytest.raises(ValueError):
        stats.bayes_optimal(0, 2)
    # N = 2, K = 3: never adapting has area 3/2, Bayes-optimal 5/2
    assert stats.exploration_score([0.5, 0.5, 0.5], 2) == pytest.approx(0.0)
    assert stats.exploration_score([0.5, 1.0, 1.0], 2) == pytest.approx(1.0)
    assert stats.exploration_score([0.5, 0.75, 0.75], 2) == pytest.approx(0.5)
    assert stats.exploration_score([0.0, 0.0, 0.0], 2) == pytest.approx(-1.5)  # worse than never adapting
    # N = 3, K = 3: never adapting 1, Bayes-optimal 2
    assert stats.exploration_score([1 / 3] * 3, 3) == pytest.approx(0.0)
    assert stats.exploration_score([1 / 3, 2 / 3, 1.0], 3) == pytest.approx(1.0)
    assert stats.exploration_score([1 / 3, 2 / 3, 2 / 3], 3) == pytest.approx(2 / 3)
    assert stats.exploration_score([0.5, 1.0, 1.0, 1.0], 2) == pytest.approx(1.0)
    assert stats.exploration_score([0.6, 1.0], 2) == pytest.approx(1.2)  # a lucky sample is not clipped
    assert stats.exploration_score([0.5], 2) is None  # K = 1: both areas are 1/N


def test_seed_curves_are_task_balanced():
    # seed 0 drew task 0 three times and task 1 once: pooled 0.75, task-balanced 0.5
    raw = np.array([[[1], [1], [1], [0]]])
    tasks = np.array([[0, 0, 0, 1]])
    assert stats.seed_curves(raw, tasks, 2).tolist() == [[0.5]]
    with pytest.raises(ValueError, match="no trial of task"):
        stats.seed_curves(raw, np.array([[0, 0, 0, 0]]), 2)
    with pytest.raises(ValueError, match="0/1"):
        stats.seed_curves(np.full((1, 4, 1), 0.5), tasks, 2)


def test_bootstrap_by_hand_two_seeds():
    """Seeds that always (1) and never (0) succeed, trials constant: a resample of 2 seeds has mean
    0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4, so the 95% percentile interval is [0, 1]."""
    raw, tasks = _constant_seeds([1.0, 0.0])
    boot = stats.bootstrap_curves(raw, tasks, 1, samples=20000, seed=1).mean(1)[:, 0]
    values, counts = np.unique(boot, return_counts=True)
    assert values.tolist() == [0.0, 0.5, 1.0]
    np.testing.assert_allclose(counts / counts.sum(), [0.25, 0.5, 0.25], atol=0.01)
    s = stats.summarise(raw, tasks, 1, samples=20000)
    assert (s.ci_low, s.ci_high, s.success_rate) == ([0.0], [1.0], [0.5])


def test_bootstrap_by_hand_trials_within_one_seed():
    """One seed, 4 trials of which 2 succeed: the resampled mean is Binomial(4, 1/2) / 4, whose
    2.5% and 97.5% quantiles are 0 (P = 1/16 > 2.5%) and 1."""
    raw = np.array([[[1], [1], [0], [0]]])
    tasks = np.zeros((1, 4), int)
    boot = stats.bootstrap_curves(raw, tasks, 1, samples=40000, seed=0)[:, 0, 0]
    values, counts = np.unique(boot, return_counts=True)
    assert values.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    np.testing.assert_allclose(counts / counts.sum(), np.array([1, 4, 6, 4, 1]) / 16, atol=0.01)
    lo, hi = stats.percentile_interval(boot)
    assert (lo, hi) == (0.0, 1.0)


def test_bootstrap_never_unbalances_the_tasks():
    """Task 0 always succeeds, task 1 never: every resample keeps both tasks at their rates, so the
    task-balanced mean is exactly 0.5 in every resample although half the trials fail."""
    raw = np.array([[[1], [0], [1], [0], [1], [0]]] * 3)
    tasks = np.array([[0, 1, 0, 1, 0, 1]] * 3)
    boot = stats.bootstrap_curves(raw, tasks, 2, samples=500)
    assert np.all(boot == 0.5)


@pytest.mark.parametrize("case", sorted(REFERENCE["cases"]))
def test_seed_bootstrap_matches_rliable(case):
    """rliable's stratified bootstrap over runs (reference values from rliable 1.2.0, 50,000 reps)."""
    ref = REFERENCE["cases"][case]
    raw, tasks = _constant_seeds(ref["scores"])
    curves = stats.seed_curves(raw, tasks, 1)[:, 0]
    assert curves.mean() == pytest.approx(ref["mean"])
    assert stats.iqm(curves) == pytest.approx(ref["iqm"])
    boot = stats.bootstrap_curves(raw, tasks, 1, samples=50000, seed=3, resample_trials=False)[:, :, 0]
    np.testing.assert_allclose(stats.percentile_interval(boot.mean(1)), ref["mean_ci"], atol=0.02)
    np.testing.assert_allclose(stats.percentile_interval(stats.iqm(boot, axis=1)), ref["iqm_ci"], atol=0.03)


def test_summarise_scores_seeds_and_is_seeded():
    # three seeds: two Bayes-optimal, one never adapts (N = 2, K = 3, 4 trials per task)
    good = [[1, 1, 1]] * 4 + [[0, 1, 1]] * 4
    flat = [[1, 1, 1]] * 4 + [[0, 0, 0]] * 4
    raw = np.array([good, good, flat])
    tasks = np.array([[0] * 4 + [1] * 4] * 3)
    s = stats.summarise(raw, tasks, 2)
    assert s.seed_curves == [[0.5, 1.0, 1.0], [0.5, 1.0, 1.0], [0.5, 0.5, 0.5]]
    assert s.success_rate == pytest.approx([0.5, 5 / 6, 5 / 6])
    assert s.seeds_at_bayes_optimal == 2 and s.iqm is None
    assert s.seed_exploration_scores == pytest.approx([1.0, 1.0, 0.0])
    assert s.exploration_score == pytest.approx(2 / 3)
    # Student-t over the 3 seeds' scores (1, 1, 0): 2/3 +- t(0.975, 2) * sd / sqrt(3)
    half = scipy_stats.t.ppf(0.975, 2) * np.std([1, 1, 0], ddof=1) / np.sqrt(3)
    assert s.exploration_score_ci == pytest.approx((2 / 3 - half, 2 / 3 + half)) and s.ci_method == stats.CI_METHOD
    assert s.ci_high[1] == 1.0 and s.ci_low[2] > 0  # per-episode rates: clipped to [0, 1] (t gives 1.55 here)
    boot = stats.summarise(raw, tasks, 2, interval="bootstrap")
    assert boot.exploration_score_ci == pytest.approx((0.0, 1.0))  # resamples of 3 seeds: all flat .. all good
    assert boot.exploration_score_ci[1] - boot.exploration_score_ci[0] < half * 2  # narrower than t with 3 seeds
    # success after a failure: good seeds fail only episode 1 of task 1 then succeed (1.0); flat never recovers
    assert s.seed_conditional_success == [1.0, 1.0, 0.0] and s.conditional_success == pytest.approx(2 / 3)
    assert s.conditional_bayes_optimal == 1.0
    assert stats.summarise(raw, tasks, 2) == s  # fixed generator seed
    one = stats.summarise(raw[:1], tasks[:1], 2)
    assert one.ci_method == stats.ONE_SEED_METHOD  # no interval over training runs with one seed
    five = stats.summarise(np.concatenate([raw, raw[:2]]), np.concatenate([tasks, tasks[:2]]), 2)
    assert five.iqm == pytest.approx([0.5, 1.0, 1.0])  # the flat seed is trimmed


def test_conditional_success_separates_cannot_open_from_does_not_explore():
    """N = 3, K = 3, one trial per task. An agent that always opens drawer 0 succeeds in episode 1 a
    third of the time and never after a failure (0); one that cannot open any drawer fails episode 1
    too; Bayes-optimal recovers half the time after episode 1's failure and always after episode 2's (2/3)."""
    tasks = np.array([[0, 1, 2]] * 2)
    fixed = np.array([[[1, 1, 1], [0, 0, 0], [0, 0, 0]]] * 2)
    none = np.zeros((2, 3, 3), int)
    bayes = np.array([[[1, 1, 1], [0, 1, 1], [0, 0, 1]], [[1, 1, 1], [0, 0, 1], [0, 1, 1]]])
    f, z, b = (stats.summarise(r, tasks, 3) for r in (fixed, none, bayes))
    assert (f.success_rate[0], f.conditional_success) == (pytest.approx(1 / 3), 0.0)
    assert (z.success_rate[0], z.conditional_success) == (0.0, 0.0)
    assert b.conditional_success == pytest.approx(2 / 3) == stats.conditional_bayes_optimal(3, 3)
    assert stats.seed_conditional_success(np.ones((1, 2, 3), int)) == [None]  # never failed: no value
    assert stats.conditional_bayes_optimal(1, 2) is None and stats.conditional_bayes_optimal(3, 1) is None


def test_t_interval_needs_two_seeds():
    lo, hi = stats.t_interval([0.0, 1.0])
    assert (lo + hi) / 2 == 0.5 and hi - 0.5 == pytest.approx(scipy_stats.t.ppf(0.975, 1) * np.sqrt(0.5) / np.sqrt(2))
    with pytest.raises(ValueError, match="at least 2"):
        stats.t_interval([1.0])


def test_distinct_rollouts_per_cell():
    rolls = [["a", "a", "b", "c"], ["d", "d", "d", "d"]]
    tasks = [[0, 0, 1, 1], [0, 1, 0, 1]]
    assert stats.distinct_rollouts(rolls, tasks, [3, 4]) == [
        {"seed": 3, "task": 0, "trials": 2, "distinct": 1}, {"seed": 3, "task": 1, "trials": 2, "distinct": 2},
        {"seed": 4, "task": 0, "trials": 2, "distinct": 1}, {"seed": 4, "task": 1, "trials": 2, "distinct": 1},
    ]
