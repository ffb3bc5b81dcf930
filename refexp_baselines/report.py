"""Figure-2 table and plot from the final evaluations of trained runs.

    python -m refexp_baselines.report --runs-dir runs --env RefExp/TwoDrawer-v0 --out docs/method_figure2.png

Collects every `runs/<env>/<dataset>/seed<k>/agent-<name>-*/final_eval_<n>.json`, pools trials over
seeds per agent, prints a markdown table (success per exploration episode with Wilson 95% CIs) and
draws the plot next to the Bayes-optimal curve min(1, k/N).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from refexp_baselines import configs as C
from refexp_baselines.agent import env_slug
from refexp_baselines.train import wilson


def collect(runs_dir: str, env_id: str) -> dict:
    out: dict[str, dict] = {}
    for p in sorted(Path(runs_dir, env_slug(env_id)).glob("*/seed*/agent-*/final_eval_*.json")):
        name = p.parent.name[len("agent-"):].rsplit("-", 1)[0]
        cfg = json.loads((p.parent / "config.json").read_text())
        default = C.variant(name).agent
        ag = cfg.get("agent", {})
        changed = [f"{k}={ag[k]}" for k in ("backup", "actor_loss", "cql_alpha") if k in ag and ag[k] != getattr(default, k)]
        if changed:
            name = f"{name} ({', '.join(changed)})"
        seed = int(p.parent.parent.name[len("seed"):])
        res = json.loads(p.read_text())
        raw = np.array(res["raw"])
        d = out.setdefault(name, {"seeds": [], "raw": []})
        d["seeds"].append(seed)
        d["raw"].append(raw)
    return out


def table(results: dict, num_tasks: int = 2) -> str:
    lines = ["| agent | seeds | trials | " + " | ".join(f"episode {k + 1}" for k in range(3)) + " |",
             "|---|---|---|" + "---|" * 3]
    for name, d in results.items():
        raw = np.concatenate(d["raw"])
        cells = []
        for k in range(raw.shape[1]):
            s, n = int(raw[:, k].sum()), len(raw)
            lo, hi = wilson(s, n)
            cells.append(f"{s / n:.2f} [{lo:.2f}, {hi:.2f}]")
        lines.append(f"| {name} | {','.join(map(str, d['seeds']))} | {len(raw)} | " + " | ".join(cells) + " |")
    bayes = [min(1.0, (k + 1) / num_tasks) for k in range(3)]
    lines.append("| Bayes-optimal | - | - | " + " | ".join(f"{b:.2f}" for b in bayes) + " |")
    return "\n".join(lines)


def plot(results: dict, out: str, num_tasks: int = 2, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for j, (name, d) in enumerate(results.items()):
        raw = np.concatenate(d["raw"])
        n = len(raw)
        x = np.arange(1, raw.shape[1] + 1) + 0.04 * (j - (len(results) - 1) / 2)  # overlapping curves stay visible
        p = raw.mean(0)
        ci = np.array([wilson(int(s), n) for s in raw.sum(0)])
        ax.errorbar(x, p, yerr=[np.clip(p - ci[:, 0], 0, None), np.clip(ci[:, 1] - p, 0, None)], marker="o", capsize=3,
                    label=f"{name} ({len(d['seeds'])} seed{'s' if len(d['seeds']) > 1 else ''}, {n} trials)")
    x = np.arange(1, 4)
    ax.plot(x, [min(1, k / num_tasks) for k in x], "k--", label="Bayes-optimal")
    ax.set_xlabel("exploration episode")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(x)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--env", default="RefExp/TwoDrawer-v0")
    p.add_argument("--out", default="docs/method_figure2.png")
    p.add_argument("--agents", nargs="*", default=["ours", "no-expl", "no-cql"],
                   help="rows to show (labels as in the table; default: the Figure-2 agents)")
    a = p.parse_args(argv)
    res = collect(a.runs_dir, a.env)
    if a.agents:
        res = {k: v for k, v in res.items() if k in a.agents}
    print(table(res))
    plot(res, a.out, title=a.env)
    print(f"plot: {a.out}")


if __name__ == "__main__":
    main()
