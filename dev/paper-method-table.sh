#!/bin/bash
# The table of dev/paper-method.sh: one row per development evaluation (label, training seed, success
# per episode, exploration score, agent-stage directory), then labels with >= 2 seeds pooled by benchmark.pool.
python - <<'PY'
import glob, json, os
for d in sorted(glob.glob("runs/dev-evals-paper/*-seed*/")):
    f = [p for p in glob.glob(d + "*.json")]
    if not f:
        continue
    r = json.load(open(f[0]))
    print(f"| {os.path.basename(d.rstrip('/'))} | {' / '.join(f'{x:.2f}' for x in r['success_rate'])} | "
          f"{r['exploration_score']:.2f} | {r['distinct_rollouts']} distinct of {r['trials_per_task'] * r['num_drawers']} |")
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
