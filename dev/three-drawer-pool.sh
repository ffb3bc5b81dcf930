#!/bin/bash
# The table of dev/three-drawer.sh: evaluations grouped by the agent-stage settings that differ, pooled
# with benchmark.pool (intervals over the training runs).
declare -A files
for d in runs/dev-evals-three/*/; do
  run=$(basename $d); seed=${run%%-*}; agent=${run#$seed-}
  key=$(python -c "
import json; a = json.load(open('runs/three-drawer-v1/default/$seed/$agent/config.json'))['agent']
print(f\"steps {a['steps']}, pool {a['pool_trajectories']}, awr_temperature {a['awr_temperature']}, cql_alpha {a['cql_alpha']}\")")
  files[$key]="${files[$key]} $(ls $d*.json)"
done
first=--header
for key in "${!files[@]}"; do
  python -m benchmark.pool $first --label "$key" ${files[$key]}; first=
done
