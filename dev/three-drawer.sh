#!/bin/bash
# Development runs on RefExp/ThreeDrawer-v1 (docs/method.md, "ThreeDrawer-v1"): `ours` and `ours-cql5` with
# the TwoDrawer agent stage against two changes of it (30000 steps on 10000 meta-trajectories; AWR
# temperature 1), on the same frames and filters, 5 training seeds, scored on the development secret
# (20 trials per task, eval seed 1001). Resumes. Run from the repository root with
# MINARI_DATASETS_PATH set; dev/three-drawer-pool.sh prints the table.
set -e
unset REFEXP_EVAL_SECRET
source dev/common.sh
S="--envs RefExp/ThreeDrawer-v1 --seeds 0 1 2 3 4 --trials-per-task 0 --backend ray --no-progress --out results/dev-three"
python -m refexp_baselines.sweep --agents ours ours-cql5 $S --set eval_trials=0 belief.steps=4000
python -m refexp_baselines.sweep --agents ours $S --set eval_trials=0 belief.steps=4000 agent.steps=30000 agent.pool_trajectories=10000
python -m refexp_baselines.sweep --agents ours $S --set eval_trials=0 belief.steps=4000 agent.awr_temperature=1.0
ray stop > /dev/null 2>&1 || true
for s in 0 1 2 3 4; do
  for d in runs/three-drawer-v1/default/seed$s/agent-ours-*; do
    case $(basename $d) in agent-ours-aug-*|agent-ours-randlook-*|agent-ours-sac-*) continue;; esac
    dev_score RefExp/ThreeDrawer-v1 20 $s $d runs/dev-evals-three/seed$s-$(basename $d)
  done
done
