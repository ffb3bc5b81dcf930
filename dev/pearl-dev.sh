#!/usr/bin/env bash
# PEARL development runs of dev/LOG.md entry 28 (training seed 0, dev secret, 20 trials per task), in order.
set -u
export PYTHONPATH=$PWD MUJOCO_GL=egl OMP_NUM_THREADS=1
common="--env RefExp/TwoDrawer-v1 --seed 0 --steps 10000 --eval-every 10000 --eval-trials 20"
run() { name=$1; shift; echo "[$(date -u +%T)] start $name $*"; python -m refexp_baselines.families.pearl $common \
  --out runs/families/pearl/dev-$name "$@" > runs/logs/pearl-dev-$name.log 2>&1; echo "[$(date -u +%T)] end $name rc $?"; \
  grep -o '"last_dev_eval": {[^}]*}' -z runs/logs/pearl-dev-$name.log | tr -d '\n\0'; echo; }
for p in "$@"; do
  case $p in
    P0) run P0 ;;
    P1) run P1 --mix-other 0.5 --actor-loss awr ;;
    P2) run P2 --mix-other 0.5 --actor-loss sac ;;
  esac
done
