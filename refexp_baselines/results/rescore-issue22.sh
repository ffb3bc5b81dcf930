#!/usr/bin/env bash
# Issue 22, part 1: the shipped bundles renamed by issue 22 re-scored by the harness under their new names
# (identical weights; the bundle's name changed, so its version did). Same protocol as the files they
# replace: public secret, eval seed 0, training seeds 0-4, 50 trials per task (34 on ThreeDrawer-v1),
# one worker, batch 8. Usage: bash refexp_baselines/results/rescore-issue22.sh [LIST] (LIST: a or b, the
# two halves run side by side; omitted: both, one after the other). Then, for each new file:
#   python -m leaderboard submit refexp_baselines/results/FILE.json
#   python -m refexp_baselines.report --write README.md docs/method.md && python -m leaderboard check
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
OUT=refexp_baselines/results
S="--seeds 0 1 2 3 4 --eval-seed 0 --workers 1 --batch 8 --episodes 3 --out $OUT --no-progress"
# a results file already there is kept (the harness refuses to overwrite it without --force): reruns resume
score() { python -m benchmark.run --agent "$1" --env "$2" --trials-per-task "$3" $S "${@:4}" || echo "not scored (see above): $*"; }
a() {  # most needed first: the paper's method, the one-step agent on each env, then the rest
  score ours RefExp/TwoDrawer-v1 50
  score ours-onestep RefExp/TwoDrawer-v1 50
  score ours-onestep RefExp/ThreeDrawer-v1 34
  score ours-onestep-no-expl RefExp/ThreeDrawer-v1 34
  score ours-onestep-cql5 RefExp/TwoDrawer-v1 50
  score ours-onestep-cql5 RefExp/ThreeDrawer-v1 34
  score ours-onestep-oracle-task RefExp/TwoDrawer-v1 50
  score ours-onestep-cql5-aug RefExp/TwoDrawerShift-v1 50
}
b() {
  score no-cql RefExp/TwoDrawer-v1 50
  score ours-onestep-no-expl RefExp/TwoDrawer-v1 50
  score ours-onestep RefExp/TwoDrawerShift-v1 50
  score ours-onestep-randtex RefExp/TwoDrawerShift-v1 50 --dataset refexp/two-drawer/expert-randtex-v1
  score ours-onestep-no-reward-belief RefExp/TwoDrawer-v1 50
  score ours-onestep-cql5 RefExp/TwoDrawerShift-v1 50
  score ours-onestep-randlook RefExp/TwoDrawerShift-v1 50 --dataset refexp/two-drawer/expert-randlook-v1
}
case "${1:-all}" in a) a ;; b) b ;; *) a; b ;; esac
