#!/usr/bin/env bash
# dev/LOG.md entry 53: `ours`, `no-cql` and `no-expl` on RefExp/Desk-v2 (K = 4 from the registry), training seeds
# 0-4, trained from scratch on the env's default dataset (its 48 train tasks) with ThreeDrawer-v1's stage lengths,
# no periodic evaluation, shipped fp16; then the five seeds of each agent scored once on the public secret (2 trials
# per task: 96 trials on the train desks and 32 on the test desks per seed, eval seed 0). Usage:
#   bash dev/desk-paper.sh train SEED ...   # ours, no-cql, no-expl for each seed (two shells may split the seeds)
#   bash dev/desk-paper.sh score [AGENT ...] # default: ours no-cql no-expl; needs all five bundles of each
# Reruns resume (finished stages and shipped bundles are skipped; the harness resumes its partial file).
set -eu
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD MUJOCO_GL=${MUJOCO_GL:-egl} OMP_NUM_THREADS=1
ENV=RefExp/Desk-v2
SET="belief.steps=4000 agent.steps=30000 agent.pool_trajectories=10000"
RUNS=runs/desk-v2-paper
mkdir -p runs/logs
bundle() { echo "refexp_baselines/checkpoints/desk-v2-$1$([ "$2" = 0 ] || echo "-seed$2").pt"; }
case "${1:-}" in
  train)
    shift
    [ $# -gt 0 ] || { echo "usage: $0 train SEED ..." >&2; exit 2; }
    for s in "$@"; do
      for agent in ours no-cql no-expl; do
        [ -f "$(bundle "$agent" "$s")" ] && continue
        echo "[$(date -u +%T)] $agent seed $s"
        python -m refexp_baselines.train --agent "$agent" --env $ENV --seed "$s" --runs-dir $RUNS --eval-trials 0 \
          --ship --no-progress --set $SET > "runs/logs/desk-paper-$agent-seed$s.log" 2>&1
      done
    done ;;
  score)
    shift
    for agent in ${@:-ours no-cql no-expl}; do
      for s in 0 1 2 3 4; do
        [ -f "$(bundle "$agent" "$s")" ] || { echo "missing $(bundle "$agent" "$s")" >&2; exit 1; }
      done
      echo "[$(date -u +%T)] score $agent"
      python -m benchmark.run --agent "$agent" --env $ENV --trials-per-task 2 --seeds 0 1 2 3 4 --eval-seed 0 \
        --workers 2 --batch 8 --out refexp_baselines/results --no-progress
    done ;;
  *) echo "usage: $0 train SEED ... | score [AGENT ...]" >&2; exit 2 ;;
esac
echo "[$(date -u +%T)] done"
