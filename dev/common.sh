# Sourced by the dev/*.sh scripts (run from the repository root).

# dev_score ENV TRIALS_PER_TASK SEED AGENT_DIR OUT: score AGENT_DIR/agent.pt (fp32) for training seed SEED on
# ENV's development secret (eval seed 1001) into OUT, once (a finished OUT is skipped on a rerun).
dev_score() {
  local env=$1 tpt=$2 seed=$3 dir=$4 out=$5
  [ -f "$dir/agent.pt" ] && [ ! -f "$out/done" ] || return 0
  python -m benchmark.run --agent "$dir/agent.pt" --env "$env" --trials-per-task "$tpt" --seeds "$seed" \
    --eval-seed 1001 --eval-secret refexp-dev-v1 --workers 2 --out "$out" --no-progress 2>&1 | tail -n 1
  touch "$out/done"
}
