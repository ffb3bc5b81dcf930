#!/usr/bin/env bash
# The BOReL family's development evaluations G1-G3 under dev/LOG.md entry 28 (its rule, committed before
# them): training seed 0, development secret, 20 trials per task, one evaluation at the end of the RL stage.
# Reruns resume (each run directory is resumable). Usage: bash dev/borel-dev.sh [G1 G2 G3]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
run() {  # name, flags...
  python -m refexp_baselines.families.borel --env RefExp/TwoDrawer-v1 --seed 0 --eval-every 10000 \
      --eval-trials 20 --out "runs/families/borel/dev-$1" "${@:2}"
}
for g in "${@:-G1 G2 G3}"; do
  for one in $g; do
    case "$one" in
      G1) run G1 ;;
      G2) run G2 --cql-alpha 1 ;;
      G3) run G3 --no-relabel ;;
      *) echo "unknown run $one" >&2; exit 2 ;;
    esac
  done
done
