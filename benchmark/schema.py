"""What a valid RefExp results file is (contract section 4), and what the leaderboard accepts.

This module is the one home of the results format: the harness (`benchmark.run`) writes files
that pass `validate_results`, and the leaderboard (`leaderboard.board`, downstream of the harness)
accepts only files that pass it *and* `check_eligible` (enough trials, a known env and dataset,
pixel observations, an eligible agent). It imports nothing else of the project (the dataset
registry only if present), so the leaderboard needs no envs to check a file.

A results file (schema version 1) is one JSON object:

| field                 | type                          | meaning                                             |
|-----------------------|-------------------------------|-----------------------------------------------------|
| schema_version        | int (1)                       |                                                     |
| agent, agent_version  | str, str                      | display name and version of the scored agent        |
| agent_spec            | str                           | what `--agent` was given                            |
| eligible              | bool                          | false for agents that see the hidden task           |
| env_id, num_drawers   | str, int                      | a known `RefExp/*` id and its N                     |
| obs_type              | "pixels" or "state"           | what the agent observed                             |
| dataset_id            | str or null                   | offline data the agent was trained on; null = none  |
| episodes              | int K                         | episodes per trial                                  |
| trials                | int                           | trials per seed                                     |
| seeds                 | list[int]                     | distinct                                            |
| success_rate          | list[float], K                | per-episode success rate over all trials and seeds  |
| ci_low, ci_high       | list[float], K                | its 95% interval (`ci_method`, `confidence`)        |
| bayes_optimal         | list[float], K                | min(1, k/N)                                         |
| normalised_score      | float                         | sum(success_rate) / sum(bayes_optimal)              |
| normalised_score_ci   | [float, float]                | stratified bootstrap 95% interval                   |
| raw_successes         | seeds x trials x K of 0/1     | per-seed, per-trial, per-episode success            |
| raw_tasks             | seeds x trials of int         | the hidden task of each trial (revealed afterwards) |
| raw_returns           | seeds x trials x K of float   | undiscounted return of each episode                 |
| wall_time_s, workers  | float, int                    |                                                     |
| packages, machine     | dict[str, str], dict          | versions, platform                                  |
| date                  | str                           | ISO 8601 UTC, when the run finished                 |
| protocol              | dict                          | horizon, success rule, task distribution, seeding   |
"""

from __future__ import annotations

import math
import re
from typing import Any

SCHEMA_VERSION = 1
MIN_TRIALS = 100  # trials over all seeds that the leaderboard asks for
CONFIDENCE = 0.95
LEADERBOARD_OBS_TYPE = "pixels"

# Known envs and their number of drawers N (the Bayes-optimal curve depends on it).
KNOWN_ENVS: dict[str, int] = {
    "RefExp/TwoDrawer-v0": 2,
    "RefExp/ThreeDrawer-v0": 3,
    "RefExp/TwoDrawerShift-v0": 2,
}

# The dataset each env is scored against by default. The Shift env is a robustness study of agents
# trained on the ordinary two-drawer data, so its default is the two-drawer dataset.
DEFAULT_DATASET: dict[str, str] = {
    "RefExp/TwoDrawer-v0": "refexp/two-drawer/expert-v0",
    "RefExp/ThreeDrawer-v0": "refexp/three-drawer/expert-v0",
    "RefExp/TwoDrawerShift-v0": "refexp/two-drawer/expert-v0",
}

# Standardized dataset ids (contract section 2). Extended at run time by the dataset registry
# (`refexp_envs.datasets.registry.REGISTRY`) when importable, so new versions need no edit here.
_DATASET_IDS: tuple[str, ...] = tuple(
    f"refexp/{env}/{behaviour}-v0"
    for env in ("two-drawer", "three-drawer", "two-drawer-shift")
    for behaviour in ("expert", "noisy", "dev")
)

# Which envs a dataset's agents may be scored on: the dataset's env segment -> env ids.
DATASET_ENVS: dict[str, tuple[str, ...]] = {
    "two-drawer": ("RefExp/TwoDrawer-v0", "RefExp/TwoDrawerShift-v0"),
    "three-drawer": ("RefExp/ThreeDrawer-v0",),
    "two-drawer-shift": ("RefExp/TwoDrawerShift-v0",),
}

# Names that always see the hidden task: refused whatever their `eligible` flag says.
TASK_AWARE_AGENTS = frozenset({"oracle", "oracle-task"})

_DATASET_RE = re.compile(r"^refexp/(?P<env>[a-z0-9-]+)/(?P<behaviour>[a-z0-9-]+)-v(?P<version>\d+)$")


class SchemaError(ValueError):
    """A results file that does not follow the schema; `problems` lists every reason."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid results file:\n  - " + "\n  - ".join(self.problems))


class IneligibleError(ValueError):
    """A valid results file that the leaderboard does not accept."""


def known_dataset_ids() -> tuple[str, ...]:
    """The standardized dataset ids: this module's list plus the dataset registry's, if importable."""
    ids = list(_DATASET_IDS)
    try:  # optional: the leaderboard itself needs no envs
        from refexp_envs.datasets.registry import REGISTRY

        ids += [i for i in sorted(REGISTRY) if i not in ids]
    except Exception:  # noqa: BLE001  (any failure to import the registry leaves the built-in list)
        pass
    return tuple(ids)


def dataset_env_ok(dataset_id: str, env_id: str) -> bool:
    """Whether agents trained on `dataset_id` may be scored on `env_id`."""
    m = _DATASET_RE.match(dataset_id)
    return bool(m) and env_id in DATASET_ENVS.get(m.group("env"), ())


# ---------------------------------------------------------------------------------------- checks
_REQUIRED: dict[str, type | tuple[type, ...]] = {
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
    """Raise `SchemaError` listing every problem unless `data` is a consistent results object.

    Beyond types and shapes it recomputes what the raw successes determine (rates, the
    Bayes-optimal curve, the normalised score) so that an edited summary cannot pass.
    """
    if not isinstance(data, dict):
        raise SchemaError([f"top level must be a JSON object, got {type(data).__name__}"])
    problems: list[str] = []
    for key, typ in _REQUIRED.items():
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
    unknown = sorted(set(data) - set(_REQUIRED))
    if unknown:
        problems.append(f"unknown fields {unknown}")
    if problems:
        raise SchemaError(problems)

    if data["schema_version"] != SCHEMA_VERSION:
        problems.append(f"schema_version {data['schema_version']} is not the supported {SCHEMA_VERSION}")
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
    if not data["agent"].strip():
        problems.append("agent name is empty")
    if not data["agent_version"].strip():
        problems.append("agent_version is empty")

    k, t, seeds = data["episodes"], data["trials"], data["seeds"]
    if k < 1:
        problems.append(f"episodes must be >= 1, got {k}")
    if t < 1:
        problems.append(f"trials must be >= 1, got {t}")
    if not seeds or not all(_is_int(s) for s in seeds):
        problems.append("seeds must be a non-empty list of ints")
    elif len(set(seeds)) != len(seeds):
        problems.append(f"seeds must be distinct, got {seeds}")
    if data["confidence"] != CONFIDENCE:
        problems.append(f"confidence must be {CONFIDENCE}, got {data['confidence']}")
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
    if data["eligible"] and data["agent"] in TASK_AWARE_AGENTS:
        problems.append(f"agent {data['agent']!r} sees the hidden task and cannot be marked eligible")
    if problems:
        raise SchemaError(problems)


def check_eligible(data: dict) -> None:
    """Raise `IneligibleError` with the reason unless a *valid* results object may be ranked."""
    total = len(data["seeds"]) * data["trials"]
    if total < MIN_TRIALS:
        raise IneligibleError(
            f"{total} trials ({len(data['seeds'])} seeds x {data['trials']}); the leaderboard needs at "
            f"least {MIN_TRIALS}: rerun with --trials {math.ceil(MIN_TRIALS / len(data['seeds']))} or more"
        )
    if not data["eligible"] or data["agent"] in TASK_AWARE_AGENTS:
        raise IneligibleError(
            f"agent {data['agent']!r} is not eligible: it sees the hidden task (an oracle is a sanity "
            "bound, never ranked)"
        )
    if data["obs_type"] != LEADERBOARD_OBS_TYPE:
        raise IneligibleError(
            f"obs_type {data['obs_type']!r}: the leaderboard ranks agents that observe "
            f"{LEADERBOARD_OBS_TYPE!r} (the benchmark's observation); rerun without --obs-type"
        )
    ds = data["dataset_id"]
    if ds is not None and not dataset_env_ok(ds, data["env_id"]):
        raise IneligibleError(f"dataset {ds!r} is not a training set for {data['env_id']}")
