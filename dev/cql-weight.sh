#!/bin/bash
# Development evaluation of the CQL(H) weight on RefExp/TwoDrawer-v1, 5 training seeds (docs/method.md,
# "The conservative weight on 5 training seeds"). Trains the agent stage for weights 5 (ours-cql5), 0 (ours)
# and 1, 0.3, 0.1 on the shared frames + filters, then scores every agent run of these seeds on the
# development secret (25 trials per task, eval seed 1001). Resumes: finished stages and evaluations are skipped.
# Run from the repository root with MINARI_DATASETS_PATH set; then dev/cql-weight-pool.sh prints the table.
set -e
unset REFEXP_EVAL_SECRET
source dev/common.sh
for seeds in "0 1 2" "3 4"; do
  python -m refexp_baselines.sweep --agents ours ours-cql5 --envs RefExp/TwoDrawer-v1 --seeds $seeds \
    --set eval_trials=0 --trials-per-task 0 --backend local --no-progress --out results/dev-cql
  python -m refexp_baselines.sweep --agents ours --envs RefExp/TwoDrawer-v1 --seeds $seeds --grid agent.cql_alpha=1,0.3,0.1 \
    --set eval_trials=0 --trials-per-task 0 --backend local --no-progress --out results/dev-cql
  for s in $seeds; do
    for d in runs/two-drawer-v1/default/seed$s/agent-ours-*; do
      dev_score RefExp/TwoDrawer-v1 25 $s $d runs/dev-evals-cql/default-seed$s-$(basename $d)
    done
  done
done
