"""Statistics of a scored run, as rliable does them (Agarwal et al. 2021): the training run is the unit.

Inputs: raw successes `(S, T, K)` of 0/1 (S training seeds, T trials each, K episodes) and the
hidden task of each trial `(S, T)`.

* **Per-seed curve** `(S, K)`: for each training seed, the success rate in each episode averaged
  over tasks (the mean of its per-task means), so a score never moves with the task mix.
* **Point estimate**: the mean of the per-seed curves over seeds (and the interquartile mean where
  there are at least `IQM_MIN_SEEDS` seeds).
* **95% interval** (`CI_METHOD`): with two or more training seeds, Student-t over the seeds' values
  (mean +- t_{0.975, S-1} * sd / sqrt(S)): the training run is the unit, and with 3-10 seeds a
  percentile bootstrap over seeds is too narrow when the seeds disagree (docs/benchmark.md,
  "Intervals"). Per-episode success intervals are clipped to [0, 1]; score intervals are not. With
  one seed there is no interval over training runs: a stratified bootstrap over that seed's trials
  is stored instead (`ONE_SEED_METHOD`; the leaderboard never ranks such a row). The stratified
  bootstrap (seeds with replacement, then the trials of each (seed, task) cell; percentile, fixed
  generator seed) stays available (`interval="bootstrap"`) for the comparison in the docs. Where
  every seed agrees, the interval has no width: "k of n seeds at the Bayes-optimal curve" is
  reported beside it.
* **Exploration score**: `(area - K/N) / (area* - K/N)` with `area = sum_k success(k)` (unit-width
  episodes), `K/N` the area of the best agent that never adapts (a fixed drawer), and
  `area* = sum_k min(1, k/N)` Bayes-optimal's: 0 = never adapts, 1 = Bayes-optimal, negative =
  worse than never adapting. Undefined (None) for K = 1, where both areas are 1/N. Never clipped.
* **Conditional success** (`conditional_success`): for each training seed, over every (trial,
  episode k < K) whose episode k failed, the fraction whose episode k+1 succeeded; the mean over
  the seeds that failed at all. It separates "does not explore" (it can open a drawer, episode 1
  near 1/N, but after a failure it goes back to the same drawer: near 0) from "cannot open one"
  (episode 1 near 0 too). Bayes-optimal's value (`conditional_bayes_optimal`) is 1 for N = 2 and
  2/3 for N = 3, K = 3; never adapting gives 0.

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
CI_METHOD = "Student-t over training seeds (per-episode success clipped to [0, 1])"
ONE_SEED_METHOD = ("one training seed: stratified bootstrap over its trials only (not an interval over training "
                   "runs; never ranked)")
BOOTSTRAP_METHOD = "stratified bootstrap over training seeds, then trials within each (seed, task) cell; percentile"
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


def t_interval(values, confidence: float = CONFIDENCE, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Student-t interval of the mean of `values` along `axis` (at least 2 values): mean +- t * sd / sqrt(n)."""
    v = np.asarray(values, dtype=np.float64)
    count = v.shape[axis]
    if count < 2:
        raise ValueError(f"a Student-t interval needs at least 2 values, got {count}")
    mean, sd = v.mean(axis), v.std(axis, ddof=1)
    half = _scipy_stats.t.ppf(0.5 + confidence / 2.0, count - 1) * sd / np.sqrt(count)
    return mean - half, mean + half


def seed_interval(values) -> tuple[float, float | None, float | None]:
    """(mean, low, high) of one value per training seed: its Student-t interval over seeds, widened to hold the
    mean against float rounding; (mean, None, None) with one seed (no interval over training runs)."""
    v = [float(x) for x in values]
    mean = sum(v) / len(v)
    if len(v) < 2:
        return mean, None, None
    lo, hi = t_interval(v)
    return mean, min(float(lo), mean), max(float(hi), mean)


def conditional_counts(raw) -> tuple[np.ndarray, np.ndarray]:
    """Per training seed: (failures in episodes 1..K-1, successes in the episode after each): `(S,)`, `(S,)`."""
    arr = _as_successes(raw)
    failed = arr[:, :, :-1] == 0
    return failed.sum((1, 2)), (failed & (arr[:, :, 1:] == 1)).sum((1, 2))


def seed_conditional_success(raw) -> list[float | None]:
    """Each seed's success rate in episode k+1 over its (trial, k) with a failure in episode k; None
    where the seed never failed before its last episode (or K = 1)."""
    fails, wins = conditional_counts(raw)
    return [float(w / f) if f else None for f, w in zip(fails, wins)]


def conditional_bayes_optimal(k: int, n: int) -> float | None:
    """The conditional success of the Bayes-optimal agent (None where it never fails before episode K)."""
    fail = [max(0.0, 1.0 - j / n) for j in range(1, k + 1)]  # P(episode j fails)
    denom = sum(fail[:-1])
    return None if denom <= _ATOL else sum(fail[j] - fail[j + 1] for j in range(k - 1)) / denom


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
    conditional_success: float | None
    conditional_success_ci: tuple[float, float] | None
    seed_conditional_success: list[float | None]
    conditional_bayes_optimal: float | None
    ci_method: str


def summarise(raw, tasks, num_drawers: int, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED,
              interval: str = "t", choices: int | None = None) -> Summary:
    """Summarise raw successes `(S, T, K)` with tasks `(S, T)` of an env with `num_drawers` tasks
    (a drawers env: its drawers).

    `interval`: "t" (Student-t over seeds; the stratified bootstrap over trials where S = 1) or
    "bootstrap" (the stratified bootstrap over seeds and trials, for comparison). `choices`: M, what
    an agent tries one per episode (the Bayes-optimal curve min(1, k/M) and the exploration score's
    reference); None: the task count (every drawers env; Desk-v2 has 64 tasks and M = 4)."""
    if interval not in ("t", "bootstrap"):
        raise ValueError(f"interval must be 't' or 'bootstrap', got {interval!r}")
    n = int(num_drawers)
    curves = seed_curves(raw, tasks, n)
    s_count, k = curves.shape
    mean = curves.mean(0)
    m = n if choices is None else int(choices)
    fixed, best = k / m, float(np.sum(bayes_optimal_curve(k, m)))
    ex = exploration_score(mean, m)
    if interval == "t" and s_count >= 2:
        method = CI_METHOD
        lo, hi = t_interval(curves)
        lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
        a_lo, a_hi = t_interval(curves.sum(1))
        e_lo, e_hi = (None, None) if ex is None else t_interval((curves.sum(1) - fixed) / (best - fixed))
    else:
        method = BOOTSTRAP_METHOD if s_count >= 2 else ONE_SEED_METHOD
        boot = bootstrap_curves(raw, tasks, n, samples, seed).mean(1)  # (samples, K): mean over seeds
        lo, hi = percentile_interval(boot)
        a_lo, a_hi = percentile_interval(boot.sum(1))
        e_lo, e_hi = (None, None) if ex is None else percentile_interval((boot.sum(1) - fixed) / (best - fixed))
    # float rounding must not put the point estimate outside its own interval
    lo, hi = np.minimum(lo, mean), np.maximum(hi, mean)
    ex_ci = None if ex is None else (float(min(e_lo, ex)), float(max(e_hi, ex)))
    seed_cond = seed_conditional_success(raw)
    have = [c for c in seed_cond if c is not None]
    cond = float(np.mean(have)) if have else None
    cond_ci = None
    if cond is not None:
        c_lo, c_hi = np.clip(t_interval(have), 0.0, 1.0) if len(have) >= 2 else (cond, cond)  # a rate: clipped
        cond_ci = (float(min(c_lo, cond)), float(max(c_hi, cond)))
    return Summary(
        success_rate=[float(x) for x in mean],
        ci_low=[float(x) for x in lo],
        ci_high=[float(x) for x in hi],
        iqm=[float(x) for x in iqm(curves, axis=0)] if s_count >= IQM_MIN_SEEDS else None,
        seed_curves=[[float(x) for x in c] for c in curves],
        seeds_at_bayes_optimal=int(at_bayes_optimal(curves, m).sum()),
        bayes_optimal=bayes_optimal_curve(k, m),
        auc=area(mean),
        auc_ci=(float(min(a_lo, area(mean))), float(max(a_hi, area(mean)))),
        exploration_score=ex,
        exploration_score_ci=ex_ci,
        seed_exploration_scores=None if ex is None else [float(exploration_score(c, m)) for c in curves],
        conditional_success=cond,
        conditional_success_ci=cond_ci,
        seed_conditional_success=seed_cond,
        conditional_bayes_optimal=conditional_bayes_optimal(k, m),
        ci_method=method,
    )


def split_summaries(raw, tasks, num_tasks: int, choices: int, splits: dict[str, Sequence[int]]) -> dict[str, dict]:
    """Per split of an env with held-out tasks (Desk-v2's "train" and "test" compositions, as Meta-World's
    ML10 reports train and test success): for each split name, its tasks' count and, over those tasks
    only (task-balanced within the split, as the headline), each seed's curve, the mean success per
    episode with its Student-t interval over seeds (null with one seed), and the exploration score
    (reference min(1, k/M): within a split every mechanism still pays with probability 1/M) with the
    per-seed scores. Everything but the intervals is recomputed by `benchmark.schema` from the raw data."""
    rates = cell_rates(raw, tasks, int(num_tasks))  # (S, N, K)
    out = {}
    for name, ids in splits.items():
        ids = sorted(int(t) for t in ids)
        if not ids:
            raise ValueError(f"split {name!r} has no tasks")
        curves = rates[:, ids].mean(1)  # (S, K)
        mean = curves.mean(0)
        ex = exploration_score(mean, choices)
        if curves.shape[0] >= 2:
            lo, hi = t_interval(curves)
            lo, hi = np.minimum(np.clip(lo, 0.0, 1.0), mean), np.maximum(np.clip(hi, 0.0, 1.0), mean)
            ci = ([float(x) for x in lo], [float(x) for x in hi])
        else:
            ci = (None, None)
        out[name] = {
            "tasks": len(ids),
            "success_rate": [float(x) for x in mean],
            "ci_low": ci[0],
            "ci_high": ci[1],
            "seed_curves": [[float(x) for x in c] for c in curves],
            "exploration_score": ex,
            "seed_exploration_scores": None if ex is None else [float(exploration_score(c, choices)) for c in curves],
        }
    return out


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
