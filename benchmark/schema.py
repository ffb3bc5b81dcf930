"""What a valid RefExp results file is (contract section 4), and what the leaderboard accepts.

This module is the one home of the results format: the harness (`benchmark.run`) writes files
that pass `validate_results`, and the leaderboard (`leaderboard.board`, downstream of the harness)
accepts only files that pass it *and* `check_eligible`. It imports `benchmark.stats` (numpy, scipy),
the suite's env table `refexp_envs.ENVS` and the dataset registry: pure data, so checking a file
loads no simulator.

Three versions are read: 1 (before the evaluation protocol of docs/benchmark.md: tasks drawn i.i.d.
per trial, Wilson intervals over pooled trials; read for old leaderboard rows, no longer accepted
for submission), 2 (stratified-bootstrap intervals; no record of privileged channels; accepted, its
layout use read from the agent's name, `LAYOUT_AWARE_AGENTS`) and 3 (current: 2 plus `uses_task`,
`uses_layout`, the conditional success, Student-t intervals over seeds). A schema-3 results file is
one JSON object:

| field                        | type                          | meaning                                                 |
|------------------------------|-------------------------------|---------------------------------------------------------|
| schema_version               | int (3)                       |                                                         |
| agent, agent_version         | str, str                      | display name and version (checkpoint hashes, seed order)|
| agent_spec                   | str                           | what `--agent` was given                                |
| eligible                     | bool                          | false for agents that see the hidden task               |
| uses_task, uses_layout       | bool, bool                    | the agent was handed the task / the handles' positions  |
| env_id, num_drawers          | str, int                      | the env scored, and its N (its task count: Desk-v2's 64)|
| choices (optional)           | int M                         | what an agent tries one per episode (the env's `num_choices`: N for a drawers env, 4 for Desk-v2); absent in older files: N |
| trained_env_id               | str or null                   | the env the agent's checkpoint was trained on, if known |
| env_mismatch_allowed         | bool                          | scored on an env it was not trained on (--allow-env-mismatch) |
| obs_type                     | "pixels" or "state"           | what the agent observed                                 |
| online_steps (optional)      | int or null                   | online env steps it trained on, as the agent says (most over seeds); null: not said |
| dataset_id                   | str or null                   | offline data the agent was trained on; null = none      |
| episodes                     | int K                         | episodes per trial                                      |
| trials_per_task              | int                           | trials of each task per training seed                   |
| training_seeds               | list[int], S                  | one checkpoint per training seed; intervals over these  |
| eval_seed                    | int                           | drives the env reset seeds and the agent's seeds        |
| secret_id                    | str                           | hash of the evaluation secret that ordered the tasks    |
| success_rate                 | list[float], K                | mean over seeds of each seed's task-balanced rate       |
| ci_low, ci_high              | list[float], K                | 95% interval (`ci_method`: Student-t over seeds)        |
| iqm                          | list[float] K, or null        | interquartile mean over seeds (null below 5 seeds)      |
| seed_curves                  | S x K floats                  | each training seed's task-balanced success curve        |
| seeds_at_bayes_optimal       | int                           | seeds whose curve reaches min(1, k/M) in every episode  |
| bayes_optimal                | list[float], K                | min(1, k/M) (M = choices; N where absent)               |
| auc, auc_ci                  | float, [float, float]         | area under the success curve (sum over episodes)        |
| exploration_score            | float or null                 | (auc - K/M) / (sum min(1,k/M) - K/M); null for K = 1    |
| exploration_score_ci         | [float, float] or null        | its 95% interval                                        |
| seed_exploration_scores      | list[float] S, or null        | per training seed                                       |
| conditional_success, _ci     | float or null, [lo, hi] or null | success in episode k+1 after a failed episode k (stats) |
| seed_conditional_success     | list[float or null], S        | per training seed (null: it never failed before K)      |
| conditional_bayes_optimal    | float or null                 | the Bayes-optimal agent's conditional success           |
| ci_method, confidence        | str, float (0.95)             |                                                         |
| splits (optional)            | object or null                | an env with held-out tasks (Desk-v2; required there, null or absent elsewhere): {"train": S, "test": S}, each S {tasks, success_rate (K), ci_low, ci_high (K, Student-t over seeds; null with one seed), seed_curves (S x K), exploration_score, seed_exploration_scores} over that split's tasks only (`stats.split_summaries`) |
| bootstrap_samples, bootstrap_seed | int, int                 |                                                         |
| raw_successes                | S x T x K of 0/1              | T = N * trials_per_task                                 |
| raw_tasks                    | S x T of int                  | each task exactly trials_per_task times per seed        |
| raw_returns                  | S x T x K of float            | undiscounted return of each episode                     |
| raw_rollouts                 | S x T of str                  | digest of each trial's action sequence                  |
| distinct_rollouts            | list of {seed, task, trials, distinct} | distinct action sequences per (seed, task) cell |
| wall_time_s, workers, batch  | float, int, int               |                                                         |
| packages, machine            | dict[str, str], dict          | versions, platform                                      |
| renderer (optional)          | dict or null                  | what drew the pixels: GL vendor, renderer, version, MUJOCO_GL, REFEXP_RENDERER, mujoco (null: state obs; absent in older files) |
| date                         | str                           | ISO 8601 UTC, when the run finished                     |
| protocol                     | dict                          | horizon, success rule, task order, seeding              |
"""

from __future__ import annotations

import math
import re
from typing import Any

from refexp_envs import ENVS

SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
ACCEPTED_VERSIONS = (2, 3)  # what the leaderboard accepts for submission
MIN_TRIALS = 100  # trials over all seeds that the leaderboard asks for
CONFIDENCE = 0.95
LEADERBOARD_OBS_TYPE = "pixels"

# Envs, their number of drawers N (the Bayes-optimal curve depends on it) and their default datasets
# come from the one table of the suite, `refexp_envs.ENVS` (gymnasium only; no simulator is loaded).
KNOWN_ENVS: dict[str, int] = {env_id: entry.num_tasks for env_id, entry in ENVS.items()}
DEFAULT_DATASET: dict[str, str] = {env_id: entry.default_dataset for env_id, entry in ENVS.items()}

# Which envs a dataset's agents may be scored on: the dataset's env segment -> env ids (its own env,
# and the envs whose agents train on it, e.g. two-drawer -> TwoDrawer and TwoDrawerShift).
DATASET_ENVS: dict[str, tuple[str, ...]] = {
    slug: tuple(i for i, e in ENVS.items() if slug in (e.slug, e.training_slug))
    for slug in dict.fromkeys(e.slug for e in ENVS.values())
}

# The harness's built-in agents that declare `uses_layout` (benchmark.agents: the scripted ones and the oracle): how a
# schema-2 file, which does not record it, is read (tests/test_benchmark_agents.py keeps this in step).
LAYOUT_AWARE_AGENTS = frozenset({"always-first", "scripted-explorer", "oracle"})
# An exploration score whose whole interval lies above Bayes-optimal's (1) by more than this is refused
# for review: no agent can beat Bayes-optimal in expectation (docs/benchmark.md, "Plausibility").
IMPLAUSIBLE_MARGIN = 0.0
# Names that always see the hidden task: refused whatever their `eligible` flag says.
TASK_AWARE_AGENTS = frozenset({"oracle", "oracle-task", "ours-onestep-oracle-task"})

_DATASET_RE = re.compile(r"^refexp/(?P<env>[a-z0-9-]+)/(?P<behaviour>[a-z0-9-]+)-v(?P<version>\d+)$")


class SchemaError(ValueError):
    """A results file that does not follow the schema; `problems` lists every reason."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid results file:\n  - " + "\n  - ".join(self.problems))


class IneligibleError(ValueError):
    """A valid results file that the leaderboard does not accept."""


def known_dataset_ids() -> tuple[str, ...]:
    """The standardized dataset ids (the dataset registry's)."""
    from refexp_envs.datasets.registry import REGISTRY  # pure data: no simulator is loaded

    return tuple(sorted(REGISTRY))


def dataset_env_ok(dataset_id: str, env_id: str) -> bool:
    """Whether agents trained on `dataset_id` may be scored on `env_id`."""
    m = _DATASET_RE.match(dataset_id)
    return bool(m) and env_id in DATASET_ENVS.get(m.group("env"), ())


# ---------------------------------------------------------------------------------------- checks
_REQUIRED_V1: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "agent": str,
    "agent_version": str,
    "agent_spec": str,
    "eligible": bool,
    "env_id": str,
    "num_drawers": int,
    "obs_type": str,
    "dataset_id": (str, type(None)),
    "episodes": int,
    "trials": int,
    "seeds": list,
    "success_rate": list,
    "ci_low": list,
    "ci_high": list,
    "ci_method": str,
    "confidence": float,
    "bayes_optimal": list,
    "normalised_score": float,
    "normalised_score_ci": list,
    "raw_successes": list,
    "raw_tasks": list,
    "raw_returns": list,
    "wall_time_s": (float, int),
    "workers": int,
    "packages": dict,
    "machine": dict,
    "date": str,
    "protocol": dict,
}

_TOL = 1e-6


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate_results(data: Any) -> None:
    """Raise `SchemaError` listing every problem unless `data` is a consistent results object of a
    readable schema version.

    Beyond types and shapes it recomputes what the raw data determine (rates, per-seed curves, the
    Bayes-optimal curve, the scores, the distinct-rollout counts) so that an edited summary cannot pass.
    """
    if not isinstance(data, dict):
        raise SchemaError([f"top level must be a JSON object, got {type(data).__name__}"])
    version = data.get("schema_version")
    if version in (2, 3):
        return _validate_v2(data)
    if version == 1:
        return _validate_v1(data)
    raise SchemaError([f"unknown schema_version {version!r}: this RefExp reads versions {list(READABLE_VERSIONS)}; "
                       "a newer file needs a newer RefExp, an older one a rescore with this harness"])


def _check_types(data: dict, required: dict, optional: dict | None = None) -> list[str]:
    problems = []
    optional = optional or {}
    for key, typ in optional.items():
        if key in data and not isinstance(data[key], typ):
            problems.append(f"field {key!r} must be {' or '.join(t.__name__ for t in typ)}, got {type(data[key]).__name__}")
    for key, typ in required.items():
        if key not in data:
            problems.append(f"missing field {key!r}")
            continue
        val = data[key]
        ok = isinstance(val, typ) and not (typ is int and isinstance(val, bool))
        if typ is float and _is_num(val):
            ok = True  # JSON writes 1.0 as 1.0, but accept ints where floats are meant
        if not ok:
            want = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            problems.append(f"field {key!r} must be {want}, got {type(val).__name__}")
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        problems.append(f"unknown fields {unknown}")
    return problems


def _validate_v1(data: dict) -> None:
    """Schema 1 (read-only: old leaderboard rows)."""
    problems = _check_types(data, _REQUIRED_V1)
    if problems:
        raise SchemaError(problems)

    _common_checks(data, problems)

    k, t, seeds = data["episodes"], data["trials"], data["seeds"]
    if k < 1:
        problems.append(f"episodes must be >= 1, got {k}")
    if t < 1:
        problems.append(f"trials must be >= 1, got {t}")
    if not seeds or not all(_is_int(s) for s in seeds):
        problems.append("seeds must be a non-empty list of ints")
    elif len(set(seeds)) != len(seeds):
        problems.append(f"seeds must be distinct, got {seeds}")
    if problems:
        raise SchemaError(problems)

    raw = data["raw_successes"]
    shape_ok = len(raw) == len(seeds) and all(
        isinstance(per_seed, list)
        and len(per_seed) == t
        and all(isinstance(trial, list) and len(trial) == k for trial in per_seed)
        for per_seed in raw
    )
    if not shape_ok:
        problems.append(f"raw_successes must be {len(seeds)} seeds x {t} trials x {k} episodes of 0/1")
    flat = (x for ps in raw if isinstance(ps, list) for tr in ps if isinstance(tr, list) for x in tr)
    for v in flat:
        if not _is_int(v) or v not in (0, 1):
            problems.append(f"raw_successes entries must be 0 or 1, found {v!r}")
            break
    tasks = data["raw_tasks"]
    n = data["num_drawers"]
    if not (
        len(tasks) == len(seeds)
        and all(isinstance(ps, list) and len(ps) == t and all(_is_int(x) and 0 <= x < n for x in ps) for ps in tasks)
    ):
        problems.append(f"raw_tasks must be {len(seeds)} seeds x {t} trials of ints in [0, {n})")
    rets = data["raw_returns"]
    if not (
        len(rets) == len(seeds)
        and all(
            isinstance(ps, list) and len(ps) == t and all(isinstance(tr, list) and len(tr) == k and all(_is_num(x) for x in tr) for tr in ps)
            for ps in rets
        )
    ):
        problems.append(f"raw_returns must be {len(seeds)} seeds x {t} trials x {k} episodes of numbers")
    for key in ("success_rate", "ci_low", "ci_high", "bayes_optimal"):
        vals = data[key]
        if len(vals) != k or not all(_is_num(v) and 0.0 <= v <= 1.0 for v in vals):
            problems.append(f"{key} must be {k} numbers in [0, 1]")
    sc = data["normalised_score_ci"]
    if len(sc) != 2 or not all(_is_num(v) for v in sc) or sc[0] > sc[1]:
        problems.append("normalised_score_ci must be [low, high] with low <= high")
    if problems:
        raise SchemaError(problems)

    # Consistency with the raw data.
    total = len(seeds) * t
    for e in range(k):
        wins = sum(trial[e] for per_seed in raw for trial in per_seed)
        if abs(wins / total - data["success_rate"][e]) > _TOL:
            problems.append(
                f"success_rate[{e}] = {data['success_rate'][e]} but raw_successes give {wins / total}"
            )
        if not data["ci_low"][e] - _TOL <= data["success_rate"][e] <= data["ci_high"][e] + _TOL:
            problems.append(f"episode {e + 1}: success rate outside its interval [ci_low, ci_high]")
    bayes = [min(1.0, kk / n) for kk in range(1, k + 1)]
    if any(abs(a - b) > _TOL for a, b in zip(data["bayes_optimal"], bayes)):
        problems.append(f"bayes_optimal must be min(1, k/{n}) = {bayes}")
    score = sum(data["success_rate"]) / sum(bayes)
    if abs(score - data["normalised_score"]) > _TOL:
        problems.append(f"normalised_score {data['normalised_score']} but the success rates give {score}")
    if problems:
        raise SchemaError(problems)


def _common_checks(data: dict, problems: list[str]) -> None:
    env_id = data["env_id"]
    if env_id not in KNOWN_ENVS:
        problems.append(f"unknown env_id {env_id!r}; known: {sorted(KNOWN_ENVS)}")
    elif data["num_drawers"] != KNOWN_ENVS[env_id]:
        problems.append(f"num_drawers {data['num_drawers']} but {env_id} has {KNOWN_ENVS[env_id]}")
    if data["obs_type"] not in ("pixels", "state"):
        problems.append(f"obs_type must be 'pixels' or 'state', got {data['obs_type']!r}")
    ds = data["dataset_id"]
    if ds is not None and ds not in known_dataset_ids():
        problems.append(f"unknown dataset_id {ds!r}; known: {list(known_dataset_ids())}")
    for key in ("agent", "agent_version"):
        if not data[key].strip():
            problems.append(f"{key} is empty")
    if data["confidence"] != CONFIDENCE:
        problems.append(f"confidence must be {CONFIDENCE}, got {data['confidence']}")
    if data["eligible"] and data["agent"] in TASK_AWARE_AGENTS:
        problems.append(f"agent {data['agent']!r} sees the hidden task and cannot be marked eligible")


_REQUIRED_V2: dict[str, type | tuple[type, ...]] = {
    "schema_version": int, "agent": str, "agent_version": str, "agent_spec": str, "eligible": bool,
    "env_id": str, "num_drawers": int, "trained_env_id": (str, type(None)), "env_mismatch_allowed": bool,
    "obs_type": str, "dataset_id": (str, type(None)), "episodes": int, "trials_per_task": int,
    "training_seeds": list, "eval_seed": int, "secret_id": str,
    "success_rate": list, "ci_low": list, "ci_high": list, "iqm": (list, type(None)), "seed_curves": list,
    "seeds_at_bayes_optimal": int, "bayes_optimal": list, "auc": float, "auc_ci": list,
    "exploration_score": (float, int, type(None)), "exploration_score_ci": (list, type(None)),
    "seed_exploration_scores": (list, type(None)), "ci_method": str, "confidence": float,
    "bootstrap_samples": int, "bootstrap_seed": int,
    "raw_successes": list, "raw_tasks": list, "raw_returns": list, "raw_rollouts": list, "distinct_rollouts": list,
    "wall_time_s": (float, int), "workers": int, "batch": int, "packages": dict, "machine": dict, "date": str,
    "protocol": dict,
}


# Fields a file may leave out (older files do); checked when present.
_OPTIONAL_V2: dict[str, tuple[type, ...]] = {"renderer": (dict, type(None)), "choices": (int,),
                                             "splits": (dict, type(None)), "online_steps": (int, type(None))}
SPLIT_KEYS = ("tasks", "success_rate", "ci_low", "ci_high", "seed_curves", "exploration_score", "seed_exploration_scores")


def num_choices(data: dict) -> int:
    """M of a results dict's env (the registry's, not the file's: the Bayes-optimal curve is min(1, k/M));
    the file's N for an env the registry does not know."""
    entry = ENVS.get(data.get("env_id"))
    return entry.num_choices if entry is not None else data["num_drawers"]


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    import numpy as np

    return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), atol=_TOL, rtol=0))


_REQUIRED_V3: dict[str, type | tuple[type, ...]] = {
    **_REQUIRED_V2, "uses_task": bool, "uses_layout": bool,
    "conditional_success": (float, int, type(None)), "conditional_success_ci": (list, type(None)),
    "seed_conditional_success": list, "conditional_bayes_optimal": (float, int, type(None)),
}


def uses_layout(data: dict) -> bool:
    """Whether the agent of a results dict was handed the handles' positions (schema 3 records it; an
    earlier file is read by the agent's name)."""
    if "uses_layout" in data:
        return bool(data["uses_layout"])
    return data["agent"] in LAYOUT_AWARE_AGENTS and data.get("agent_spec", data["agent"]) == data["agent"]


def _validate_v2(data: dict) -> None:
    """Schemas 2 and 3 (3 adds the privileged-channel flags and the conditional success)."""
    import numpy as np

    from benchmark import stats

    v3 = data["schema_version"] == 3
    problems = _check_types(data, _REQUIRED_V3 if v3 else _REQUIRED_V2, _OPTIONAL_V2)
    if problems:
        raise SchemaError(problems)
    _common_checks(data, problems)
    k, tpt, seeds, n = data["episodes"], data["trials_per_task"], data["training_seeds"], data["num_drawers"]
    m = num_choices(data)
    if "choices" in data and data["choices"] != m:
        problems.append(f"choices {data['choices']} but {data['env_id']} has M = {m}")
    entry = ENVS.get(data["env_id"])
    has_split = entry is not None and entry.has_split
    if has_split and not isinstance(data.get("splits"), dict):
        problems.append(f"{data['env_id']} holds out test tasks: its results need 'splits' (train and test apart)")
    if not has_split and data.get("splits") is not None:
        problems.append(f"splits given but {data['env_id']} has no held-out split")
    if k < 1:
        problems.append(f"episodes must be >= 1, got {k}")
    if tpt < 1:
        problems.append(f"trials_per_task must be >= 1, got {tpt}")
    if not seeds or not all(_is_int(s) for s in seeds):
        problems.append("training_seeds must be a non-empty list of ints")
    elif len(set(seeds)) != len(seeds):
        problems.append(f"training_seeds must be distinct, got {seeds}")
    if not re.fullmatch(r"[0-9a-f]{16}", data["secret_id"]):
        problems.append("secret_id must be 16 hex digits (a hash of the secret, never the secret)")
    renderer = data.get("renderer")
    if renderer is not None and not (isinstance(renderer, dict) and all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in renderer.items())):
        problems.append("renderer must be null or an object of strings (GL vendor, renderer, version, ...)")
    if problems:
        raise SchemaError(problems)
    t = n * tpt
    try:
        raw = np.asarray(data["raw_successes"])
        tasks = np.asarray(data["raw_tasks"])
        rets = np.asarray(data["raw_returns"], dtype=float)
        rolls = np.asarray(data["raw_rollouts"])
    except (ValueError, TypeError):
        raise SchemaError(["raw_successes, raw_tasks, raw_returns and raw_rollouts must be rectangular"]) from None
    s_count = len(seeds)
    if raw.shape != (s_count, t, k) or not np.isin(raw, (0, 1)).all() or raw.dtype.kind not in "iu":
        problems.append(f"raw_successes must be {s_count} seeds x {t} trials x {k} episodes of 0/1")
    if tasks.shape != (s_count, t) or tasks.dtype.kind not in "iu":
        problems.append(f"raw_tasks must be {s_count} seeds x {t} trials of ints")
    elif any(sorted(np.bincount(tasks[i], minlength=n).tolist()) != [tpt] * n or tasks[i].max() >= n
             for i in range(s_count)):
        problems.append(f"raw_tasks must hold each task of range({n}) exactly {tpt} times per seed (task-balanced)")
    if rets.shape != (s_count, t, k) or not np.isfinite(rets).all():
        problems.append(f"raw_returns must be {s_count} seeds x {t} trials x {k} episodes of numbers")
    if rolls.shape != (s_count, t) or rolls.dtype.kind != "U":
        problems.append(f"raw_rollouts must be {s_count} seeds x {t} trials of strings")
    for key in ("success_rate", "ci_low", "ci_high", "bayes_optimal"):
        vals = data[key]
        if len(vals) != k or not all(_is_num(v) and 0.0 <= v <= 1.0 for v in vals):
            problems.append(f"{key} must be {k} numbers in [0, 1]")
    if problems:
        raise SchemaError(problems)

    # Everything the raw data determine is recomputed (the intervals are not: a seeded bootstrap).
    curves = stats.seed_curves(raw, tasks, n)
    checks = {
        "seed_curves": curves.tolist(),
        "success_rate": curves.mean(0).tolist(),
        "bayes_optimal": stats.bayes_optimal_curve(k, m),
        "auc": stats.area(curves.mean(0)),
        "exploration_score": stats.exploration_score(curves.mean(0), m),
        "seed_exploration_scores": None if k == 1 else [stats.exploration_score(c, m) for c in curves],
        "iqm": stats.iqm(curves, axis=0).tolist() if s_count >= stats.IQM_MIN_SEEDS else None,
        "seeds_at_bayes_optimal": int(stats.at_bayes_optimal(curves, m).sum()),
    }
    if v3:
        checks["seed_conditional_success"] = stats.seed_conditional_success(raw)
        have = [c for c in checks["seed_conditional_success"] if c is not None]
        checks["conditional_success"] = float(np.mean(have)) if have else None
        checks["conditional_bayes_optimal"] = stats.conditional_bayes_optimal(k, m)
        if data["uses_task"] and data["eligible"]:
            problems.append("an agent that uses the task cannot be marked eligible")
    for key, want in checks.items():
        if key.startswith("seed_conditional") and data[key] != want:
            if len(data[key]) != len(want) or any((a is None) != (b is None) or (a is not None and abs(a - b) > _TOL)
                                                  for a, b in zip(data[key], want)):
                problems.append(f"{key} {data[key]} but the raw data give {want}")
        elif not key.startswith("seed_conditional") and not _close(data[key], want):
            problems.append(f"{key} {data[key]} but the raw data give {want}")
    if has_split and isinstance(data.get("splits"), dict):
        _check_splits(data["splits"], raw, tasks, n, m, k, s_count, entry, problems)
    if data["distinct_rollouts"] != stats.distinct_rollouts(rolls, tasks, seeds):
        problems.append("distinct_rollouts disagrees with raw_rollouts")
    for e in range(k):
        if not data["ci_low"][e] - _TOL <= data["success_rate"][e] <= data["ci_high"][e] + _TOL:
            problems.append(f"episode {e + 1}: success rate outside its interval [ci_low, ci_high]")
    pairs = [("auc", "auc_ci"), ("exploration_score", "exploration_score_ci")]
    for key, val in pairs + ([("conditional_success", "conditional_success_ci")] if v3 else []):
        ci, point = data[val], data[key]
        if (ci is None) != (point is None):
            problems.append(f"{val} must be null exactly when {key} is")
        elif ci is not None and not (len(ci) == 2 and all(_is_num(v) for v in ci) and ci[0] - _TOL <= point <= ci[1] + _TOL):
            problems.append(f"{val} must be [low, high] around {key}")
    if problems:
        raise SchemaError(problems)


def _check_splits(splits: dict, raw, tasks, n: int, m: int, k: int, s_count: int, entry, problems: list[str]) -> None:
    """The per-split summary of an env with held-out tasks, recomputed from the raw data (not its intervals)."""
    from benchmark import stats
    from refexp_envs import SPLITS

    if sorted(splits) != sorted(SPLITS):
        problems.append(f"splits must have exactly the keys {list(SPLITS)}, got {sorted(splits)}")
        return
    want = stats.split_summaries(raw, tasks, n, m, {s: entry.tasks_of(s) for s in SPLITS})
    for name in SPLITS:
        got = splits[name]
        if not isinstance(got, dict) or sorted(got) != sorted(SPLIT_KEYS):
            problems.append(f"splits[{name!r}] must have exactly the keys {list(SPLIT_KEYS)}")
            continue
        for key in ("tasks", "success_rate", "seed_curves", "exploration_score", "seed_exploration_scores"):
            try:
                same = not isinstance(got[key], bool) and _close(got[key], want[name][key])
            except (ValueError, TypeError):
                same = False
            if not same:
                problems.append(f"splits[{name!r}][{key!r}] {got[key]} but the raw data give {want[name][key]}")
        lo, hi, rate = got["ci_low"], got["ci_high"], want[name]["success_rate"]
        if s_count < 2:
            if lo is not None or hi is not None:
                problems.append(f"splits[{name!r}]: ci_low and ci_high must be null with one training seed")
        elif not (isinstance(lo, list) and isinstance(hi, list) and len(lo) == len(hi) == k
                  and all(_is_num(a) and _is_num(b) and 0.0 <= a <= r + _TOL and r - _TOL <= b <= 1.0
                          for a, b, r in zip(lo, hi, rate))):
            problems.append(f"splits[{name!r}]: ci_low and ci_high must be {k} numbers in [0, 1] around success_rate")


def total_trials(data: dict) -> int:
    """Trials over all seeds of a results dict of either schema version."""
    if data["schema_version"] == 1:
        return len(data["seeds"]) * data["trials"]
    return len(data["training_seeds"]) * data["num_drawers"] * data["trials_per_task"]


def check_eligible(data: dict) -> None:
    """Raise `IneligibleError` with the reason unless a *valid* results object may be ranked."""
    if data["schema_version"] not in ACCEPTED_VERSIONS:
        raise IneligibleError(
            f"schema version {data['schema_version']} (tasks not task-balanced, not ordered by an evaluation secret) "
            f"is read for old rows but no longer accepted; rescore with this harness (schema {SCHEMA_VERSION})"
        )
    total = total_trials(data)
    s_count, n = len(data["training_seeds"]), data["num_drawers"]
    if total < MIN_TRIALS:
        raise IneligibleError(
            f"{total} trials ({s_count} training seeds x {n} tasks x {data['trials_per_task']}); the leaderboard "
            f"needs at least {MIN_TRIALS}: rerun with --trials-per-task {math.ceil(MIN_TRIALS / (s_count * n))} or more"
        )
    if not data["eligible"] or data["agent"] in TASK_AWARE_AGENTS:
        raise IneligibleError(
            f"agent {data['agent']!r} is not eligible: it sees the hidden task (an oracle is a sanity "
            "bound, never ranked)"
        )
    if data["env_mismatch_allowed"]:
        raise IneligibleError(f"scored on {data['env_id']} although trained on {data['trained_env_id']} "
                              "(--allow-env-mismatch): a study, not a leaderboard entry")
    if data["obs_type"] != LEADERBOARD_OBS_TYPE:
        raise IneligibleError(
            f"obs_type {data['obs_type']!r}: the leaderboard ranks agents that observe "
            f"{LEADERBOARD_OBS_TYPE!r} (the benchmark's observation); rerun without --obs-type"
        )
    ds = data["dataset_id"]
    if ds is not None and not dataset_env_ok(ds, data["env_id"]):
        raise IneligibleError(f"dataset {ds!r} is not a training set for {data['env_id']}")
    implausible = implausible_reason(data)
    if implausible:
        raise IneligibleError(implausible)


def implausible_reason(data: dict) -> str | None:
    """Why a results dict is refused for review, or None: its exploration score's interval over
    training seeds (Student-t, from the raw data) lies entirely above Bayes-optimal's 1, which no agent
    reaches in expectation. A point estimate above 1 with an interval reaching below is finite-trial
    luck and accepted."""
    from benchmark import stats

    if len(data["training_seeds"]) < 2:
        return None
    sm = stats.summarise(data["raw_successes"], data["raw_tasks"], data["num_drawers"], choices=num_choices(data))
    if sm.exploration_score_ci is None or sm.exploration_score_ci[0] <= 1.0 + IMPLAUSIBLE_MARGIN:
        return None
    lo, hi = sm.exploration_score_ci
    return (f"flagged for review: exploration score {sm.exploration_score:.3f} with its whole 95% interval "
            f"[{lo:.3f}, {hi:.3f}] above Bayes-optimal's 1 ({len(data['training_seeds'])} seeds): no agent beats "
            "Bayes-optimal in expectation, so the harness, the env or the file needs a maintainer's look")
