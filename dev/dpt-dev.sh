#!/usr/bin/env bash
# The DPT family's development evaluations H1-H3 under dev/LOG.md entry 40 (its rule, committed before them):
# TwoDrawer-v1, training seed 0, development secret, eval seed 1000, 20 trials per task, one evaluation at the
# end of training. H2 scores H1's weights acting by a draw (a copy of H1's run with `sample` set; not retrained).
# Reruns resume. Usage: bash dev/dpt-dev.sh [H1 H2 H3]; prints each run's development exploration score.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
R=runs/families/dpt
run() {  # name, steps, flags...
  python -m refexp_baselines.families.dpt --env RefExp/TwoDrawer-v1 --seed 0 --steps "$2" --eval-every "$2" \
      --eval-trials 20 --out "$R/dev-$1" "${@:3}"
}
for h in ${@:-H1 H2 H3}; do
  case "$h" in
    H1) run H1 5000 ;;
    H3) run H3 15000 ;;
    H2) [ -f $R/dev-H1/done.json ] || run H1 5000
        python - <<'PY'
import json, shutil
from pathlib import Path
from refexp_baselines.families import dpt
src, dst = Path("runs/families/dpt/dev-H1"), Path("runs/families/dpt/dev-H2")
out = dst / "dev_eval.json"
if not out.exists():
    dst.mkdir(parents=True, exist_ok=True)
    for f in ("model.pt", "vae.pt", "done.json"):
        shutil.copyfile(src / f, dst / f)
    meta = json.loads((src / "config.json").read_text())
    meta["config"].update(sample=True, out=str(dst))
    (dst / "config.json").write_text(json.dumps(meta, indent=2))
    cfg = dpt.DPTConfig(**meta["config"])
    res = dpt.evaluate_run(dst, cfg, 20)
    out.write_text(json.dumps(res))
res = json.loads(out.read_text())
print("H2 success", [round(s, 3) for s in res["success_rate"]], "exploration", round(res["exploration_score"], 3))
PY
        ;;
    *) echo "unknown run $h" >&2; exit 2 ;;
  esac
done
for h in H1 H3; do
  [ -f $R/dev-$h/log.csv ] && echo "$h $(tail -n 1 $R/dev-$h/log.csv)"
done
