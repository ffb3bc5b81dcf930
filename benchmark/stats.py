"""Statistics of a scored run, as rliable does them (Agarwal et al. 2021): the training run is the unit.

Inputs: raw successes `(S, T, K)` of 0/1 (S training seeds, T trials each, K episodes) and the
hidden task of each trial `(S, T)`.

* **Per-seed curve** `(S, K)`: for each training seed, the success rate in each episode averaged
  over tasks (the mean of its per-task means), so a score never moves with the task mix.
* **Point estimate**: the mean of the per-seed curves over seeds (and the interquartile mean where
  there are at least `IQM_MIN_SEEDS` seeds).
* **95% interval**: a stratified bootstrap that resamples training seeds with replacement, then the
  trials inside each (seed, task) cell with replacement, so a resample never unbalances the tasks;
  percentile interval, fixed generator seed. Where every seed agrees, the interval has no width:
  "k of n seeds at the Bayes-optimal curve" is reported beside it.
* **Exploration score**: `(area - K/N) / (area* - K/N)` with `area = sum_k success(k)` (unit-width
  episodes), `K/N` the area of the best agent that never adapts (a fixed drawer), and
  `area* = sum_k min(1, k/N)` Bayes-optimal's: 0 = never adapts, 1 = Bayes-optimal, negative =
  worse than never adapting. Undefined (None) for K = 1, where both areas are 1/N. Never clipped.

`rliable` itself cannot be installed beside this project's pandas 3 pin; `tests/test_benchmark_stats.py`
checks this bootstrap against reference intervals that rliable 1.2.0 computed (fixture in tests/data/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as _scipy_stats

CONFIDENCE = 0.95
BOOTSTRAP_SAMPLES = 5000
BOOTSTRAP_SEED = 0
IQM_MIN_SEEDS = 5
_ATOL = 1e-9


def bayes_optimal(k: int, n: int) -> float:
    """Best possible success probability in exploration episode `k` (1-based) with `n` drawers:
    try a new drawer each episode until one pays, then repeat it (contract section 5)."""
    if k < 1 or n < 1:
        raise ValueError(f"need k >= 1 and n >= 1, got k={k}, n={n}")
    return min(1.0, k / n)


def bayes_optimal_curve(episodes: int, n: int) -> list[float]:
    """`[bayes_optimal(1, n), ..., bayes_optimal(episodes, n)]`."""
    return [bayes_optimal(k, n) for k in range(1, episodes + 1)]


def area(curve) -> float:
    """Area under a success curve: the sum over its episodes (unit-width bins)."""
    curve = np.asarray(curve, dtype=np.float64)
    if curve.ndim != 1 or curve.size == 0:
        raise ValueError(f"curve must be a non-empty 1-D sequence, got shape {curve.shape}")
    return float(curve.sum())


def exploration_score(curve, n: int) -> float | None:
    """0 = the best agent that never adapts (area K/N), 1 = Bayes-optimal; None where K = 1."""
    k = len(curve)
    fixed, best = k / n, float(np.sum(bayes_optimal_curve(k, n)))
    if best - fixed <= _ATOL:
        return None
    return (area(curve) - fixed) / (best - fixed)


def iqm(values, axis=None):
    """Interquartile mean (rliable's IQM): the mean of the middle 50%."""
    return _scipy_stats.trim_mean(values, proportiontocut=0.25, axis=axis)


def _as_successes(raw) -> np.ndarray:
    arr = np.asarray(raw, dtype=np.float64)
    if arr.ndim != 3 or 0 in arr.shape:
        raise ValueError(f"raw successes must have shape (seeds, trials, episodes), got {arr.shape}")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError("raw successes must be 0/1")
    return arr


def _as_tasks(tasks, shape: tuple[int, int], n: int) -> np.ndarray:
    t = np.asarray(tasks)
    if t.shape != shape:
        raise ValueError(f"tasks must have shape {shape} (seeds, trials), got {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= n):
        raise ValueError(f"tasks must be in [0, {n})")
    for i in range(shape[0]):
        missing = sorted(set(range(n)) - set(t[i].tolist()))
        if missing:
            raise ValueError(f"seed index {i} has no trial of task(s) {missing}: a task-balanced score needs every task")
    return t.astype(int)


def cell_rates(raw, tasks, n: int) -> np.ndarray:
    """Success rate per (seed, task, episode): `(S, N, K)`."""
    arr = _as_successes(raw)
    t = _as_tasks(tasks, arr.shape[:2], n)
    return np.stack([np.stack([arr[i][t[i] == task].mean(0) for task in range(n)]) for i in range(arr.shape[0])])


def seed_curves(raw, tasks, n: int) -> np.ndarray:
    """Task-balanced success curve of each training seed: `(S, K)`."""
    return cell_rates(raw, tasks, n).mean(1)


def bootstrap_curves(raw, tasks, n: int, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED,
                     resample_trials: bool = True) -> np.ndarray:
    """Resampled per-seed curves `(samples, S, K)`: seeds drawn with replacement, then (if
    `resample_trials`) the trials of each (seed, task) cell drawn with replacement, independently
    for every position of every resample. A trial's K successes stay together."""
    arr = _as_successes(raw)
    s_count, _, k = arr.shape
    t = _as_tasks(tasks, arr.shape[:2], n)
    rng = np.random.default_rng(seed)
    seed_idx = rng.integers(0, s_count, size=(samples, s_count))
    # cell means of every (seed, task) for every (resample, position): (S, N, samples, S, K)
    means = np.empty((s_count, n, samples, s_count, k))
    for i in range(s_count):
        for task in range(n):
            cell = arr[i][t[i] == task]
            if not resample_trials:
                means[i, task] = cell.mean(0)
                continue
            patterns, counts = np.unique(cell, axis=0, return_counts=True)  # at most 2^K patterns
            draws = rng.multinomial(len(cell), counts / counts.sum(), size=(samples, s_count))
            means[i, task] = draws @ patterns / len(cell)
    pos = np.arange(s_count)[None, :]
    picked = means[seed_idx, :, np.arange(samples)[:, None], pos, :]  # (samples, S, N, K)
    return picked.mean(2)


def percentile_interval(values, confidence: float = CONFIDENCE, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.asarray(values, dtype=np.float64), [alpha, 1.0 - alpha], axis=axis)
    return low, high


def at_bayes_optimal(curves, n: int) -> np.ndarray:
    """Which per-seed curves `(S, K)` reach min(1, k/N) in every episode: `(S,)` bool."""
    curves = np.asarray(curves, dtype=np.float64)
    return np.all(curves >= np.asarray(bayes_optimal_curve(curves.shape[1], n)) - _ATOL, axis=1)


@dataclass(frozen=True)
class Summary:
    """Everything the results file reports about successes (lists are per episode, length K)."""

    success_rate: list[float]
    ci_low: list[float]
    ci_high: list[float]
    iqm: list[float] | None
    seed_curves: list[list[float]]
    seeds_at_bayes_optimal: int
    bayes_optimal: list[float]
    auc: float
    auc_ci: tuple[float, float]
    exploration_score: float | None
    exploration_score_ci: tuple[float, float] | None
    seed_exploration_scores: list[float] | None


def summarise(raw, tasks, num_drawers: int, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> Summary:
    """Summarise raw successes `(S, T, K)` with tasks `(S, T)` of an env with `num_drawers` drawers."""
    n = int(num_drawers)
    curves = seed_curves(raw, tasks, n)
    s_count, k = curves.shape
    boot = bootstrap_curves(raw, tasks, n, samples, seed).mean(1)  # (samples, K): mean over seeds
    lo, hi = percentile_interval(boot)
    mean = curves.mean(0)
    # float rounding must not put the point estimate outside its own interval
    lo, hi = np.minimum(lo, mean), np.maximum(hi, mean)
    boot_area = boot.sum(1)
    a_lo, a_hi = percentile_interval(boot_area)
    ex = exploration_score(mean, n)
    if ex is None:
        ex_ci, seed_ex = None, None
    else:
        fixed, best = k / n, float(np.sum(bayes_optimal_curve(k, n)))
        e_lo, e_hi = percentile_interval((boot_area - fixed) / (best - fixed))
        ex_ci = (float(min(e_lo, ex)), float(max(e_hi, ex)))
        seed_ex = [float(exploration_score(c, n)) for c in curves]
    return Summary(
        success_rate=[float(x) for x in mean],
        ci_low=[float(x) for x in lo],
        ci_high=[float(x) for x in hi],
        iqm=[float(x) for x in iqm(curves, axis=0)] if s_count >= IQM_MIN_SEEDS else None,
        seed_curves=[[float(x) for x in c] for c in curves],
        seeds_at_bayes_optimal=int(at_bayes_optimal(curves, n).sum()),
        bayes_optimal=bayes_optimal_curve(k, n),
        auc=area(mean),
        auc_ci=(float(min(a_lo, area(mean))), float(max(a_hi, area(mean)))),
        exploration_score=ex,
        exploration_score_ci=ex_ci,
        seed_exploration_scores=seed_ex,
    )


def distinct_rollouts(rollouts, tasks, seeds: Sequence[int]) -> list[dict]:
    """Per (training seed, task) cell: trials and distinct action sequences among them.

    `rollouts` `(S, T)` of action digests. A deterministic agent on an env with one start state
    repeats one rollout per cell, whatever the number of trials."""
    r, t = np.asarray(rollouts), np.asarray(tasks)
    rows = []
    for i, s in enumerate(seeds):
        for task in np.unique(t[i]):
            cell = r[i][t[i] == task]
            rows.append({"seed": int(s), "task": int(task), "trials": int(len(cell)), "distinct": int(len(set(cell.tolist())))})
    return rows


def by_seed_and_task(raw_successes, raw_tasks, seeds: Sequence[int]) -> list[dict]:
    """Success per episode for every (training seed, task) cell: `raw_successes` (S, T, K), `raw_tasks` (S, T)."""
    succ = _as_successes(raw_successes)
    tasks = np.asarray(raw_tasks)
    rows = []
    for i, seed in enumerate(seeds):
        for task in np.unique(tasks[i]):
            cell = succ[i][tasks[i] == task]
            rows.append({"seed": int(seed), "task": int(task), "trials": int(len(cell)),
                         "success_rate": [float(x) for x in cell.mean(0)]})
    return rows
