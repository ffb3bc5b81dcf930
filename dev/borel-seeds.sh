#!/usr/bin/env bash
# BOReL: the configuration chosen by dev/LOG.md entry 38 (G2: --cql-alpha 1) trained on seeds 1-4 (seed 0 is
# G2's development run), the five shipped, scored once on the public secret. Usage: bash dev/borel-seeds.sh
# [borel|borel-no-rr] (borel-no-rr: the same with --no-relabel, all five seeds trained here). Reruns resume.
set -eu
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD MUJOCO_GL=${MUJOCO_GL:-egl} OMP_NUM_THREADS=1
V=${1:-borel}
ENV=RefExp/TwoDrawer-v1
case "$V" in
  borel) FLAGS="--cql-alpha 1"; SEEDS="1 2 3 4"; RUN0=runs/families/borel/dev-G2; AGENT=BOReLAgent ;;
  borel-no-rr) FLAGS="--cql-alpha 1 --no-relabel"; SEEDS="0 1 2 3 4"; RUN0=runs/families/borel-no-rr/final-seed0; AGENT=BOReLNoRRAgent ;;
  *) echo "usage: $0 [borel|borel-no-rr]" >&2; exit 2 ;;
esac
for s in $SEEDS; do
  echo "[$(date -u +%T)] train $V seed $s"
  python -m refexp_baselines.families.borel --env $ENV --seed $s $FLAGS --out runs/families/$V/final-seed$s \
    > runs/logs/$V-seed$s.log 2>&1
done
python - "$V" "$RUN0" <<'PY'
import shutil, sys
from refexp_baselines.families import borel
v, run0 = sys.argv[1], sys.argv[2]
for s in range(5):
    src = borel.Path(run0 if s == 0 else f"runs/families/{v}/final-seed{s}")
    dst = borel.shipped_dir("RefExp/TwoDrawer-v1", s, v)
    dst.mkdir(parents=True, exist_ok=True)
    for f in ("config.json", "vae.pt", "belief.pt", "actor.pt"):
        shutil.copyfile(src / f, dst / f)
    print("shipped", dst)
PY
echo "[$(date -u +%T)] score"
python -m benchmark.run --agent refexp_baselines.families.borel:$AGENT --env $ENV --trials-per-task 50 \
  --seeds 0 1 2 3 4 --eval-seed 0 --workers 1 --batch 8 --episodes 3 --out refexp_baselines/results --no-progress
echo "[$(date -u +%T)] done"
