"""The online family's learning curve against the offline families' data: one figure from shipped files.

    python -m leaderboard.curves --out docs/img/rl2_curve.png   # the figure docs/baselines.md shows

Reads the learning curves (`curve.csv`: exploration score and success per episode on the development
secret against online env steps) that `refexp_baselines.families.rl2.ship` copies next to each shipped
RL^2 model, `--checkpoints`/families/{rl2-state,rl2}/<env>-seed<S>/, as data. Left panel: the
exploration score of every training seed (thin) and their mean (thick), state and pixel runs apart;
the offline families' data size (the env's default dataset: tasks x episodes x horizon steps, from the
dataset registry) is a vertical line, and the offline agents' public-secret exploration scores from
`--results` (pixel rows of the same env, the families of `leaderboard.families`) are points on it.
Right panel: the state runs' mean success per episode against online env steps, with the
Bayes-optimal levels dashed. The legend (both panels' lines and marks) is under the panels. The caption under the figure in docs says which seeds and how many.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from benchmark import stats
from benchmark.text import plot_text
from leaderboard import rows as R
from leaderboard.families import DEFAULT_CHECKPOINTS, DEFAULT_RESULTS, shown
from refexp_envs import ENVS, HORIZON, default_episodes, num_choices
from refexp_envs.datasets.registry import REGISTRY
from refexp_envs.helpformat import DefaultsHelpFormatter

AGENTS = (("rl2-state", "state"), ("rl2", "pixels"))  # (shipped agent folder, what its runs observed)


def read_runs(checkpoints: str | Path, agent: str, env_id: str) -> dict[int, list[dict]]:
    """Training seed -> the curve rows (floats) of the shipped runs of `agent` on `env_id`, by env steps."""
    out = {}
    slug = env_id.split("/")[-1].lower()
    for d in sorted((Path(checkpoints) / "families" / agent).glob(f"{slug}-seed*")):
        p = d / "curve.csv"
        if not p.is_file():
            continue
        with open(p, newline="") as f:
            rows = [{k: float(v) for k, v in r.items() if _number(v)} for r in csv.DictReader(f)]
        if rows:
            out[int(d.name.rsplit("-seed", 1)[1])] = sorted(rows, key=lambda r: r["env_steps"])
    return out


def _number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def mean_curve(runs: dict[int, list[dict]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(env steps, mean of `key` over the seeds) at the steps every seed has evaluated."""
    common = sorted(set.intersection(*({r["env_steps"] for r in rows} for rows in runs.values())))
    vals = [[next(r[key] for r in rows if r["env_steps"] == s) for s in common] for rows in runs.values()]
    return np.asarray(common), np.mean(vals, axis=0)


def offline_points(results_dir: str | Path, env_id: str) -> list[tuple[str, float]]:
    """(agent, exploration score) of the offline pixel rows on `env_id`, for the marks on the data-size line."""
    out = []
    for p in sorted(Path(results_dir).glob("*.json")):
        r = json.loads(p.read_text())
        if (r.get("env_id") == env_id and r.get("obs_type") == "pixels" and r.get("dataset_id")
                and r.get("exploration_score") is not None and shown(r["agent"])):
            out.append((r["agent"], float(r["exploration_score"])))
    return out


def offline_steps(env_id: str) -> int:
    """Env steps in the env's default offline dataset: what every offline family trained on."""
    spec = REGISTRY[ENVS[env_id].default_dataset]
    return spec.num_tasks * spec.episodes_per_task * HORIZON


def plot(env_id: str, checkpoints: str | Path, results_dir: str | Path, out: str | Path) -> dict:
    """Draw the figure to `out`; returns what it drew: {obs type: seeds} and the offline data size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {obs: read_runs(checkpoints, agent, env_id) for agent, obs in AGENTS}
    if not any(runs.values()):
        raise ValueError(f"no shipped RL^2 learning curve for {env_id} under {Path(checkpoints) / 'families'}")
    k, m = default_episodes(env_id), num_choices(env_id)
    n_off = offline_steps(env_id)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 5.2))
    colours = {"state": "tab:blue", "pixels": "tab:orange"}
    for obs, seeds in runs.items():
        for i, rows in enumerate(seeds.values()):
            ax.plot([r["env_steps"] for r in rows], [r["exploration_score"] for r in rows], color=colours[obs],
                    lw=0.7, alpha=0.45)
        if seeds:
            x, y = mean_curve(seeds, "exploration_score")
            ax.plot(x, y, color=colours[obs], lw=2.2, label=f"RL^2, {obs} ({len(seeds)} seed{'s' * (len(seeds) > 1)}"
                    f"{', mean' if len(seeds) > 1 else ''})")
    ax.axvline(n_off, color="k", ls=":", lw=1.2)
    ax.annotate(f" offline data: {n_off:,} steps", (n_off, 0.03), xycoords=("data", "axes fraction"), fontsize=8,
                rotation=90, va="bottom", ha="right")
    for j, (agent, score) in enumerate(offline_points(results_dir, env_id)):
        ax.plot([n_off], [score], marker="os^Dv*"[j % 6], ls="", color=f"C{(j + 2) % 10}", ms=6,
                label=f"{plot_text(agent)} ({R.method_family(agent)}, offline, public secret)")
    ax.axhline(1.0, color="grey", ls="--", lw=1)
    ax.axhline(0.0, color="grey", ls="-", lw=0.6)
    ax.set_xlabel("online env steps")
    ax.set_ylabel("exploration score (development secret)")
    ax.set_title(f"{env_id}: exploration score (dashed: Bayes-optimal)", fontsize=10)
    state = runs["state"] or runs["pixels"]
    bo = stats.bayes_optimal_curve(k, m)
    for e in range(k):
        x, y = mean_curve(state, f"success_ep{e + 1}")
        bx.plot(x, y, color=f"C{e}", lw=1.8, label=f"episode {e + 1}")
        bx.axhline(bo[e], color=f"C{e}", ls="--", lw=0.9)
    bx.axvline(n_off, color="k", ls=":", lw=1.2)
    bx.set_ylim(-0.03, 1.05)
    bx.set_xlabel("online env steps")
    bx.set_ylabel("success rate (development secret)")
    which = "state" if runs["state"] else "pixels"
    bx.set_title(f"RL^2 {which}: success per episode, mean of {len(state)} seed{'s' * (len(state) > 1)}", fontsize=10)
    bx.legend(fontsize=8, loc="upper left", title="dashed: Bayes-optimal", title_fontsize=7)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7.5, frameon=False)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return {"seeds": {obs: sorted(s) for obs, s in runs.items()}, "offline_steps": n_off,
            "steps": {obs: int(max(r[-1]["env_steps"] for r in s.values())) if s else 0 for obs, s in runs.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m leaderboard.curves", description=__doc__.split("\n\n")[0],
                                formatter_class=DefaultsHelpFormatter,
                                epilog="Exit status: 0 drawn, 2 usage error or nothing to draw.")
    p.add_argument("--env", default="RefExp/TwoDrawer-v1", help="env id whose RL^2 runs to draw")
    p.add_argument("--out", default="docs/img/rl2_curve.png", help="PNG to write")
    p.add_argument("--checkpoints", default=str(DEFAULT_CHECKPOINTS), help="folder of the shipped checkpoints")
    p.add_argument("--results", default=str(DEFAULT_RESULTS), help="folder of results files (offline agents' marks)")
    a = p.parse_args(argv)
    try:
        drew = plot(a.env, a.checkpoints, a.results, a.out)
    except (ValueError, KeyError, OSError) as exc:
        p.error(str(exc))
    print(f"wrote {a.out}: {json.dumps(drew)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
