"""The public RefExp leaderboard: `rows` (a row per results file), `board` (every change, under a
lock), `page` and `plots` (the generated site), `check` (CI's consistency check), `signing` and
`verify` (signed re-runs), `cli` (`python -m leaderboard`), `families` (docs/baselines.md's
table of every method family side by side)."""
