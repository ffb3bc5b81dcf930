#!/usr/bin/env bash
# DPT: the configuration chosen by dev/LOG.md entry 40's rule (argument H1, H2 or H3), trained on training seeds
# 0-4 of TwoDrawer-v1 (seed 0: the development run) and of ThreeDrawer-v1 (no new choice), shipped, and scored
# once on the public secret (eval seed 0; 50 trials per task on TwoDrawer-v1, 34 on ThreeDrawer-v1, as the
# other rows there). Reruns resume. Usage: bash dev/dpt-seeds.sh H1|H2|H3 [TwoDrawer-v1] [ThreeDrawer-v1]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
C=$1; shift
case "$C" in
  H1) FLAGS="--steps 5000" ;;
  H2) FLAGS="--steps 5000 --sample" ;;
  H3) FLAGS="--steps 15000" ;;
  *) echo "usage: $0 H1|H2|H3 [ENV ...]" >&2; exit 2 ;;
esac
for name in ${@:-TwoDrawer-v1 ThreeDrawer-v1}; do
  ENV=RefExp/$name; slug=$(echo "$name" | tr A-Z a-z)
  case "$name" in TwoDrawer-v1) TPT=50 ;; ThreeDrawer-v1) TPT=34 ;; *) echo "unknown env $name" >&2; exit 2 ;; esac
  for s in 0 1 2 3 4; do
    run=runs/families/dpt/$slug-seed$s
    [ "$name" = TwoDrawer-v1 ] && [ "$s" = 0 ] && run=runs/families/dpt/dev-$C
    echo "[$(date -u +%T)] $name seed $s: $run"
    [ -f "$run/done.json" ] || python -m refexp_baselines.families.dpt --env "$ENV" --seed "$s" $FLAGS --out "$run" \
      > "runs/logs/dpt-$slug-seed$s.log" 2>&1
    python -c "from refexp_baselines.families import dpt; print('shipped', dpt.ship('$run', '$ENV', $s))"
  done
  echo "[$(date -u +%T)] score $name"
  python -m benchmark.run --agent refexp_baselines.families.dpt:DPTAgent --env "$ENV" --trials-per-task $TPT \
    --seeds 0 1 2 3 4 --eval-seed 0 --workers 1 --batch 8 --out refexp_baselines/results --no-progress
done
echo "[$(date -u +%T)] done"
