#!/usr/bin/env bash
# PEARL: train seeds 1-4 of the chosen config (seed 0 is its dev run), ship all five, score once on the public
# secret. Usage: dev/pearl-seeds.sh NAME FLAGS...   (NAME: the dev run whose config was chosen, e.g. P1)
set -eu
export PYTHONPATH=$PWD MUJOCO_GL=egl OMP_NUM_THREADS=1
name=$1; shift
for s in 1 2 3 4; do
  echo "[$(date -u +%T)] train seed $s $*"
  python -m refexp_baselines.families.pearl --env RefExp/TwoDrawer-v1 --seed $s --steps 10000 \
    --out runs/families/pearl/final-seed$s "$@" > runs/logs/pearl-seed$s.log 2>&1
done
python - "$name" <<'PY'
import sys
from refexp_baselines.families import pearl
runs = {0: f"runs/families/pearl/dev-{sys.argv[1]}", **{s: f"runs/families/pearl/final-seed{s}" for s in (1, 2, 3, 4)}}
for s, d in runs.items():
    print("shipped", pearl.ship(d, "RefExp/TwoDrawer-v1", s))
PY
echo "[$(date -u +%T)] score"
python -m benchmark.run --agent refexp_baselines.families.pearl:PEARLAgent --env RefExp/TwoDrawer-v1 --trials-per-task 50 \
  --seeds 0 1 2 3 4 --eval-seed 0 --workers 1 --batch 8 --episodes 3 --out refexp_baselines/results --no-progress
echo "[$(date -u +%T)] done"
