#!/bin/bash
# The table of dev/shift-agent.sh: its evaluations grouped by candidate (from each run's config.json: frame
# augmentation, CQL weight, dataset) and pooled with benchmark.pool (intervals over the training runs).
declare -A files seen  # one evaluation per (seed, candidate): `ours` on the random-look data is `ours-randlook`
for d in runs/dev-evals-shift/*/; do
  run=$(basename $d); ds=${run%%-seed*}; rest=${run#$ds-seed}; seed=${rest%%-*}; agent=${rest#$seed-}
  key=$(python -c "
import json; c = json.load(open('runs/two-drawer-shift-v1/$ds/seed$seed/$agent/config.json'))
a = c['agent']; steps = f', steps {a[\"steps\"]}, pool {a[\"pool_trajectories\"]}' if a['steps'] != 10000 else ''
print(('ours-randlook' if 'randlook' in str(c['dataset']) else 'ours-randtex' if 'randtex' in str(c['dataset']) else 'ours-aug' if c['frames'].get('augment') else 'ours') + f\", cql_alpha {a['cql_alpha']}\" + steps)")
  [ -n "${seen[$seed $key]}" ] && continue
  seen[$seed $key]=1
  files[$key]="${files[$key]} $(ls $d*.json)"
done
first=--header
for key in "ours-aug, cql_alpha 5.0" "ours-aug, cql_alpha 0.0" "ours-randlook, cql_alpha 0.0" \
    "ours-randlook, cql_alpha 0.0, steps 30000, pool 10000" "ours-randtex, cql_alpha 0.0" \
    "ours-randtex, cql_alpha 0.0, steps 30000, pool 10000"; do
  [ -n "${files[$key]}" ] || continue
  python -m benchmark.pool $first --label "$key" ${files[$key]}; first=
done
