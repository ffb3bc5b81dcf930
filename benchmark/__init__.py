"""Scoring anything on RefExp: `protocol` (the Agent protocol, trial specification keyed by the
evaluation secret, running trials; numpy only), `agents` (built-ins, SB3 and import-path loaders;
the reference method by entry-point string), `workers` (in-process or spawned, batched, resumable),
`results` and `schema` (the results file), `run` (`python -m benchmark.run`), `stats` (intervals
over training seeds, Bayes-optimal curve, exploration score), `plot` (`python -m benchmark.plot`),
`eval_speed` (`python -m benchmark.eval_speed`). Importing this package imports nothing heavy."""
