"""Baselines from the other families of meta-RL (issue 24), one module each.

* `rl2`: RL^2, a recurrent policy (sb3-contrib's RecurrentPPO) trained online on K-episode trials.
* `dpt`: an in-context causal transformer (DPT-style) trained offline on meta-trajectories.
* `borel`: BOReL-style offline VariBAD, a belief filter on the offline data then offline RL on
  belief-augmented observations, with (`borel`) or without (`borel-no-rr`) reward relabelling.
* `pearl`: PEARL-style posterior sampling, offline: a product-of-Gaussians context encoder and a
  task-conditioned offline actor-critic, z drawn at the start of each episode.
* `offline_lib`: plain offline RL from an outside library (d3rlpy's IQL or CQL) on one frame, every
  task's data pooled, read from the Minari datasets: no task inference (the lower bound).

Each has a typed config (`*Config`), a train command generated from it (`python -m
refexp_baselines.families.<name> --help`), resumable checkpoints and a learning-curve log; see
docs/baselines.md.
"""

from pathlib import Path


def files_version(run_dir, names) -> str:
    """An agent version: SHA-256 (12 hex digits) over the files `names` of `run_dir` that exist (what it loads)."""
    import hashlib

    h = hashlib.sha256()
    for f in names:
        if (Path(run_dir) / f).is_file():
            h.update(f.encode() + b"\0" + (Path(run_dir) / f).read_bytes())
    return h.hexdigest()[:12]
