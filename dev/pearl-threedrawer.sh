#!/usr/bin/env bash
# PEARL on ThreeDrawer-v1: the configuration chosen on TwoDrawer-v1's development runs (dev/LOG.md entry 35:
# P1, --mix-other 0.5 --actor-loss awr, 10000 steps), no new choice; training seeds 0-4, shipped, scored once
# on the public secret with the ThreeDrawer-v1 rows' protocol (34 trials per task). Reruns resume.
set -eu
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD MUJOCO_GL=${MUJOCO_GL:-egl} OMP_NUM_THREADS=1
ENV=RefExp/ThreeDrawer-v1
for s in 0 1 2 3 4; do
  echo "[$(date -u +%T)] train seed $s"
  python -m refexp_baselines.families.pearl --env $ENV --seed $s --steps 10000 --mix-other 0.5 --actor-loss awr \
    --out runs/families/pearl/threedrawer-v1-seed$s > runs/logs/pearl-threedrawer-seed$s.log 2>&1
done
python - <<'PY'
from refexp_baselines.families import pearl
for s in range(5):
    print("shipped", pearl.ship(f"runs/families/pearl/threedrawer-v1-seed{s}", "RefExp/ThreeDrawer-v1", s))
PY
echo "[$(date -u +%T)] score"
python -m benchmark.run --agent refexp_baselines.families.pearl:PEARLAgent --env $ENV --trials-per-task 34 \
  --seeds 0 1 2 3 4 --eval-seed 0 --workers 1 --batch 8 --episodes 3 --out refexp_baselines/results --no-progress
echo "[$(date -u +%T)] done"
