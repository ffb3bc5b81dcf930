"""The results of a scored run: assembling the results dict (schema 3), its file, and its tables."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import refexp_envs
from benchmark import stats
from benchmark.schema import SCHEMA_VERSION, validate_results
from benchmark.workers import write_text_atomic

PACKAGES = ("numpy", "torch", "gymnasium", "mujoco", "metaworld", "stable-baselines3", "sb3-contrib", "scipy")


def package_versions() -> dict[str, str]:
    """Versions a result depends on. `refexp` is the code that ran (`refexp_envs.__version__`), not
    the installed metadata, which an editable install leaves at the version it was installed with."""
    out = {"python": platform.python_version(), "refexp": refexp_envs.__version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count() or 1}


def renderer_info(obs_type: str) -> dict | None:
    """What drew the frames the agent saw: the GL vendor, renderer and version strings, the MUJOCO_GL
    backend, REFEXP_RENDERER and mujoco's version (`refexp_envs.render.gl_info`, queried in this
    process, whose environment the harness's local workers inherit). None for state observations;
    {"error": ...} when no GL context can be made here, so that a finished run is never lost."""
    if obs_type != "pixels":
        return None
    try:
        from refexp_envs.render import gl_info

        return gl_info()
    except Exception as exc:  # noqa: BLE001  (provenance must not fail a scored run)
        return {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}


def make_results(
    *, meta: dict, agent_spec: str, env_id: str, num_drawers: int, obs_type: str, dataset_id: str | None,
    training_seeds: Sequence[int], eval_seed: int, secret_id: str, trials_per_task: int,
    raw_successes, raw_tasks, raw_returns, raw_rollouts, wall_time_s: float, workers: int, batch: int,
    env_mismatch_allowed: bool = False, date: str | None = None, bootstrap_samples: int = stats.BOOTSTRAP_SAMPLES,
    packages: dict | None = None, machine_info: dict | None = None, renderer: dict | None = None,
) -> dict:
    """Assemble (and validate) a results dict from raw per-trial data `(S, T, K)` (contract section 4)."""
    n = int(num_drawers)
    arr = np.asarray(raw_successes, dtype=int)
    entry = refexp_envs.ENVS.get(env_id)
    m = entry.num_choices if entry is not None else n  # M: the Bayes-optimal curve is min(1, k/M)
    summary = stats.summarise(arr, raw_tasks, n, samples=bootstrap_samples, choices=m)
    results = {
        "schema_version": SCHEMA_VERSION,
        "agent": meta["name"],
        "agent_version": meta["version"],
        "agent_spec": agent_spec,
        "eligible": bool(meta["eligible"]),
        "uses_task": bool(meta.get("uses_task", False)),
        "uses_layout": bool(meta.get("uses_layout", False)),
        "env_id": env_id,
        "num_drawers": n,
        "choices": m,
        "trained_env_id": meta.get("trained_env_id"),
        "online_steps": meta.get("online_steps"),
        "env_mismatch_allowed": bool(env_mismatch_allowed),
        "obs_type": obs_type,
        "dataset_id": dataset_id,
        "episodes": int(arr.shape[2]),
        "trials_per_task": int(trials_per_task),
        "training_seeds": [int(s) for s in training_seeds],
        "eval_seed": int(eval_seed),
        "secret_id": secret_id,
        "success_rate": summary.success_rate,
        "ci_low": summary.ci_low,
        "ci_high": summary.ci_high,
        "iqm": summary.iqm,
        "seed_curves": summary.seed_curves,
        "seeds_at_bayes_optimal": summary.seeds_at_bayes_optimal,
        "bayes_optimal": summary.bayes_optimal,
        "auc": summary.auc,
        "auc_ci": list(summary.auc_ci),
        "exploration_score": summary.exploration_score,
        "exploration_score_ci": None if summary.exploration_score_ci is None else list(summary.exploration_score_ci),
        "seed_exploration_scores": summary.seed_exploration_scores,
        "conditional_success": summary.conditional_success,
        "conditional_success_ci": None if summary.conditional_success_ci is None else list(summary.conditional_success_ci),
        "seed_conditional_success": summary.seed_conditional_success,
        "conditional_bayes_optimal": summary.conditional_bayes_optimal,
        "ci_method": summary.ci_method,
        "splits": (stats.split_summaries(arr, raw_tasks, n, m, {s: entry.tasks_of(s) for s in refexp_envs.SPLITS})
                   if entry is not None and entry.has_split else None),
        "confidence": stats.CONFIDENCE,
        "bootstrap_samples": int(bootstrap_samples),
        "bootstrap_seed": stats.BOOTSTRAP_SEED,
        "raw_successes": arr.tolist(),
        "raw_tasks": [[int(v) for v in ps] for ps in raw_tasks],
        "raw_returns": [[[float(v) for v in tr] for tr in ps] for ps in raw_returns],
        "raw_rollouts": [[str(v) for v in ps] for ps in raw_rollouts],
        "distinct_rollouts": stats.distinct_rollouts(raw_rollouts, raw_tasks, training_seeds),
        "wall_time_s": round(float(wall_time_s), 3),
        "workers": int(workers),
        "batch": int(batch),
        "packages": packages if packages is not None else package_versions(),
        "machine": machine_info if machine_info is not None else machine(),
        "renderer": renderer if renderer is not None else renderer_info(obs_type),
        "date": date or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "protocol": {
            "horizon": int(refexp_envs.HORIZON),
            "tasks": "each task trials_per_task times per training seed, order shuffled by a stream keyed by "
                     "the evaluation secret; hidden from the agent",
            "seeding": "SeedSequence([eval_seed, training_seed, trial]) -> env reset seeds, agent.seed(); "
                       "independent of the secret and the task",
            "success": "info['success'] true at any step of the episode",
            "memory": "agent.reset() once per trial; memory kept across its episodes",
            "reward_to_agent": "previous step's reward; 0.0 at an episode's first step",
        },
    }
    validate_results(results)
    return results


def duplicate_cells(results: dict) -> list[dict]:
    """The (seed, task) cells whose trials are not all distinct rollouts."""
    return [c for c in results["distinct_rollouts"] if c["distinct"] < c["trials"]]


# ------------------------------------------------------------------------------------------ files
def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-").lower()


def output_stem(agent: str, env_id: str, episodes: int, trials_per_task: int, training_seeds: Sequence[int],
                eval_seed: int, obs_type: str) -> str:
    """File name stem of a run: agent, env, K, trials per task, training seeds, eval seed (and obs type)."""
    name = Path(agent).stem if agent.endswith((".zip", ".pt")) else agent
    if agent.endswith(".pt"):
        name = f"{Path(agent).parent.name}-{name}"
    seeds = "-".join(str(s) for s in training_seeds)
    obs = "" if obs_type == "pixels" else f"_{obs_type}"
    ev = "" if eval_seed == 0 else f"_e{eval_seed}"
    return f"{slug(name)}_{slug(env_id.split('/')[-1])}_K{episodes}_tpt{trials_per_task}_s{seeds}{ev}{obs}"


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write a results dict as JSON, atomically, with the usual file permissions."""
    write_text_atomic(Path(path), json.dumps(data, indent=1) + "\n")


# ----------------------------------------------------------------------------------------- tables
def _ci(lo, hi) -> str:
    return f"[{lo:.3f}, {hi:.3f}]"


def _conditional_text(results: dict) -> str:
    cond = results.get("conditional_success")
    if cond is None:
        return ""
    best = results["conditional_bayes_optimal"]
    return (f"; success after a failed episode {cond:.3f} {_ci(*results['conditional_success_ci'])}"
            + ("" if best is None else f" (Bayes-optimal {best:.3f})"))


def score_line(results: dict) -> str:
    """The headline as one line (printed unwrapped, so that `grep` and logs see it whole)."""
    s_count = len(results["training_seeds"])
    ex = results["exploration_score"]
    ex_text = "n/a (K = 1)" if ex is None else f"{ex:.3f} {_ci(*results['exploration_score_ci'])}"
    return (f"exploration score {ex_text} (0 = never adapts, 1 = Bayes-optimal); area under the curve "
            f"{results['auc']:.3f} {_ci(*results['auc_ci'])}; {results['seeds_at_bayes_optimal']} of {s_count} "
            f"seeds at the Bayes-optimal curve{_conditional_text(results)}; intervals: {results['ci_method']}")


def split_lines(results: dict) -> list[str]:
    """One line per split (train, test) of an env with held-out tasks (Desk-v2); none otherwise."""
    lines = []
    for name, sp in (results.get("splits") or {}).items():
        ex = sp["exploration_score"]
        curve = ", ".join(f"{x:.3f}" for x in sp["success_rate"])
        lines.append(f"{name} ({sp['tasks']} tasks): success per episode [{curve}]; exploration score "
                     + ("n/a (K = 1)" if ex is None else f"{ex:.3f}"))
    return lines


def results_table(results: dict):
    """A rich table: per-episode success with its 95% CI, seeds at Bayes-optimal, the curve itself
    (the headline score is `score_line`, printed after it)."""
    from rich.table import Table

    s_count = len(results["training_seeds"])
    table = Table(
        title=f"{results['agent']} on {results['env_id']} ({results['obs_type']}): {s_count} training seed(s) x "
        f"{results['num_drawers']} tasks x {results['trials_per_task']} trials, eval seed {results['eval_seed']}, "
        f"secret {results['secret_id']}",
    )
    cols = ["episode", "success (mean over seeds)", "95% CI"]
    if results["iqm"] is not None:
        cols.append("IQM")
    cols += ["per seed", "Bayes-optimal min(1, k/N)"]
    for col in cols:
        table.add_column(col, justify="right")
    for k in range(results["episodes"]):
        row = [str(k + 1), f"{results['success_rate'][k]:.3f}", _ci(results["ci_low"][k], results["ci_high"][k])]
        if results["iqm"] is not None:
            row.append(f"{results['iqm'][k]:.3f}")
        row += [" ".join(f"{c[k]:.2f}" for c in results["seed_curves"]), f"{results['bayes_optimal'][k]:.3f}"]
        table.add_row(*row)
    return table


def breakdown_table(results: dict):
    """A rich table of success per episode and distinct rollouts for each (training seed, task) cell."""
    from rich.table import Table

    table = Table(title="per training seed and task (distinct = different action sequences among its trials)")
    for col in ("seed", "task", "trials", "success per episode", "distinct rollouts"):
        table.add_column(col, justify="right")
    distinct = {(c["seed"], c["task"]): c["distinct"] for c in results["distinct_rollouts"]}
    for row in stats.by_seed_and_task(results["raw_successes"], results["raw_tasks"], results["training_seeds"]):
        table.add_row(str(row["seed"]), str(row["task"]), str(row["trials"]),
                      " / ".join(f"{r:.2f}" for r in row["success_rate"]), str(distinct[(row["seed"], row["task"])]))
    return table
