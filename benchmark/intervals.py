"""Compare the two interval methods of `benchmark.stats` on results files: the stratified bootstrap
(seeds, then trials) and Student-t over training seeds, with the conditional success beside them.

    python -m benchmark.intervals refexp_baselines/results/pre-issue22/*.json

Prints a markdown table (docs/benchmark.md, "Intervals over training seeds" is made by it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmark import stats


def row(path: Path) -> str:
    d = json.loads(path.read_text())
    from benchmark.schema import num_choices

    raw, tasks, n = d["raw_successes"], d["raw_tasks"], d["num_drawers"]
    t = stats.summarise(raw, tasks, n, choices=num_choices(d))  # M: the Bayes-optimal reference (Desk-v2: 4)
    b = stats.summarise(raw, tasks, n, interval="bootstrap", choices=num_choices(d))
    if t.exploration_score is None:
        return f"| {d['agent']} | {d['env_id']} | {len(d['training_seeds'])} | n/a (K = 1) | | | |"
    seeds = " ".join(f"{x:.2f}" for x in t.seed_exploration_scores)
    cond = "n/a (never failed)" if t.conditional_success is None else (
        f"{t.conditional_success:.2f} [{t.conditional_success_ci[0]:.2f}, {t.conditional_success_ci[1]:.2f}]")
    return (f"| {d['agent']} | {d['env_id'].split('/')[-1]} | {seeds} | {t.exploration_score:.2f} | "
            f"[{b.exploration_score_ci[0]:.2f}, {b.exploration_score_ci[1]:.2f}] | "
            f"[{t.exploration_score_ci[0]:.2f}, {t.exploration_score_ci[1]:.2f}] | {cond} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.intervals", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", help="results files (schema 2 or 3)")
    a = p.parse_args(argv)
    print("| agent (file's name) | env | exploration score per seed | mean | stratified bootstrap | Student-t | "
          "success after a failure (t) |")
    print("|---|---|---|---|---|---|---|")
    for f in a.files:
        try:
            print(row(Path(f)))
        except (OSError, ValueError, KeyError) as exc:
            print(f"{f}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
