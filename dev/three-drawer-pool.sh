#!/bin/bash
# The table of dev/three-drawer.sh: evaluations grouped by the agent-stage settings that differ, pooled
# with benchmark.pool (intervals over the training runs). One evaluation per (seed, settings): runs of one
# config under two names (the earlier `ours` and `ours-cql5`) are the same weights.
declare -A files seen
for d in runs/dev-evals-three/*/; do
  run=$(basename $d); seed=${run%%-*}; agent=${run#$seed-}
  key=$(python -c "
import json; a = json.load(open('runs/three-drawer-v1/default/$seed/$agent/config.json'))['agent']
print(f\"steps {a['steps']}, pool {a['pool_trajectories']}, awr_temperature {a['awr_temperature']}, cql_alpha {a['cql_alpha']}\")")
  [ -n "${seen[$seed $key]}" ] && continue
  seen[$seed $key]=1
  files[$key]="${files[$key]} $(ls $d*.json)"
done
first=--header
for key in "${!files[@]}"; do
  python -m benchmark.pool $first --label "$key" ${files[$key]}; first=
done
