#!/usr/bin/env bash
# Issue 22, part 4: the shift agents (and the TwoDrawer-v1 one-step agent they build on) scored on the
# sealed shift RefExp/TwoDrawerSealedShift-v2, whose looks (colours, textures, light, camera pose and
# field of view, background, distractors) are drawn per trial from the evaluation secret. No agent was
# developed on this env. Same protocol as the v1 rows: public secret, eval seed 0, training seeds 0-4,
# 50 trials per task, one worker, batch 8. Reruns resume (a results file already there is kept).
# Then: python -m refexp_baselines.report --write README.md docs/results.md docs/method.md
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
OUT=refexp_baselines/results
ENV=RefExp/TwoDrawerSealedShift-v2
S="--env $ENV --trials-per-task 50 --seeds 0 1 2 3 4 --eval-seed 0 --workers 1 --batch 8 --episodes 3 --out $OUT --no-progress"
score() { python -m benchmark.run --agent "$1" $S "${@:2}" || echo "not scored (see above): $*"; }
score ours-onestep-randtex --dataset refexp/two-drawer/expert-randtex-v1
score ours-onestep
score ours-onestep-randlook --dataset refexp/two-drawer/expert-randlook-v1
score ours-onestep-cql5-aug
score ours-onestep-cql5
