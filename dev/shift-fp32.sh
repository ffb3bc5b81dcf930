#!/bin/bash
# fp16 check of ours-randtex: the fp32 agent stages scored on the public secret (same trials as the shipped fp16 run).
export MUJOCO_GL=egl  # run with MINARI_DATASETS_PATH set to where the datasets are
unset REFEXP_EVAL_SECRET
cd "$(dirname "$0")/.."
for s in 0 1 2 3 4; do
  d=$(python -c "from refexp_baselines import configs as C, train
print(train.stage_dirs(C.variant('ours-randtex', env_id='RefExp/TwoDrawerShift-v1', seed=$s, eval_trials=0))['agent'])")
  python -m benchmark.run --agent $d/agent.pt --seeds $s --trials-per-task 50 --workers 2 --no-progress --out results/fp32-randtex/seed$s | tail -1
done
python -m benchmark.pool --header --label "ours-randtex fp32" results/fp32-randtex/seed*/*.json
for s in 0 1 2 3 4; do  # against the shipped fp16 run's per-seed files (dev/shift-release.sh)
  python -m benchmark.compare results/r031-shift-randtex/seeds/ours-randtex_refexp-twodrawershift-v1_s$s.json \
    results/fp32-randtex/seed$s/*.json | grep "trials: outcomes"
done
echo ALL DONE
