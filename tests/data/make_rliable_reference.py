"""Reference intervals from rliable itself, for tests/test_benchmark_stats.py.

rliable cannot be installed beside this project's pandas 3 pin, so this script runs in a separate
environment and writes `rliable_reference.json` (committed):

    python -m venv /tmp/rl && /tmp/rl/bin/pip install rliable "pandas<3"
    /tmp/rl/bin/python tests/data/make_rliable_reference.py

Each case is a per-seed score vector (n runs x 1 task, as `benchmark.stats` computes a seed's
task-balanced score); rliable's stratified bootstrap then resamples runs, which is what
`benchmark.stats.bootstrap_curves(..., resample_trials=False)` does.
"""

import json
import platform
from importlib import metadata
from pathlib import Path

import numpy as np
from rliable import library as rly
from rliable import metrics

CASES = {
    "three_seeds": [0.5, 1.0, 1.0],
    "five_seeds": [0.2, 0.4, 0.4, 0.9, 1.0],
    "eight_seeds": [0.0, 0.1, 0.35, 0.5, 0.5, 0.55, 0.8, 1.0],
    "ten_seeds_skewed": [0.0, 0.0, 0.0, 0.05, 0.1, 0.2, 0.9, 0.95, 1.0, 1.0],
}
REPS = 50_000

out = {"rliable": metadata.version("rliable"), "arch": metadata.version("arch"), "numpy": np.__version__,
       "pandas": metadata.version("pandas"), "python": platform.python_version(), "reps": REPS, "cases": {}}
for name, scores in CASES.items():
    x = np.asarray(scores, dtype=np.float64)[:, None]  # (runs, tasks=1)
    agg = lambda s: np.array([metrics.aggregate_mean(s), metrics.aggregate_iqm(s)])  # noqa: E731
    point, ci = rly.get_interval_estimates({"a": x}, agg, reps=REPS, random_state=np.random.RandomState(0))
    out["cases"][name] = {"scores": scores, "mean": float(point["a"][0]), "iqm": float(point["a"][1]),
                          "mean_ci": [float(v) for v in ci["a"][:, 0]], "iqm_ci": [float(v) for v in ci["a"][:, 1]]}
path = Path(__file__).with_name("rliable_reference.json")
path.write_text(json.dumps(out, indent=1) + "\n")
print(path.read_text())
