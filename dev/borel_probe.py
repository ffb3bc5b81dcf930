"""Does a BOReL-style belief read the task from the states? (issue 24, part 2; a measurement, not the library)

    python dev/borel_probe.py RUN [RUN ...] [--per-task 20] [--trajectories 200] [--out probe.json]
    python dev/borel_probe.py RUN --codes held.npz        # held data given as per-episode arrays

For each trained run directory of `refexp_baselines.families.borel` (either variant), on held data
(episodes that no run trained on: by default `--per-task` fresh episodes of each task collected here
with the scripted behaviour policies, the expert datasets' recipe (noise 0.2), under reset seeds from
`--held-seed`, far from every dataset's; encoded by the run's own frozen frame VAE, or the drawers and
handles for a state run), it measures the belief's task accuracy at the end of each episode of recorded
meta-trajectories (K episodes of one task; `borel.task_accuracy`) twice: with the rewards as recorded, and
with every reward zeroed; read out two ways: by the run's reward decoder (the task whose rewarded
observations it predicts rewards at) and by a logistic regression from the belief to the task, fitted on
half of the held episodes (rewards as recorded); accuracies are on the other half. Zeroed, a belief that follows the rewards
stops naming the task of the states (accuracy towards 0), one that reads the task from the states still
names it (accuracy near 1). Prints one JSON object per run (and writes them all to `--out`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HELD_SEED = 9_000_000  # reset seeds of the held episodes: seed + 1000 * task + k


def collect_held(run: Path, per_task: int, seed: int = HELD_SEED) -> dict:
    """Per-episode arrays (the frames stage's layout) of `per_task` fresh behaviour episodes per task."""
    import gymnasium as gym

    from refexp_baselines.data import LOCAL_NOISE
    from refexp_baselines.families import borel
    from refexp_baselines.families.dpt import state_features
    from refexp_envs.datasets.collect import collect_episode

    meta = json.loads((run / "config.json").read_text())
    cfg = borel.BOReLConfig(**meta["config"])
    env = gym.make(cfg.env, obs_type=cfg.obs_type)
    eps = [collect_episode(env, t, LOCAL_NOISE, seed + 1000 * t + k)
           for t in range(meta["num_tasks"]) for k in range(per_task)]
    env.close()
    if cfg.obs_type == "pixels":
        from refexp_baselines.frames import FrameVAE

        vae = FrameVAE(meta["vae_latent"], meta["vae_channels"])
        vae.load_state_dict(torch.load(run / "vae.pt", map_location="cpu", weights_only=True))
        vae.eval()
        lat = np.stack([vae.encode_pixels(e.pixels).numpy() for e in eps])
    else:
        lat = np.stack([np.stack([state_features({k: v[i] for k, v in e.state.items()})
                                  for i in range(len(e.proprio))]) for e in eps])
    return {"latents": lat.astype(np.float32), "proprio": np.stack([e.proprio for e in eps]),
            "actions": np.stack([e.actions for e in eps]), "rewards": np.stack([e.rewards for e in eps]),
            "tasks": np.array([e.task for e in eps]), "num_tasks": int(meta["num_tasks"])}


def split(codes: dict) -> tuple[dict, dict]:
    """(fit, test): alternate episodes of each task (the linear readout is fitted on one half, every
    accuracy is measured on the other)."""
    order = np.concatenate([np.flatnonzero(codes["tasks"] == t) for t in range(int(codes["num_tasks"]))])
    rank = np.empty(len(order), int)
    for t in range(int(codes["num_tasks"])):
        ids = np.flatnonzero(codes["tasks"] == t)
        rank[ids] = np.arange(len(ids))
    halves = []
    for parity in (0, 1):
        keep = rank % 2 == parity
        halves.append({k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in codes.items()})
    return halves[0], halves[1]


def probe(run: str | Path, codes: dict, trajectories: int = 200, seed: int = 0) -> dict:
    """Task accuracy per episode of `run`'s belief on the test half of `codes`, rewards as recorded and
    zeroed, read out by the reward decoder and by a linear readout fitted on the other half."""
    from refexp_baselines.families import borel

    run = Path(run)
    meta = json.loads((run / "config.json").read_text())
    cfg = borel.BOReLConfig(**meta["config"])
    filt = borel.make_filter(cfg, meta["code_dim"])
    filt.load_state_dict(torch.load(run / "belief.pt", map_location="cpu", weights_only=True))
    filt.eval()
    if codes["latents"].shape[-1] != meta["code_dim"]:
        raise ValueError(f"held codes have {codes['latents'].shape[-1]} dims, the run's filter {meta['code_dim']}")
    fit, test = split(codes)
    out = {"run": str(run), "variant": cfg.name, "env": cfg.env, "obs_type": cfg.obs_type, "K": cfg.k,
           "held_episodes": int(len(codes["tasks"])), "test_episodes": int(len(test["tasks"])),
           "trajectories": trajectories}
    for readout in ("decoder", "linear"):
        kw = dict(trajectories=trajectories, seed=seed, readout=readout, fit_codes=fit)
        out[readout] = {"accuracy_recorded": borel.task_accuracy(filt, test, cfg.k, **kw),
                        "accuracy_rewards_zeroed": borel.task_accuracy(filt, test, cfg.k, zero_rewards=True, **kw)}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python dev/borel_probe.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("runs", nargs="+", help="run directories of refexp_baselines.families.borel")
    p.add_argument("--codes", help="held data as an .npz of per-episode arrays (latents, proprio, actions, "
                                   "rewards, tasks, num_tasks) instead of collecting it")
    p.add_argument("--per-task", type=int, default=20, help="held episodes collected per task")
    p.add_argument("--held-seed", type=int, default=HELD_SEED, help="first reset seed of the held episodes")
    p.add_argument("--trajectories", type=int, default=200, help="meta-trajectories per measurement")
    p.add_argument("--seed", type=int, default=0, help="seed of the meta-trajectory draw")
    p.add_argument("--out", help="write the results (a JSON list) here")
    a = p.parse_args(argv)
    if a.per_task < 1 or a.trajectories < 1:
        p.error("--per-task and --trajectories must be >= 1")
    torch.set_num_threads(1)
    out = []
    for run in a.runs:
        if not (Path(run) / "belief.pt").is_file():
            p.error(f"{run}: no finished belief stage (belief.pt)")
        if a.codes:
            z = np.load(a.codes)
            codes = {k: z[k] for k in z.files}
            codes["num_tasks"] = int(codes["num_tasks"])
        else:
            codes = collect_held(Path(run), a.per_task, a.held_seed)
        res = probe(run, codes, a.trajectories, a.seed)
        print(json.dumps(res))
        out.append(res)
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
