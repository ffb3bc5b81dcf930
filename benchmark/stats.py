"""Statistics for scored runs: confidence intervals, the Bayes-optimal curve, the normalised score.

Everything is computed in-project with numpy/scipy (`rliable` does not import beside pandas 3).

* Per-episode success rates get a **Wilson score interval** over all trials of all seeds: it is
  closed-form, deterministic, and stays honest at 0 and 1 (a bootstrap collapses to [1, 1] when
  every trial succeeds, which scripted agents do).
* The normalised score gets a **stratified bootstrap** percentile interval: trials are resampled
  with replacement *within* each seed (the strata), as `rliable` does, from a fixed generator seed,
  so the interval reflects trial-to-trial and seed-to-seed variation and is reproducible.

Arrays of raw successes have shape `(seeds, trials, episodes)` with 0/1 entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as _scipy_stats

CONFIDENCE = 0.95
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0


def bayes_optimal(k: int, n: int) -> float:
    """Best possible success probability in exploration episode `k` (1-based) with `n` drawers.

    An agent that knows the uniform task distribution but not the task tries a new drawer each
    episode until one pays, then repeats it: it has found the target by episode k with
    probability min(1, k/n) (contract section 5).
    """
    if k < 1 or n < 1:
        raise ValueError(f"need k >= 1 and n >= 1, got k={k}, n={n}")
    return min(1.0, k / n)


def bayes_optimal_curve(episodes: int, n: int) -> list[float]:
    """`[bayes_optimal(1, n), ..., bayes_optimal(episodes, n)]`."""
    return [bayes_optimal(k, n) for k in range(1, episodes + 1)]


def normalised_score(curve: Sequence[float], n: int) -> float:
    """Area under the agent's per-episode success curve over the Bayes-optimal area.

    Episodes are unit-width bins, so each area is a plain sum over episodes 1..K. 1.0 means
    Bayes-optimal in expectation; a finite sample can exceed 1 by chance, never by much.
    """
    curve = np.asarray(curve, dtype=np.float64)
    if curve.ndim != 1 or curve.size == 0:
        raise ValueError(f"curve must be a non-empty 1-D sequence, got shape {curve.shape}")
    return float(curve.sum() / np.sum(bayes_optimal_curve(curve.size, n)))


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion `successes / n`."""
    if n <= 0:
        raise ValueError(f"need n > 0 trials, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    z = float(_scipy_stats.norm.ppf(0.5 + confidence / 2.0))
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Exact at the boundaries (float rounding would otherwise leave 1e-17 slivers).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return float(low), float(high)


def _as_successes(raw) -> np.ndarray:
    arr = np.asarray(raw, dtype=np.float64)
    if arr.ndim != 3 or 0 in arr.shape:
        raise ValueError(f"raw successes must have shape (seeds, trials, episodes), got {arr.shape}")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError("raw successes must be 0/1")
    return arr


def stratified_bootstrap(
    raw,
    statistic,
    samples: int = BOOTSTRAP_SAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile interval of `statistic(resampled (seeds, trials, episodes) array)`.

    Trials are resampled with replacement within each seed, so every resample keeps the seeds'
    sizes (the strata). Seeded, so the same data always gives the same interval.
    """
    arr = _as_successes(raw)
    rng = np.random.default_rng(seed)
    s, t, _ = arr.shape
    values = np.empty(samples)
    for b in range(samples):
        idx = rng.integers(0, t, size=(s, t))
        values[b] = statistic(np.take_along_axis(arr, idx[:, :, None], axis=1))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


@dataclass(frozen=True)
class Summary:
    """Per-episode success rates with 95% CIs, the Bayes-optimal curve, the normalised score."""

    success_rate: list[float]
    ci_low: list[float]
    ci_high: list[float]
    bayes_optimal: list[float]
    normalised_score: float
    normalised_score_ci: tuple[float, float]
    ci_method: str = "wilson (per episode, trials pooled over seeds); stratified bootstrap (score)"


def summarise(raw, num_drawers: int, bootstrap_samples: int = BOOTSTRAP_SAMPLES) -> Summary:
    """Summarise raw successes `(seeds, trials, episodes)` of an env with `num_drawers` drawers."""
    arr = _as_successes(raw)
    s, t, k = arr.shape
    n = s * t
    wins = arr.sum(axis=(0, 1)).astype(int)
    rates = [float(w / n) for w in wins]
    cis = [wilson_interval(int(w), n) for w in wins]
    bayes = bayes_optimal_curve(k, num_drawers)
    bayes_area = float(np.sum(bayes))
    score_ci = stratified_bootstrap(
        arr, lambda a: a.mean(axis=(0, 1)).sum() / bayes_area, samples=bootstrap_samples
    )
    return Summary(
        success_rate=rates,
        ci_low=[c[0] for c in cis],
        ci_high=[c[1] for c in cis],
        bayes_optimal=bayes,
        normalised_score=normalised_score(rates, num_drawers),
        normalised_score_ci=score_ci,
    )


def by_seed_and_task(raw_successes, raw_tasks, seeds: Sequence[int]) -> list[dict]:
    """Success per episode for every (run seed, hidden task) cell: `raw_successes` (S, trials, K),
    `raw_tasks` (S, trials). Deterministic agents on the deterministic env repeat one rollout per
    cell, so this table, not the pooled interval, shows how many distinct outcomes there were."""
    succ = _as_successes(raw_successes)
    tasks = np.asarray(raw_tasks)
    rows = []
    for i, seed in enumerate(seeds):
        for task in np.unique(tasks[i]):
            cell = succ[i][tasks[i] == task]
            rows.append({"seed": int(seed), "task": int(task), "trials": int(len(cell)),
                         "success_rate": [float(x) for x in cell.mean(0)],
                         "distinct_outcomes": int(len({tuple(t) for t in cell.tolist()}))})
    return rows
