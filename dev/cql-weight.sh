#!/bin/bash
# Development evaluation of the CQL(H) weight on RefExp/TwoDrawer-v1, 5 training seeds (docs/method.md,
# "The conservative weight on 5 training seeds"). Trains the agent stage for weights 5 (ours-cql5), 0 (ours)
# and 1, 0.3, 0.1 on the shared frames + filters, then scores every agent run of these seeds on the
# development secret (25 trials per task, eval seed 1001). Resumes: finished stages and evaluations are skipped.
# Run from the repository root with MINARI_DATASETS_PATH set; then dev/cql-weight-pool.sh prints the table.
set -e
unset REFEXP_EVAL_SECRET
for seeds in "0 1 2" "3 4"; do
  python -m refexp_baselines.sweep --agents ours ours-cql5 --envs RefExp/TwoDrawer-v1 --seeds $seeds \
    --set eval_trials=0 --trials-per-task 0 --backend local --no-progress --out results/dev-cql
  python -m refexp_baselines.sweep --agents ours --envs RefExp/TwoDrawer-v1 --seeds $seeds --grid agent.cql_alpha=1,0.3,0.1 \
    --set eval_trials=0 --trials-per-task 0 --backend local --no-progress --out results/dev-cql
  for s in $seeds; do
    for d in runs/two-drawer-v1/default/seed$s/agent-ours-*; do
      [ -f $d/agent.pt ] || continue
      out=runs/dev-evals-cql/default-seed$s-$(basename $d)
      [ -f $out/done ] && continue
      python -m benchmark.run --agent $d/agent.pt --env RefExp/TwoDrawer-v1 --trials-per-task 25 --seeds $s \
        --eval-seed 1001 --eval-secret refexp-dev-v1 --workers 2 --out $out --no-progress 2>&1 | tail -n 3
      touch $out/done
    done
  done
done
