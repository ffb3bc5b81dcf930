"""Figure-2 table and plot from the final evaluations of trained runs, with the harness's statistics.

    python -m refexp_baselines.report --runs-dir runs --env RefExp/TwoDrawer-v0 --out docs/method_figure2.png

Collects every `runs/<env>/<dataset>/seed<k>/agent-<name>-*/final_eval_tpt<n>.json` (each a harness
results file of one training seed, written by `train.py`), stacks the training seeds of each agent,
and summarises them with `benchmark.stats` (means over training seeds, stratified-bootstrap 95%
intervals, the exploration score); the plot is `benchmark.plot`'s. K and N come from the files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmark import stats
from benchmark.plot import Curve, plot_curves
from refexp_baselines import configs as C
from refexp_baselines.agent import env_slug


def collect(runs_dir: str, env_id: str) -> dict[str, list[dict]]:
    """Agent label -> the harness results dicts of its training seeds (one final evaluation each)."""
    out: dict[str, list[dict]] = {}
    for p in sorted(Path(runs_dir, env_slug(env_id)).glob("*/seed*/agent-*/final_eval_tpt*.json")):
        name = p.parent.name[len("agent-"):].rsplit("-", 1)[0]
        cfg = json.loads((p.parent / "config.json").read_text()) if (p.parent / "config.json").exists() else {}
        default = C.variant(name).agent
        ag = cfg.get("agent", {})
        changed = [f"{k}={ag[k]}" for k in ("backup", "actor_loss", "cql_alpha") if k in ag and ag[k] != getattr(default, k)]
        if changed:
            name = f"{name} ({', '.join(changed)})"
        out.setdefault(name, []).append(json.loads(p.read_text()))
    return out


def summarise(runs: list[dict]) -> tuple[list[int], stats.Summary, int]:
    """Training seeds, the `benchmark.stats` summary over them, and trials per seed."""
    shapes = {(r["episodes"], r["trials_per_task"], r["num_drawers"], r["eval_seed"], r["secret_id"]) for r in runs}
    if len(shapes) != 1:
        raise ValueError(f"final evaluations differ in (K, trials per task, N, eval seed, secret): {sorted(shapes)}; "
                         "rerun them with one setting")
    seeds = [s for r in runs for s in r["training_seeds"]]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"a training seed appears twice: {seeds}")
    raw = np.concatenate([np.asarray(r["raw_successes"]) for r in runs])
    tasks = np.concatenate([np.asarray(r["raw_tasks"]) for r in runs])
    return seeds, stats.summarise(raw, tasks, runs[0]["num_drawers"]), raw.shape[1]


def table(results: dict[str, list[dict]]) -> str:
    """A markdown table: success per episode [95% CI] over training seeds, exploration score, Bayes-optimal."""
    if not results:
        return "(no final evaluations found)"
    first = next(iter(results.values()))[0]
    k, n = first["episodes"], first["num_drawers"]
    lines = ["| agent | training seeds | trials per seed | " + " | ".join(f"episode {e + 1}" for e in range(k))
             + " | seeds at Bayes-optimal | exploration score |", "|---|---|---|" + "---|" * (k + 2)]
    for name, runs in results.items():
        seeds, s, t = summarise(runs)
        cells = [f"{r:.2f} [{lo:.2f}, {hi:.2f}]" for r, lo, hi in zip(s.success_rate, s.ci_low, s.ci_high)]
        ex = "n/a" if s.exploration_score is None else (
            f"{s.exploration_score:.2f} [{s.exploration_score_ci[0]:.2f}, {s.exploration_score_ci[1]:.2f}]")
        lines.append(f"| {name} | {','.join(map(str, seeds))} | {t} | " + " | ".join(cells)
                     + f" | {s.seeds_at_bayes_optimal} of {len(seeds)} | {ex} |")
    bayes = stats.bayes_optimal_curve(k, n)
    lines.append("| Bayes-optimal | - | - | " + " | ".join(f"{b:.2f}" for b in bayes) + " | | 1 |")
    return "\n".join(lines)


def plot(results: dict[str, list[dict]], out: str, title: str = "") -> Path:
    curves = []
    for name, runs in results.items():
        seeds, s, _ = summarise(runs)
        curves.append(Curve(label=f"{name} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})", env_id=runs[0]["env_id"],
                            success_rate=s.success_rate, ci_low=s.ci_low, ci_high=s.ci_high, bayes_optimal=s.bayes_optimal))
    return plot_curves(curves, out, title or None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m refexp_baselines.report", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs-dir", default="runs", help="root of train.py's run directories")
    p.add_argument("--env", default=C.RunConfig.env_id, help="env id whose runs to report")
    p.add_argument("--out", default="docs/method_figure2.png", help="output PNG")
    p.add_argument("--agents", nargs="*", default=["ours", "no-expl", "no-cql"],
                   help="rows to show (labels as in the table; empty: every agent found)")
    a = p.parse_args(argv)
    import refexp_envs

    if a.env not in refexp_envs.ENV_IDS:
        p.error(f"unknown env {a.env!r}; expected one of {list(refexp_envs.ENV_IDS)}")
    res = collect(a.runs_dir, a.env)
    if a.agents:
        res = {k: v for k, v in res.items() if k in a.agents}
    if not res:
        p.error(f"no final evaluations (final_eval_tpt*.json) under {a.runs_dir}/{env_slug(a.env)} for agents {a.agents}")
    try:
        print(table(res))
    except ValueError as exc:
        p.error(str(exc))
    print(f"plot: {plot(res, a.out, title=a.env)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
