#!/bin/bash
# Development choice of the shift-robust agent (docs/method.md, "TwoDrawerShift-v1"): trains the candidates
# (ours-aug with CQL weight 5 and 0, ours-randlook, and after the choice ours-randlook with ThreeDrawer-v1's
# longer agent stage; after the diagnosis of dev/shift-parts.sh, ours-randtex, then with that longer agent stage) for 5 training seeds, none on the shift's own look, and scores each on
# RefExp/TwoDrawerShift-v1 with the development secret (25 trials per task, eval seed 1001).
# Resumes. Run from the repository root with MINARI_DATASETS_PATH set; dev/shift-agent-pool.sh prints the table.
set -e
unset REFEXP_EVAL_SECRET
source dev/common.sh
S="--envs RefExp/TwoDrawerShift-v1 --seeds 0 1 2 3 4 --trials-per-task 0 --backend local --no-progress --out results/dev-shift"
python -m refexp_baselines.sweep --agents ours-aug --grid agent.cql_alpha=5,0 $S --set eval_trials=0
python -m refexp_baselines.sweep --agents ours-randlook $S --set eval_trials=0
python -m refexp_baselines.sweep --agents ours-randlook $S --set eval_trials=0 agent.steps=30000 agent.pool_trajectories=10000
python -m refexp_baselines.sweep --agents ours-randtex $S --set eval_trials=0 agent.steps=10000 agent.pool_trajectories=3000
python -m refexp_baselines.sweep --agents ours-randtex $S --set eval_trials=0  # now its default: configs.LONG_AGENT_STAGE
for s in 0 1 2 3 4; do
  for d in runs/two-drawer-shift-v1/*/seed$s/agent-*; do
    dev_score RefExp/TwoDrawerShift-v1 25 $s $d runs/dev-evals-shift/$(basename $(dirname $(dirname $d)))-seed$s-$(basename $d)
  done
done
