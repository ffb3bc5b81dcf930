"""Pool results files of separate training runs into one summary with intervals over the runs.

    python -m benchmark.pool --label alpha5 runs/dev/seed0.json runs/dev/seed1.json ...

A checkpoint given to the harness as a path (`--agent <run>/agent.pt`) is scored as one training
run; this pools several such files (one training run each, the same protocol: env, K, evaluation
seed, secret, trials per task) the way the harness summarises its own training seeds: the mean over
runs and a stratified bootstrap over runs, then trials within each (run, task) cell
(`benchmark.stats.summarise`). It prints one markdown row per call, for comparing configurations
(for example on the development secret) with the unit of evidence being the training run.
Exit status: 0 done, 2 files that cannot be pooled.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from benchmark import stats

SAME_KEYS = ("env_id", "num_drawers", "episodes", "eval_seed", "secret_id", "trials_per_task", "obs_type")


def pool(results: Sequence[dict]) -> stats.Summary:
    """Summary over the training runs of `results` (each a results dict of exactly one run)."""
    if len(results) < 2:
        raise ValueError(f"pooling needs at least 2 results files, got {len(results)}")
    first = results[0]
    for r in results:
        if len(r["training_seeds"]) != 1:
            raise ValueError(f"each file must hold one training run; one holds seeds {r['training_seeds']}")
        bad = [k for k in SAME_KEYS if r.get(k) != first.get(k)]
        if bad:
            raise ValueError("not the same protocol: " + ", ".join(f"{k} {first.get(k)!r} vs {r.get(k)!r}" for k in bad))
    raw = [r["raw_successes"][0] for r in results]
    tasks = [r["raw_tasks"][0] for r in results]
    from benchmark.schema import num_choices

    return stats.summarise(raw, tasks, first["num_drawers"], choices=num_choices(first))  # M (Desk-v2: 4 of 64 tasks)


def markdown_row(label: str, summary: stats.Summary, runs: int, trials: int) -> str:
    rates = " / ".join(f"{x:.2f}" for x in summary.success_rate)
    ex = "n/a" if summary.exploration_score is None else (
        f"{summary.exploration_score:.2f} [{summary.exploration_score_ci[0]:.2f}, {summary.exploration_score_ci[1]:.2f}]")
    per_run = "n/a" if summary.seed_exploration_scores is None else " ".join(
        f"{x:.2f}" for x in summary.seed_exploration_scores)
    return f"| {label} | {runs} x {trials} | {rates} | {ex} | {per_run} |"


HEADER = ("| configuration | runs x trials | success per episode (mean over runs) | exploration score [95% CI] "
          "| per run |\n|---|---|---|---|---|")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.pool", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("files", nargs="+", help="results JSON files, one training run each")
    p.add_argument("--label", default="pooled", help="the row's first column")
    p.add_argument("--header", action="store_true", help="print the table header first")
    a = p.parse_args(argv)
    try:
        results = [json.loads(open(f).read()) for f in a.files]
        summary = pool(results)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if a.header:
        print(HEADER)
    print(markdown_row(a.label, summary, len(results), len(results[0]["raw_tasks"][0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
