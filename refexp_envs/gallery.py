"""`python -m refexp_envs.gallery`: a picture of every env's first frame, and of drawer 0 opened.

Top row: the first observation after `reset(seed=0)` (identical for every task). Bottom row: the
same env after 25 steps of the scripted policy for drawer 0. Frames are the agent's own 64x64
pixels, upscaled without smoothing.
"""

from __future__ import annotations

import argparse
import os
import sys

import refexp_envs  # noqa: F401  (sets MUJOCO_GL, registers ids)
import gymnasium as gym
import numpy as np
from PIL import Image, ImageDraw

from refexp_envs.policies import ScriptedDrawerPolicy


def gallery(scale: int = 4, steps: int = 25) -> Image.Image:
    tiles = []
    for env_id in refexp_envs.ENV_IDS:
        env = gym.make(env_id)
        obs, _ = env.reset(seed=0)
        first = obs["pixels"]
        policy = ScriptedDrawerPolicy(0, env.unwrapped.num_tasks)
        for _ in range(steps):
            obs, *_ = env.step(policy(obs))
        tiles.append((env_id, first, obs["pixels"]))
        env.close()
    size = tiles[0][1].shape[0] * scale
    pad, label = 8, 18
    canvas = Image.new("RGB", (len(tiles) * (size + pad) + pad, 2 * (size + pad) + label + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (env_id, first, opened) in enumerate(tiles):
        x = pad + i * (size + pad)
        draw.text((x, 3), env_id, fill="black")
        for j, frame in enumerate((first, opened)):
            img = Image.fromarray(np.asarray(frame)).resize((size, size), Image.NEAREST)
            canvas.paste(img, (x, label + j * (size + pad)))
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m refexp_envs.gallery",
        description="A picture of every env's first frame, and of drawer 0 opened.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", default="docs/img/first_frames.png", help="PNG file to write")
    parser.add_argument("--scale", type=int, default=4, help="upscaling factor of the 64x64 frames (>= 1)")
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error(f"--scale must be >= 1, got {args.scale}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    gallery(args.scale).save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
