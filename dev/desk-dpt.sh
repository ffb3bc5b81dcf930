#!/usr/bin/env bash
# dev/LOG.md entry 56: `dpt` (entry 42's configuration, the defaults, unchanged) on RefExp/Desk-v2, training seeds
# 0-4, each on the frames stage of the reference method's Desk-v2 run of its seed (runs/desk-v2-paper, LOG 53),
# meta-trajectories within one desk, no periodic evaluation; shipped, then the five seeds scored once on the public
# secret as in entry 53 (eval seed 0, 2 trials per task). Usage:
#   bash dev/desk-dpt.sh train SEED ...   # two shells may split the seeds; reruns resume
#   bash dev/desk-dpt.sh score            # needs all five shipped checkpoints
set -eu
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD MUJOCO_GL=${MUJOCO_GL:-egl} OMP_NUM_THREADS=1
ENV=RefExp/Desk-v2
mkdir -p runs/logs
case "${1:-}" in
  train)
    shift
    [ $# -gt 0 ] || { echo "usage: $0 train SEED ..." >&2; exit 2; }
    for s in "$@"; do
      run=runs/families/dpt/desk-v2-seed$s
      echo "[$(date -u +%T)] dpt seed $s: $run"
      [ -f "$run/done.json" ] || python -m refexp_baselines.families.dpt --env $ENV --seed "$s" --steps 5000 \
        --runs-dir runs/desk-v2-paper --out "$run" > "runs/logs/desk-dpt-seed$s.log" 2>&1
      python -c "from refexp_baselines.families import dpt; print('shipped', dpt.ship('$run', '$ENV', $s))"
    done ;;
  score)
    for s in 0 1 2 3 4; do
      [ -f "refexp_baselines/checkpoints/families/dpt/desk-v2-seed$s/model.pt" ] || { echo "missing seed $s" >&2; exit 1; }
    done
    echo "[$(date -u +%T)] score dpt"
    python -m benchmark.run --agent refexp_baselines.families.dpt:DPTAgent --env $ENV --trials-per-task 2 \
      --seeds 0 1 2 3 4 --eval-seed 0 --workers 2 --batch 8 --out refexp_baselines/results --no-progress ;;
  *) echo "usage: $0 train SEED ... | score" >&2; exit 2 ;;
esac
echo "[$(date -u +%T)] done"
