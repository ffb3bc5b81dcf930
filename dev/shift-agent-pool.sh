#!/bin/bash
# The table of dev/shift-agent.sh: its evaluations grouped by candidate (from each run's config.json: frame
# augmentation, CQL weight, dataset) and pooled with benchmark.pool (intervals over the training runs).
declare -A files
for d in runs/dev-evals-shift/*/; do
  run=$(basename $d); ds=${run%%-seed*}; rest=${run#$ds-seed}; seed=${rest%%-*}; agent=${rest#$seed-}
  key=$(python -c "
import json; c = json.load(open('runs/two-drawer-shift-v1/$ds/seed$seed/$agent/config.json'))
print(('ours-randlook' if 'randlook' in str(c['dataset']) else 'ours-aug' if c['frames'].get('augment') else 'ours') + f\", cql_alpha {c['agent']['cql_alpha']}\")")
  files[$key]="${files[$key]} $(ls $d*.json)"
done
first=--header
for key in "ours-aug, cql_alpha 5.0" "ours-aug, cql_alpha 0.0" "ours-randlook, cql_alpha 0.0"; do
  [ -n "${files[$key]}" ] || continue
  python -m benchmark.pool $first --label "$key" ${files[$key]}; first=
done
