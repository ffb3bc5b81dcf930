"""The public RefExp leaderboard: `schema` (what a valid results file is), `board` (submit and render;
`python -m leaderboard submit RESULTS.json`, `python -m leaderboard render`), and the generated
`results.csv`, `README.md`, `index.html`, `plots/` and `submissions/`."""
