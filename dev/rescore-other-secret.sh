#!/usr/bin/env bash
# Re-score results files under another evaluation secret (dev/LOG.md entry 47's rule): the file's agent spec,
# env, K, obs type, training seeds and trials per task; a private secret drawn once from the OS into
# ~/.refexp/other-secret (outside every folder the agents' sandbox binds; never committed; its id is in each
# results file); evaluation seed 1. The re-scores go
# to refexp_baselines/results/other-secret/; `python -m leaderboard.families --write docs/baselines.md` compares
# them with the public-secret rows. Not a signed verification (`python -m leaderboard verify` needs the
# maintainers' key). Usage: bash dev/rescore-other-secret.sh refexp_baselines/results/FILE.json ...
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD OMP_NUM_THREADS=1 MUJOCO_GL=${MUJOCO_GL:-egl}
unset REFEXP_EVAL_SECRET
[ $# -ge 1 ] || { echo "usage: $0 RESULTS.json ..." >&2; exit 2; }
mkdir -p refexp_baselines/results/other-secret
secret=${REFEXP_OTHER_SECRET:-$HOME/.refexp/other-secret}
mkdir -p "$(dirname "$secret")"
if [ ! -s "$secret" ]; then
  (umask 077; python -c "import secrets; print(secrets.token_hex(32))" > "$secret")
fi
for f in "$@"; do
  args=$(python - "$f" <<'PY'
import json, shlex, sys
r = json.load(open(sys.argv[1]))
print(" ".join(shlex.quote(str(x)) for x in [
    "--agent", r["agent_spec"], "--env", r["env_id"], "--episodes", r["episodes"], "--obs-type", r["obs_type"],
    "--trials-per-task", r["trials_per_task"], "--seeds", *r["training_seeds"]]))
PY
)
  echo "[$(date -u +%T)] $f"
  eval python -m benchmark.run $args --eval-seed 1 --eval-secret-file "$secret" --workers 1 --batch 8 \
    --out refexp_baselines/results/other-secret --no-progress
done
echo "[$(date -u +%T)] done"
