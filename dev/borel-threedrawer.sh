#!/usr/bin/env bash
# BOReL on ThreeDrawer-v1: the configuration chosen on TwoDrawer-v1 (dev/LOG.md 38: `borel` = --cql-alpha 1;
# `borel-no-rr` = that with --no-relabel), no new choice; training seeds 0-4, shipped, scored once on the public
# secret with the ThreeDrawer-v1 rows' protocol (34 trials per task). Reruns resume.
# Usage: bash dev/borel-threedrawer.sh borel|borel-no-rr train SEED...   (train and ship those seeds)
#        bash dev/borel-threedrawer.sh borel|borel-no-rr score           (score the five shipped seeds)
set -eu
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD MUJOCO_GL=${MUJOCO_GL:-egl} OMP_NUM_THREADS=1
V=$1; WHAT=$2; shift 2
ENV=RefExp/ThreeDrawer-v1
case "$V" in
  borel) FLAGS="--cql-alpha 1"; AGENT=BOReLAgent ;;
  borel-no-rr) FLAGS="--cql-alpha 1 --no-relabel"; AGENT=BOReLNoRRAgent ;;
  *) echo "usage: $0 borel|borel-no-rr train SEED...|score" >&2; exit 2 ;;
esac
if [ "$WHAT" = train ]; then
  for s in "$@"; do
    run=runs/families/$V/threedrawer-v1-seed$s
    echo "[$(date -u +%T)] train $V seed $s"
    python -m refexp_baselines.families.borel --env $ENV --seed "$s" $FLAGS --out $run > runs/logs/$V-three-seed$s.log 2>&1
    python - "$V" "$run" "$s" <<'PY'
import shutil, sys
from refexp_baselines.families import borel
v, run, s = sys.argv[1], borel.Path(sys.argv[2]), int(sys.argv[3])
dst = borel.shipped_dir("RefExp/ThreeDrawer-v1", s, v)
dst.mkdir(parents=True, exist_ok=True)
for f in ("config.json", "vae.pt", "belief.pt", "actor.pt"):
    shutil.copyfile(run / f, dst / f)
print("shipped", dst)
PY
  done
elif [ "$WHAT" = score ]; then
  echo "[$(date -u +%T)] score $V"
  python -m benchmark.run --agent refexp_baselines.families.borel:$AGENT --env $ENV --trials-per-task 34 \
    --seeds 0 1 2 3 4 --eval-seed 0 --workers 1 --batch 8 --episodes 3 --out refexp_baselines/results --no-progress
else
  echo "usage: $0 borel|borel-no-rr train SEED...|score" >&2; exit 2
fi
echo "[$(date -u +%T)] done"
