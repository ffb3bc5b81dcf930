"""Scoring anything on RefExp: `agents` (the Agent protocol, built-ins, SB3 and import-path loaders),
`run` (trials x episodes in parallel -> results JSON; `python -m benchmark.run`), `stats`
(confidence intervals, Bayes-optimal curve, normalised score), `plot` (the Figure-2 style plot;
`python -m benchmark.plot`). Importing this package imports nothing heavy."""
