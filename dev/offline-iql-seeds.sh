#!/usr/bin/env bash
# The outside-library agent (d3rlpy IQL) under dev/LOG.md entry 45's rule: OfflineLibConfig's defaults, no search.
#   bash dev/offline-iql-seeds.sh train ENV:SEED ...   train (or resume) and ship each run, one after another
#                                                      (start two copies for two cores)
#   bash dev/offline-iql-seeds.sh score ENV ...        score the shipped seeds 0-4 once on the public secret
# ENV: TwoDrawer-v1 or ThreeDrawer-v1. Example: bash dev/offline-iql-seeds.sh train TwoDrawer-v1:0 TwoDrawer-v1:1
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
mkdir -p runs/logs
usage() { echo "usage: $0 train ENV:SEED ... | score ENV ..." >&2; exit 2; }
tpt() { case "$1" in TwoDrawer-v1) echo 50 ;; ThreeDrawer-v1) echo 34 ;; *) echo "unknown env $1" >&2; exit 2 ;; esac; }
[ $# -ge 2 ] || usage
cmd=$1; shift
for arg in "$@"; do
  case "$cmd" in
    train)
      name=${arg%%:*}; s=${arg##*:}; tpt "$name" > /dev/null
      run=runs/families/offline-iql/$(echo "$name" | tr A-Z a-z)-seed$s
      echo "[$(date -u +%T)] offline-iql $name seed $s: $run"
      python -m refexp_baselines.families.offline_lib --env "RefExp/$name" --seed "$s" --out "$run" \
        >> "runs/logs/offline-iql-$(echo "$name" | tr A-Z a-z)-seed$s.log" 2>&1
      python -c "from refexp_baselines.families import offline_lib as o; print('shipped', o.ship('$run', 'RefExp/$name', $s))" ;;
    score)
      echo "[$(date -u +%T)] score offline-iql $arg"
      python -m benchmark.run --agent refexp_baselines.families.offline_lib:OfflineIQLAgent --env "RefExp/$arg" \
        --trials-per-task "$(tpt "$arg")" --seeds 0 1 2 3 4 --eval-seed 0 --workers 1 --batch 8 \
        --out refexp_baselines/results --no-progress ;;
    *) usage ;;
  esac
done
echo "[$(date -u +%T)] done"
