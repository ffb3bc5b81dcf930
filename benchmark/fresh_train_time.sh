#!/bin/bash
# Time `ours` from a fresh machine to its scored checkpoint on RefExp/TwoDrawer-v1, end to end (issue goal:
# 20 minutes on the 2-core machine, dataset build included): an empty dataset folder and runs folder, then
#   1. build refexp/two-drawer/expert-v1 (deterministic, checked against its pinned SHA-256),
#   2. train ours, seed 0 (frames -> belief -> agent; no periodic or final evaluation, written as a bundle),
#   3. score the bundle through the harness (100 distinct rollouts, public secret, eval seed 0).
# Each step's wall time and the total are printed and written to $OUT/times.txt. Run from the repository
# root, with nothing else running if the times are to be quoted:  bash benchmark/fresh_train_time.sh [OUT]
set -euo pipefail
OUT=${1:-/tmp/refexp-fresh-train}
rm -rf "$OUT" && mkdir -p "$OUT"
export MINARI_DATASETS_PATH="$OUT/datasets" REFEXP_DATA_CACHE="$OUT/runs"
unset REFEXP_EVAL_SECRET
step() {  # step NAME COMMAND...: run it, record its wall time
  local name=$1; shift
  local t0=$EPOCHREALTIME
  "$@" > "$OUT/$name.log" 2>&1 || { echo "$name failed: see $OUT/$name.log"; exit 1; }
  printf '%-8s %7.1f s\n' "$name" "$(awk "BEGIN{print $EPOCHREALTIME - $t0}")" | tee -a "$OUT/times.txt"
}
t_all=$EPOCHREALTIME
step data python -m refexp_envs.datasets build refexp/two-drawer/expert-v1
step train python -m refexp_baselines.train --agent ours --env RefExp/TwoDrawer-v1 --seed 0 --eval-trials 0 \
  --final-trials-per-task 0 --runs-dir "$OUT/runs" --no-progress
AGENT=$(ls "$OUT"/runs/two-drawer-v1/default/seed0/agent-ours-*/agent.pt)
step score python -m benchmark.run --agent "$AGENT" --env RefExp/TwoDrawer-v1 --seeds 0 --trials-per-task 50 \
  --workers 2 --no-progress --out "$OUT/results"
printf '%-8s %7.1f s  (%s, %s, %d cores)\n' total "$(awk "BEGIN{print $EPOCHREALTIME - $t_all}")" "$(date -u +%FT%TZ)" \
  "$(hostname)" "$(nproc)" | tee -a "$OUT/times.txt"
for f in "$OUT"/runs/two-drawer-v1/default/seed0/*/timing.json; do echo "$(basename $(dirname $f)): $(cat $f)"; done \
  | tee "$OUT/stage_timing.txt"
