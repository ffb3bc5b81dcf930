"""Pixel-step throughput of RefExp v0, v1 and v2 against stock Metaworld, with the physics-only ceilings.

`python -m benchmark.env_speed` times, in one process and one after the other, random-action steps
of `RefExp/TwoDrawer-v0` and `-v1` (64x64 pixels), stock Metaworld `drawer-open-v3` rendering the
same image size, and `RefExp/TwoDrawer-v1` with `obs_type="state"` (no rendering: the ceiling that
a faster renderer could approach). Episode resets are included (v1's reset settles the arm at a
drawn start: 250 physics steps). The stock env renders through Gymnasium's MujocoRenderer with
Metaworld's scene settings (4096 shadow map, 4x multisampling); ours uses the small-image renderer
(`refexp_envs.render`), v1 with decimated visual meshes. One RefExp step simulates 20 physics
steps (action repeat 4 x frame skip 5) against Metaworld's 5, so the ratios understate the
rendering speed-up. `--rounds` repeats the whole comparison and reports each env's median, so a
burst of load from other jobs hits every env alike.

The v2 envs (`RefExp/SixDrawer-v2`, `RefExp/Desk-v2`, ..., pixels and state) are timed in the same rounds: issue 23's goal
is v2 pixel steps/s >= 0.4 x (stretch 0.5) the same env's state steps/s and >= TwoDrawer-v1's pixel
steps/s (`v2_goals` in the output). `--v2-only` leaves out v0 and stock Metaworld.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time

import numpy as np

import refexp_envs  # noqa: F401  (sets MUJOCO_GL, registers ids)
import gymnasium as gym

V2_IDS = tuple(env_id for env_id, entry in refexp_envs.ENVS.items() if entry.version == 2)


@dataclasses.dataclass
class SpeedConfig:
    steps: int = 500  # timed steps per env and round (after a short warm-up); stock gets a fifth
    rounds: int = 3  # the comparison is repeated this many times; medians are reported
    image_size: int = 64  # side of the rendered image
    seed: int = 0  # reset and action-sampling seed
    json_out: str | None = None  # also write the numbers here
    v2_only: bool = False  # time only TwoDrawer-v1 and the v2 envs (the v2 speed goals)


def time_steps(env: gym.Env, steps: int, seed: int) -> float:
    """Random-action steps per second, resetting at episode ends (resets included)."""
    env.action_space.seed(seed)
    env.reset(seed=seed)
    for _ in range(10):  # warm-up: GL context, caches
        env.step(env.action_space.sample())
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if not isinstance(obs, dict):  # the stock env renders on request
            env.render()
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def stock_drawer_env(image_size: int, seed: int) -> gym.Env:
    """Metaworld's own drawer-open-v3, rendering rgb_array frames from its `corner2` camera."""
    import metaworld

    mt1 = metaworld.MT1("drawer-open-v3", seed=seed)
    env = mt1.train_classes["drawer-open-v3"](
        render_mode="rgb_array", width=image_size, height=image_size, camera_name="corner2"
    )
    env.set_task(mt1.train_tasks[0])
    return env


def measure(cfg: SpeedConfig) -> dict:
    makers = {
        "refexp_two_drawer_v0_pixels": lambda: gym.make("RefExp/TwoDrawer-v0", image_size=cfg.image_size),
        "refexp_two_drawer_v1_pixels": lambda: gym.make("RefExp/TwoDrawer-v1", image_size=cfg.image_size),
        "metaworld_drawer_open_v3_pixels": lambda: stock_drawer_env(cfg.image_size, cfg.seed),
        "refexp_two_drawer_v1_state": lambda: gym.make("RefExp/TwoDrawer-v1", obs_type="state"),
    }
    for env_id in V2_IDS:
        key = "refexp_" + env_id.split("/")[1].lower().replace("-", "_")
        makers[f"{key}_pixels"] = lambda env_id=env_id: gym.make(env_id, image_size=cfg.image_size)
        makers[f"{key}_state"] = lambda env_id=env_id: gym.make(env_id, obs_type="state")
    if cfg.v2_only:
        makers = {k: v for k, v in makers.items() if "v0" not in k and not k.startswith("metaworld")}
    per_round: dict[str, list[float]] = {k: [] for k in makers}
    for _ in range(cfg.rounds):
        for name, make in makers.items():
            env = make()
            steps = max(cfg.steps // 5, 50) if name.startswith("metaworld") else cfg.steps
            per_round[name].append(time_steps(env, steps, cfg.seed))
            env.close()
    return {name: float(np.median(v)) for name, v in per_round.items()} | {"per_round": per_round}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmark.env_speed", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=SpeedConfig.steps, help="timed steps per env and round")
    parser.add_argument("--rounds", type=int, default=SpeedConfig.rounds, help="repeats; medians are reported")
    parser.add_argument("--image-size", type=int, default=SpeedConfig.image_size, help="side of the image")
    parser.add_argument("--seed", type=int, default=SpeedConfig.seed, help="reset and action seed")
    parser.add_argument("--json-out", type=str, default=SpeedConfig.json_out, help="also write the numbers here")
    parser.add_argument("--v2-only", action="store_true", help="time only TwoDrawer-v1 and the v2 envs")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        parser.error("--steps and --rounds must be >= 1")
    cfg = SpeedConfig(**vars(args))

    m = measure(cfg)
    v1, state = m["refexp_two_drawer_v1_pixels"], m["refexp_two_drawer_v1_state"]
    result = {
        "steps_per_s": {k: round(v, 1) for k, v in m.items() if k != "per_round"},
        "per_round": {k: [round(x, 1) for x in v] for k, v in m["per_round"].items()},
        "v1_pixels_over_state_ceiling": round(v1 / state, 2),
        "env_ids": {env_id: "refexp_" + env_id.split("/")[1].lower().replace("-", "_") for env_id in V2_IDS},
        "v2_goals": {key[:-len("_pixels")]: {
            "pixels_over_own_state": round(m[key] / m[key.replace("_pixels", "_state")], 2),  # goal >= 0.4 (stretch 0.5)
            "pixels_over_two_drawer_v1_pixels": round(m[key] / v1, 2),  # goal >= 1
        } for key in m if key.endswith("_v2_pixels")},
        **({} if cfg.v2_only else {
            "v1_over_v0": round(v1 / m["refexp_two_drawer_v0_pixels"], 2),
            "v1_over_stock": round(v1 / m["metaworld_drawer_open_v3_pixels"], 1),
            "v0_over_stock": round(m["refexp_two_drawer_v0_pixels"] / m["metaworld_drawer_open_v3_pixels"], 1)}),
        "command": "python -m benchmark.env_speed " + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
        "image_size": cfg.image_size,
        "rounds": cfg.rounds,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip() + f", {os.cpu_count()} cores",
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "MUJOCO_GL": os.environ.get("MUJOCO_GL"),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(result, indent=2))
    if cfg.json_out:
        with open(cfg.json_out, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
