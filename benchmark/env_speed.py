"""Pixel-step throughput of RefExp/TwoDrawer-v0 against stock Metaworld `drawer-open-v3`.

`python -m benchmark.env_speed` times, in one process, random-action pixel steps of both envs at
the same image size and prints the ratio. The stock env renders through Gymnasium's MujocoRenderer
with Metaworld's scene settings (4096 shadow map, 4x multisampling); ours uses the small-image
renderer (`refexp_envs.render`). Note that one RefExp step simulates 20 physics steps (action repeat
4 x frame skip 5) against Metaworld's 5, so the ratio understates the rendering speed-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time

import numpy as np

import refexp_envs  # noqa: F401  (sets MUJOCO_GL, registers ids)
import gymnasium as gym


@dataclasses.dataclass
class SpeedConfig:
    steps: int = 500  # timed steps per env (after a short warm-up)
    image_size: int = 64
    seed: int = 0
    json_out: str | None = None  # also write the numbers here


def _time_steps(env: gym.Env, steps: int, seed: int) -> float:
    """Random-action pixel steps per second, resetting at episode ends (resets included)."""
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=SpeedConfig.steps)
    parser.add_argument("--image-size", type=int, default=SpeedConfig.image_size)
    parser.add_argument("--seed", type=int, default=SpeedConfig.seed)
    parser.add_argument("--json-out", type=str, default=SpeedConfig.json_out)
    cfg = SpeedConfig(**vars(parser.parse_args(argv)))

    ours = gym.make("RefExp/TwoDrawer-v0", image_size=cfg.image_size)
    ours_sps = _time_steps(ours, cfg.steps, cfg.seed)
    ours.close()
    stock = stock_drawer_env(cfg.image_size, cfg.seed)
    stock_sps = _time_steps(stock, max(cfg.steps // 5, 50), cfg.seed)
    stock.close()

    result = {
        "refexp_two_drawer_pixel_steps_per_s": round(ours_sps, 1),
        "metaworld_drawer_open_v3_pixel_steps_per_s": round(stock_sps, 1),
        "ratio": round(ours_sps / stock_sps, 1),
        "image_size": cfg.image_size,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(result, indent=2))
    if cfg.json_out:
        with open(cfg.json_out, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
