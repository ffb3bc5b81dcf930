#!/usr/bin/env bash
# dev/LOG.md entry 39: `ours`, `no-cql` and `no-expl` on RefExp/ThreeDrawer-v1, training seeds 0-4, with the env's
# v1 stage lengths; frames and filter stages seeded from the shipped ThreeDrawer-v1 bundles of the same seed
# (dev/seed_stages.py), the agent stage trained and shipped fp16, the five seeds scored once on the public secret
# (34 trials per task, eval seed 0). Usage: bash dev/three-drawer-paper.sh [AGENT ...] (default: ours no-cql
# no-expl, in that order). Reruns resume (finished stages and shipped bundles are skipped).
set -eu
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD MUJOCO_GL=${MUJOCO_GL:-egl} OMP_NUM_THREADS=1
ENV=RefExp/ThreeDrawer-v1
SET="belief.steps=4000 agent.steps=30000 agent.pool_trajectories=10000"
RUNS=runs/seeded-three-drawer-v1
for agent in ${@:-ours no-cql no-expl}; do
  case "$agent" in
    ours|no-cql) src=ours-onestep ;;
    no-expl) src=ours-onestep-no-expl ;;
    *) echo "usage: $0 [ours|no-cql|no-expl ...]" >&2; exit 2 ;;
  esac
  for s in 0 1 2 3 4; do
    suffix=$([ "$s" = 0 ] && echo "" || echo "-seed$s")
    [ -f "refexp_baselines/checkpoints/three-drawer-v1-$agent$suffix.pt" ] && continue
    echo "[$(date -u +%T)] $agent seed $s"
    python dev/seed_stages.py "refexp_baselines/checkpoints/three-drawer-v1-$src$suffix.pt" --agent "$agent" --env $ENV \
      --seed "$s" --runs-dir $RUNS --set $SET > "runs/logs/three-paper-$agent-seed$s.log" 2>&1
    python -m refexp_baselines.train --agent "$agent" --env $ENV --seed "$s" --runs-dir $RUNS --eval-trials 0 --ship \
      --no-progress --set $SET >> "runs/logs/three-paper-$agent-seed$s.log" 2>&1
  done
  echo "[$(date -u +%T)] score $agent"
  python -m benchmark.run --agent "$agent" --env $ENV --trials-per-task 34 --seeds 0 1 2 3 4 --eval-seed 0 \
    --workers 1 --batch 8 --out refexp_baselines/results --no-progress
done
echo "[$(date -u +%T)] done"
