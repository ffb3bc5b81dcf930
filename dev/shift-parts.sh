#!/bin/bash
# Diagnosis (dev LOG 15): which part of TwoDrawerShift-v1's look breaks the shipped ours-randlook runs?
# Scores each of the 5 training seeds' agent stage (fp32) with one part of the shift at a time
# (dev/shift_parts.py), dev secret, 25 trials per task, eval seed 1001. Resumes; prints a table.
set -e
unset REFEXP_EVAL_SECRET
for part in table-only no-table camera-only colour-light; do
  for s in 0 1 2 3 4; do
    out=runs/dev-evals-shift-parts/$part-seed$s
    [ -f $out/done ] && continue
    agent=$(python -c "from refexp_baselines import configs as C, train
print(train.stage_dirs(C.variant('ours-randlook', env_id='RefExp/TwoDrawerShift-v1', seed=$s))['agent'])")
    python dev/shift_parts.py $part --agent $agent/agent.pt --trials-per-task 25 --seeds $s --eval-seed 1001 \
      --eval-secret refexp-dev-v1 --workers 2 --out $out --no-progress 2>&1 | tail -n 1
    touch $out/done
  done
done
first=--header
for part in table-only no-table camera-only colour-light; do
  python -m benchmark.pool $first --label "shift part: $part" runs/dev-evals-shift-parts/$part-seed*/*.json; first=
done
