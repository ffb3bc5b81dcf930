#!/bin/bash
# The table of dev/paper-method.sh: one row per development evaluation (label-seed, success per episode,
# per task, exploration score, distinct rollouts), then labels with >= 2 seeds pooled by benchmark.pool.
python - <<'PY'
import glob, json, os
import numpy as np
for d in sorted(glob.glob("runs/dev-evals-paper/*-seed*/")):
    f = glob.glob(d + "*.json")
    if not f:
        continue
    r = json.load(open(f[0]))
    s, t = np.array(r["raw_successes"][0]), np.array(r["raw_tasks"][0])
    per_task = "; ".join("/".join(f"{x:.2f}" for x in s[t == k].mean(0)) for k in range(r["num_drawers"]))
    distinct = sum(c["distinct"] for c in r["distinct_rollouts"])
    print(f"| {os.path.basename(d.rstrip('/'))} | {' / '.join(f'{x:.2f}' for x in r['success_rate'])} | {per_task} | "
          f"{r['exploration_score']:.2f} | {distinct} |")
PY
declare -A files
for d in runs/dev-evals-paper/*-seed*/; do
  run=$(basename $d); label=${run%-seed*}
  files[$label]="${files[$label]} $(ls $d*.json 2>/dev/null)"
done
first=--header
for label in "${!files[@]}"; do
  [ $(echo ${files[$label]} | wc -w) -ge 2 ] || continue
  python -m benchmark.pool $first --label "$label" ${files[$label]}; first=
done
