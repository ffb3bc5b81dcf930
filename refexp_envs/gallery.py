"""`python -m refexp_envs.gallery`: pictures of the envs' first frames, as the agent sees them.

Writes two PNGs (the agent's own 64x64 frames, upscaled without smoothing):

- `first_frames_v1.png`: the first frame of every v1 env after `reset(seed=s)` for several seeds
  (one row per env): the start-state distribution (arm, gripper, cabinet, light). The task never
  changes a frame.
- `v0_v1.png`: for each env, v0 and v1 side by side: the first frame after `reset(seed=0)` and the
  frame after 25 steps of the scripted policy for drawer 0. v1 renders decimated meshes.
- `first_frames_v2.png`: SixDrawer-v2's first frames for several seeds, then each of its six drawers
  opened by its scripted policy (seed 0, 40 steps; drawers 0-2 the lower row, 3-5 the upper), then
  TwoDrawerSealedShift-v2's first frames (reset seed 0) under the looks of the public secret's first
  trials (eval seed 0: the reported numbers') and of the development secret's (eval seed 1000).
- `desk_v2.png`: RefExp/Desk-v2's 16 compositions (the first frame of each after `reset(seed=0)`;
  12-15 the held-out test desks), then composition 0 with each of its mechanisms worked by its scripted
  policy (30 steps), then those frames rendered at 192x192 (`image_size=192`) to show the parts.
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

PAD, LABEL = 6, 16


def _tile(frame: np.ndarray, scale: int) -> Image.Image:
    size = frame.shape[0] * scale
    return Image.fromarray(np.asarray(frame)).resize((size, size), Image.NEAREST)


def _grid(rows: list[tuple[str, list[np.ndarray]]], col_labels: list[str], scale: int) -> Image.Image:
    """A labelled grid: one (label, frames) row each; a column label above each column."""
    size = rows[0][1][0].shape[0] * scale
    left = 8 * max(len(label) for label, _ in rows) + PAD
    cols = max(len(frames) for _, frames in rows)
    canvas = Image.new("RGB", (left + cols * (size + PAD) + PAD, LABEL + len(rows) * (size + PAD) + PAD), "white")
    draw = ImageDraw.Draw(canvas)
    for j, text in enumerate(col_labels):
        draw.text((left + j * (size + PAD), 2), text, fill="black")
    for i, (label, frames) in enumerate(rows):
        y = LABEL + i * (size + PAD)
        draw.text((PAD, y + size // 2 - 6), label, fill="black")
        for j, frame in enumerate(frames):
            canvas.paste(_tile(frame, scale), (left + j * (size + PAD), y))
    return canvas


def v1_first_frames(seeds: int = 6, scale: int = 3) -> Image.Image:
    rows = []
    for env_id, entry in refexp_envs.ENVS.items():
        if entry.version != 1:
            continue
        env = gym.make(env_id)
        rows.append((env_id, [env.reset(seed=s)[0]["pixels"] for s in range(seeds)]))
        env.close()
    return _grid(rows, [f"seed {s}" for s in range(seeds)], scale)


def _first_and_opened(env_id: str, steps: int) -> list[np.ndarray]:
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0, options={"task": 0})
    first = obs["pixels"]
    policy = ScriptedDrawerPolicy.for_env(env, 0)
    for _ in range(steps):
        obs, *_ = env.step(policy(obs))
    env.close()
    return [first, obs["pixels"]]


def v0_v1(scale: int = 3, steps: int = 25) -> Image.Image:
    rows = []
    for env_id, entry in refexp_envs.ENVS.items():
        if entry.version != 1:
            continue
        old = env_id.replace("-v1", "-v0")
        rows.append((env_id.removesuffix("-v1").removeprefix("RefExp/"),
                     _first_and_opened(old, steps) + _first_and_opened(env_id, steps)))
    labels = ["v0 first frame", f"v0 step {steps}", "v1 first frame", f"v1 step {steps}"]
    return _grid(rows, labels, scale)


def _opened(env_id: str, drawer: int, steps: int = 40) -> np.ndarray:
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0, options={"task": drawer})
    policy = ScriptedDrawerPolicy.for_env(env, drawer)
    for _ in range(steps):
        obs, *_ = env.step(policy(obs))
    env.close()
    return obs["pixels"]


def v2_first_frames(looks_of: list[tuple[str, str, int]], seeds: int = 6, scale: int = 3) -> Image.Image:
    """`looks_of`: (row label, secret, eval seed) for each sealed-shift row."""
    from benchmark.protocol import look_seed  # the harness's derivation (this script only draws pictures)

    six = gym.make("RefExp/SixDrawer-v2")
    rows = [("SixDrawer-v2", [six.reset(seed=s)[0]["pixels"] for s in range(seeds)])]
    six.close()
    rows.append(("SixDrawer-v2 opened", [_opened("RefExp/SixDrawer-v2", d) for d in range(6)]))
    sealed = gym.make("RefExp/TwoDrawerSealedShift-v2")
    for label, secret, eval_seed in looks_of:
        rows.append((label, [sealed.reset(seed=0, options={"task": 0, "look": look_seed(secret, eval_seed, t)})[0]["pixels"]
                             for t in range(seeds)]))
    sealed.close()
    labels = [f"seed / drawer / trial {i}" if i == 0 else str(i) for i in range(max(seeds, 6))]
    return _grid(rows, labels, scale)


def desk_v2(scale: int = 3, steps: int = 30, big: int = 192) -> Image.Image:
    """Desk-v2's compositions and its mechanisms at work (see the module docstring)."""
    from refexp_envs.policies import ScriptedMechanismPolicy

    entry = refexp_envs.ENVS["RefExp/Desk-v2"]
    m = entry.num_choices
    env = gym.make("RefExp/Desk-v2")
    desks = [env.reset(seed=0, options={"task": c * m})[0]["pixels"] for c in range(entry.num_tasks // m)]
    env.close()

    def worked(image_size: int) -> list[np.ndarray]:
        e = gym.make("RefExp/Desk-v2", image_size=image_size)
        frames = []
        for slot in range(m):
            obs, _ = e.reset(seed=0, options={"task": slot})
            policy = ScriptedMechanismPolicy.for_env(e, slot)
            for _ in range(steps):
                obs, *_ = e.step(policy(obs))
            frames.append(obs["pixels"])
        kinds = e.unwrapped.kinds()
        e.close()
        return frames, kinds

    small, kinds = worked(64)
    half = len(desks) // 2
    test = entry.test_compositions
    label = lambda c: f"desk {c}" + (" (test)" if c in test else "")  # noqa: E731
    slots = [f"slot {s}: {k}" for s, k in enumerate(kinds)]
    parts = [_grid([("", desks[:half])], [label(c) for c in range(half)], scale),
             _grid([("", desks[half:])], [label(c) for c in range(half, len(desks))], scale),
             _grid([("", small)], [f"desk 0, {t}" for t in slots], scale),
             _grid([("", worked(big)[0])], [f"desk 0, {t} ({big}x{big})" for t in slots], 1)]
    canvas = Image.new("RGB", (max(p.width for p in parts), sum(p.height for p in parts)), "white")
    y = 0
    for part in parts:
        canvas.paste(part, (0, y))
        y += part.height
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m refexp_envs.gallery", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out-dir", default="docs/img", help="where the PNGs are written")
    parser.add_argument("--only", choices=("all", "desk"), default="all",
                        help="'desk': only desk_v2.png (the others take minutes)")
    parser.add_argument("--scale", type=int, default=3, help="pixels per agent pixel")
    parser.add_argument("--seeds", type=int, default=6, help="reset seeds (columns) of the v1 grid")
    args = parser.parse_args(argv)
    if args.scale < 1 or args.seeds < 1:
        parser.error("--scale and --seeds must be >= 1")
    os.makedirs(args.out_dir, exist_ok=True)
    # The secrets are the harness's (this script only draws pictures; the env library never imports it).
    from benchmark.protocol import DEV_EVAL_SEED, DEV_SECRET, PUBLIC_SECRET

    looks_of = [("SealedShift-v2 public", PUBLIC_SECRET, 0), ("SealedShift-v2 dev", DEV_SECRET, DEV_EVAL_SEED)]
    pictures = {"first_frames_v1.png": lambda: v1_first_frames(args.seeds, args.scale),
                "v0_v1.png": lambda: v0_v1(args.scale),
                "first_frames_v2.png": lambda: v2_first_frames(looks_of, args.seeds, args.scale),
                "desk_v2.png": lambda: desk_v2(args.scale)}
    for name, draw in pictures.items():
        if args.only == "desk" and name != "desk_v2.png":
            continue
        image = draw()
        path = os.path.join(args.out_dir, name)
        image.save(path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
