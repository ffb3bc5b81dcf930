#!/usr/bin/env bash
# RL^2 under dev/LOG.md entry 43's rule: RL2Config's defaults, no search; TwoDrawer-v1, state (training seeds 0-4,
# 1M env steps each) and pixels (seed 0, 200k env steps); a learning curve on the development secret every 20k
# steps (10 trials per task). Each argument is OBS:SEED; the runs go one after another (start two copies of
# this script for two cores). Reruns resume from the last checkpoint. Usage: bash dev/rl2-runs.sh state:0 pixels:0
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
mkdir -p runs/logs
for arg in "$@"; do
  obs=${arg%%:*}; s=${arg##*:}
  case "$obs" in state) STEPS=1000000 ;; pixels) STEPS=200000 ;; *) echo "usage: $0 state|pixels:SEED ..." >&2; exit 2 ;; esac
  run=runs/families/rl2/twodrawer-v1-$obs-seed$s
  echo "[$(date -u +%T)] rl2 $obs seed $s: $run"
  python -m refexp_baselines.families.rl2 --env RefExp/TwoDrawer-v1 --obs-type "$obs" --steps $STEPS --seed "$s" \
    --out "$run" --no-progress >> "runs/logs/rl2-twodrawer-v1-$obs-seed$s.log" 2>&1
done
echo "[$(date -u +%T)] done"
