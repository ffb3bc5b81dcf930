"""Seed a run's frames and filter stages from a shipped bundle, so that only its agent stage trains.

    python dev/seed_stages.py BUNDLE.pt --agent ours --env RefExp/ThreeDrawer-v1 --seed 0 \
        --runs-dir runs/seeded --set belief.steps=4000

dev/LOG.md entry 39: `ours` on ThreeDrawer-v1 reuses `ours-onestep`'s shipped frame encoder and filter of the
same training seed. The bundle holds the inference parts only (fp16): the encoder and the filter without its
decoders. They are cast to fp32 into fresh modules (the decoders keep their untrained initial weights; no later
stage reads them), the frames stage re-encodes the dataset with that encoder through `train.train_frames`'s
own resume path, and the filter is written as the belief stage's output. Each seeded stage's timing.json
names its source and carries the source stage's training time (the time these weights took to train). Refuses a bundle whose env, seed,
dataset, frames or filter config differs from the run's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

from refexp_baselines import configs as C
from refexp_baselines import train as T
from refexp_baselines.frames import FrameVAE


def load_into(module: torch.nn.Module, weights: dict, dropped: str) -> None:
    """Copy `weights` (fp16 or fp32) into `module`; every key it lacks must start with `dropped`."""
    sd = module.state_dict()
    missing = [k for k in sd if k not in weights and not k.startswith(dropped)]
    extra = [k for k in weights if k not in sd]
    if missing or extra:
        raise ValueError(f"bundle weights do not fit {type(module).__name__}: missing {missing}, unexpected {extra}")
    sd.update({k: v.to(sd[k].dtype) for k, v in weights.items()})
    module.load_state_dict(sd)


def seed_stages(bundle_path: Path, cfg: C.RunConfig, runs_dir: str) -> dict[str, Path]:
    bundle = torch.load(bundle_path, map_location="cpu", weights_only=False)
    have, want = bundle["config"], dataclasses.asdict(cfg)
    for key in ("env_id", "seed", "dataset", "frames", "belief"):
        if have[key] != want[key]:
            raise ValueError(f"{bundle_path}: {key} is {have[key]!r}, the run's is {want[key]!r}")
    dirs = T.stage_dirs(cfg, runs_dir)
    d = C.canonical(want)
    base = {"env_id": cfg.env_id, "dataset": cfg.dataset, "seed": cfg.seed}
    T.check_stage_config(dirs["frames"], {**base, "frames": d["frames"]})
    T.check_stage_config(dirs["belief"], {**base, "frames": d["frames"], "belief": d["belief"]})
    source = {"seeded_from": str(bundle_path), "precision": bundle["meta"].get("precision")}
    # the seeded stages' training time is the source's (recorded beside its bundle), not zero
    src_timing = bundle["meta"].get("stage_timing", {})
    if not T.stage_done("frames", dirs["frames"]):
        torch.manual_seed(cfg.seed)
        vae = FrameVAE(cfg.frames.latent, cfg.frames.channels)
        load_into(vae, bundle["frames"], "dec")
        opt = torch.optim.Adam(vae.parameters(), cfg.frames.lr)
        T.atomic_save({"model": vae.state_dict(), "opt": opt.state_dict(), "step": cfg.frames.steps,
                       "timing": {"train_s": 0.0}, "rng": np.random.default_rng(cfg.seed).bit_generator.state},
                      dirs["frames"] / "state.pt")
        from refexp_baselines.data import open_buffers

        buffers = open_buffers(cfg.env_id, cfg.dataset, root=runs_dir)
        T.train_frames(cfg, buffers, dirs["frames"], torch.device("cpu"), False, cfg.seed)  # encodes, writes codes.npz
        timing = json.loads((dirs["frames"] / "timing.json").read_text())
        T.write_json({**source, "train_s": src_timing.get("frames", {}).get("train_s"), "encode_s": timing["encode_s"]},
                     dirs["frames"] / "timing.json")
    if not T.stage_done("belief", dirs["belief"]):
        torch.manual_seed(cfg.seed + 1)
        filt = T.make_filter(cfg)
        load_into(filt, bundle["belief"], "dec_")
        torch.save(filt.state_dict(), dirs["belief"] / "model.pt")
        T.write_json({**source, "train_s": src_timing.get("belief", {}).get("train_s")}, dirs["belief"] / "timing.json")
    return dirs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="shipped bundle (.pt) whose encoder and filter seed the run")
    p.add_argument("--agent", required=True, help=f"one of {list(C.AGENT_NAMES)}")
    p.add_argument("--env", required=True, help="env id of the run")
    p.add_argument("--seed", type=int, required=True, help="training seed (must be the bundle's)")
    p.add_argument("--runs-dir", required=True, help="root of the seeded run directories (not the trained ones')")
    p.add_argument("--set", nargs="*", default=[], metavar="SECTION.FIELD=VALUE", help="config overrides, as train's")
    args = p.parse_args(argv)
    cfg = T.parse_overrides(C.variant(args.agent, env_id=args.env, seed=args.seed), args.set)
    try:
        dirs = seed_stages(args.bundle, cfg, args.runs_dir)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: str(v) for k, v in dirs.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
