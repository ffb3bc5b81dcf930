#!/bin/bash
# One development evaluation of the paper's method (`ours`; `ours-sac` before the issue-22 rename: runs made before it sit in agent-ours-sac-* stage folders) on
# RefExp/TwoDrawer-v1 (issue 22, dev/LOG.md 19-): trains training seed SEED with the given agent
# overrides (frames and filter shared by every candidate of that seed), then scores its agent stage
# on the development secret (20 trials per task, eval seed 1001) into runs/dev-evals-paper/LABEL-seedSEED.
# Resumes: a finished stage or evaluation is skipped. Run from the repository root; then
# dev/paper-method-table.sh prints the table.
#   dev/paper-method.sh SEED LABEL [section.field=value ...]
set -e
unset REFEXP_EVAL_SECRET
source dev/common.sh
seed=$1; label=$2; shift 2
mkdir -p runs/paper-method runs/dev-evals-paper
python -m refexp_baselines.train --agent ours --env RefExp/TwoDrawer-v1 --seed "$seed" --eval-trials 0 \
  --no-progress --set "$@" > "runs/paper-method/train-$label-seed$seed.log" 2>&1
dir=$(python -c "
import sys; from refexp_baselines import configs as C; from refexp_baselines.train import parse_overrides, stage_dirs
cfg = parse_overrides(C.variant('ours', env_id='RefExp/TwoDrawer-v1', seed=$seed), sys.argv[1:])
print(stage_dirs(cfg)['agent'])" "$@")
dev_score RefExp/TwoDrawer-v1 20 "$seed" "$dir" "runs/dev-evals-paper/$label-seed$seed"
echo "$label seed $seed: $dir" >> runs/dev-evals-paper/index.txt
