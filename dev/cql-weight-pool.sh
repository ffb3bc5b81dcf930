#!/bin/bash
# The table of dev/cql-weight.sh: its evaluations grouped by each run's cql_alpha and pooled with
# benchmark.pool (intervals over the training runs). One evaluation per (seed, weight): `no-cql` and `ours`
# runs of one seed are the same stage.
declare -A files seen
for d in runs/dev-evals-cql/*/; do
  run=$(basename $d); seed=${run#default-seed}; seed=${seed%%-*}; agent=${run#default-seed$seed-}
  alpha=$(python -c "import json;print(json.load(open('runs/two-drawer-v1/default/seed$seed/$agent/config.json'))['agent']['cql_alpha'])")
  [ -n "${seen[$seed-$alpha]}" ] && continue
  seen[$seed-$alpha]=1
  files[$alpha]="${files[$alpha]} $(ls $d*.json)"
done
first=--header
for alpha in 5.0 1.0 0.3 0.1 0.0; do
  [ -n "${files[$alpha]}" ] || continue
  python -m benchmark.pool $first --label "cql_alpha $alpha" ${files[$alpha]}; first=
done
