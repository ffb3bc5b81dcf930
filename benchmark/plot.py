"""The Figure-2 style plot: success rate vs exploration episode, one line per agent, 95% bands.

    python -m benchmark.plot results/*.json --out fig.png

Runs on different envs go to one panel per env; the Bayes-optimal curve min(1, k/N) is dashed.
Two runs of one agent on one env get legend entries that say how they differ (version, training
seeds, eval seed, trials), and every curve is shifted a little sideways, so none hides another.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from benchmark.text import plot_text
from refexp_envs.helpformat import DefaultsHelpFormatter

import matplotlib

matplotlib.use("Agg")  # headless, and the same bytes on every machine
import matplotlib.pyplot as plt  # noqa: E402

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")  # with the colour, tells curves apart


@dataclass(frozen=True)
class Curve:
    """One line of the plot: what the plot needs of a results file (or a leaderboard row)."""

    label: str
    env_id: str
    success_rate: Sequence[float]
    ci_low: Sequence[float]
    ci_high: Sequence[float]
    bayes_optimal: Sequence[float]
    detail: str = ""  # what tells this run from another of the same label (shown only then)


def score_label(results: dict) -> str:
    """The headline score of a results dict of either schema version, for legends."""
    if results.get("schema_version", 1) >= 2:
        ex = results["exploration_score"]
        return "n/a" if ex is None else f"{ex:.2f}"
    return f"normalised {results['normalised_score']:.2f}, results schema 1"


def curve_from_results(results: dict, label: str | None = None) -> Curve:
    return Curve(
        label=label or f"{results['agent']} ({score_label(results)})",
        env_id=results["env_id"],
        success_rate=results["success_rate"],
        ci_low=results["ci_low"],
        ci_high=results["ci_high"],
        bayes_optimal=results["bayes_optimal"],
        detail=run_detail(results),
    )


def run_detail(results: dict) -> str:
    """The settings that tell two runs of one agent apart, in a few words."""
    seeds = results.get("training_seeds")
    parts = [f"v{str(results['agent_version'])[:8]}" if results.get("agent_version") else "",
             f"seeds {','.join(map(str, seeds))}" if seeds else "",
             f"eval seed {results['eval_seed']}" if "eval_seed" in results else "",
             f"{results['trials_per_task']} trials/task" if "trials_per_task" in results else "",
             f"secret {results['secret_id']}" if results.get("secret_id") else ""]
    return ", ".join(p for p in parts if p)


def legend_labels(curves: Sequence[Curve]) -> list[str]:
    """One label per curve, unique within the list: a repeated label gets its run's detail, and a
    number where even that repeats (the same settings scored twice)."""
    labels = [c.label for c in curves]
    labels = [f"{c.label} [{c.detail}]" if c.detail and labels.count(c.label) > 1 else c.label for c in curves]
    seen: dict[str, int] = {}
    out = []
    for text in labels:
        seen[text] = seen.get(text, 0) + 1
        out.append(text if labels.count(text) == 1 else f"{text} #{seen[text]}")
    return out


def plot_curves(curves: Sequence[Curve], out: str | Path, title: str | None = None) -> Path:
    """Draw `curves` (one panel per env) into the PNG `out`; returns its path."""
    if not curves:
        raise ValueError("nothing to plot: no curves")
    envs = list(dict.fromkeys(c.env_id for c in curves))
    fig, axes = plt.subplots(len(envs), 1, figsize=(8.0, 3.4 * len(envs)), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, env in zip(axes[:, 0], envs):
        mine = [c for c in curves if c.env_id == env]
        k_max = max(len(c.success_rate) for c in mine)
        longest = max(mine, key=lambda c: len(c.bayes_optimal))
        xs = list(range(1, k_max + 1))
        ax.plot(xs, longest.bayes_optimal, "k--", lw=1.5, label="Bayes-optimal", zorder=5)  # on top: visible over an optimal agent
        width = min(0.2, 0.04 * (len(mine) - 1))  # identical curves side by side, not on top of each other
        for i, (c, label) in enumerate(zip(mine, legend_labels(mine))):
            dx = (i / (len(mine) - 1) - 0.5) * width if len(mine) > 1 else 0.0
            x = [e + 1 + dx for e in range(len(c.success_rate))]
            color = cmap(i % 10)
            ax.plot(x, c.success_rate, "-", marker=MARKERS[i % len(MARKERS)], color=color, lw=2, ms=5,
                    label=plot_text(label), zorder=4)
            ax.fill_between(x, c.ci_low, c.ci_high, color=color, alpha=0.2, lw=0)
        ax.set_title(plot_text(env))
        ax.set_xlabel("exploration episode")
        ax.set_xticks(xs)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlim(0.8, k_max + 0.2)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)  # beside, never over, the curves
        ax.set_ylabel("success rate")
    if title:
        fig.suptitle(plot_text(title))
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, metadata={"Software": None})  # no version stamp: reproducible bytes
    plt.close(fig)
    return out


def plot_results(results: Sequence[dict], out: str | Path, title: str | None = None) -> Path:
    """Plot results dicts (as `benchmark.run` writes them)."""
    return plot_curves([curve_from_results(r) for r in results], out, title)


def load_results(paths: Sequence[str | Path]) -> list[dict]:
    """Read results JSON files, with a clear error for a missing or malformed one."""
    out = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise FileNotFoundError(f"no results file at {path}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from exc
        for key in ("agent", "env_id", "success_rate", "ci_low", "ci_high", "bayes_optimal"):
            if not isinstance(data, dict) or key not in data:
                raise ValueError(f"{path} is not a RefExp results file (no {key!r})")
        out.append(data)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.plot", description=__doc__.splitlines()[0],
                                     formatter_class=DefaultsHelpFormatter,
                                     epilog="Exit status: 0 done, 2 usage error (a missing or malformed results file).")
    parser.add_argument("results", nargs="+", help="results JSON files from benchmark.run")
    parser.add_argument("--out", default="results/figure2.png", help="output PNG")
    parser.add_argument("--title", default=None, help="figure title")
    args = parser.parse_args(argv)
    try:
        results = load_results(args.results)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    print(plot_results(results, args.out, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
