#!/bin/bash
# The table of dev/paper-method.sh (docs/method.md, "The paper's method on v1"): one row per development
# evaluation: the rule's commit (dev/LOG.md 20, 22, 23, 24), label-seed, the agent-stage settings that differ from
# ours's (formerly ours-sac), success per episode, per task (task 0; task 1), the dev exploration score, distinct rollouts.
python - <<'PY'
import dataclasses, glob, json, os
import numpy as np
from refexp_baselines import configs as C

RULES = {"B": "74d9fc9", "C": "74d9fc9", "D": "fea8b50", "E": "4e7128a", "F": "1f4e3ea"}  # label prefix -> the rule's commit
dirs = dict(line.strip().split(": ") for line in open("runs/dev-evals-paper/index.txt"))
base = dataclasses.asdict(C.variant("ours").agent)
print("| rule (commit) | run | overrides (`--set`) | success per episode | task 0; task 1 | dev exploration score | distinct rollouts |")
print("|---|---|---|---|---|---|---|")
for d in sorted(glob.glob("runs/dev-evals-paper/*-seed*/")):
    f = glob.glob(d + "*.json")
    if not f:
        continue
    run = os.path.basename(d.rstrip("/"))
    label, seed = run.rsplit("-seed", 1)
    r = json.load(open(f[0]))
    agent = json.load(open(os.path.join(dirs[f"{label} seed {seed}"], "config.json")))["agent"]
    over = " ".join(f"agent.{k}={v}" for k, v in agent.items() if base.get(k) != v) or "(none: as shipped)"
    s, t = np.array(r["raw_successes"][0]), np.array(r["raw_tasks"][0])
    per_task = "; ".join("/".join(f"{x:.2f}" for x in s[t == k].mean(0)) for k in range(r["num_drawers"]))
    distinct = sum(c["distinct"] for c in r["distinct_rollouts"])
    print(f"| {RULES[label[0]]} | {run} | `{over}` | {' / '.join(f'{x:.2f}' for x in r['success_rate'])} | {per_task} | "
          f"{r['exploration_score']:.2f} | {distinct} |")
PY
