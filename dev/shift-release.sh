#!/bin/bash
# ours-randtex (the shift agent chosen on the development secret, dev/LOG.md entry 16): ship fp16 and score on the public secret.
export MUJOCO_GL=egl  # run with MINARI_DATASETS_PATH set to where the datasets are
unset REFEXP_EVAL_SECRET
cd "$(dirname "$0")/.."
python -m refexp_baselines.sweep --agents ours-randtex --envs RefExp/TwoDrawerShift-v1 --seeds 0 1 2 3 4 --ship \
  --backend local --no-progress --trials-per-task 50 --set eval_trials=0 --out results/r031-shift-randtex
echo ALL DONE
