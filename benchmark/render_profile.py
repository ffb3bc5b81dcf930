"""Where a 64x64 frame's render time goes, per drawn object, and which objects the camera ever shows.

`python -m benchmark.render_profile --env RefExp/TwoDrawer-v1` prints, for every object the scene
draws (geoms and sites), the render time it adds (frames timed with the first k objects drawn, for
k = 0..n, differenced; medians of `--rounds`), and in how many of `--episodes` x 50 frames of
random-action rollouts it owns at least one pixel (a segmentation render of the same camera). It
then times the frame with the never-seen objects hidden and checks that the timed frames stay
identical. This is the evidence behind the README's "Speed" notes on issue 9: on llvmpipe a drawn
object costs tens of microseconds whatever its triangle count. Nothing here changes an env.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

import refexp_envs  # noqa: F401  (sets MUJOCO_GL, registers ids)
import gymnasium as gym
import mujoco


@dataclasses.dataclass
class ProfileConfig:
    env: str = "RefExp/TwoDrawer-v1"  # registered RefExp id (pixels)
    episodes: int = 40  # random-action rollouts whose frames are checked for what they show
    frames: int = 400  # renders per timing
    rounds: int = 3  # timings per measurement; the median is printed
    seed: int = 0  # reset and action seed


def _time(fn, frames: int, rounds: int) -> float:
    """Median over `rounds` of the mean milliseconds per call over `frames` calls."""
    fn()
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(frames):
            fn()
        out.append((time.perf_counter() - start) / frames * 1e3)
    return float(np.median(out))


def _name(model: mujoco.MjModel, objtype: int, objid: int) -> str:
    kind = "site" if objtype == mujoco.mjtObj.mjOBJ_SITE else "geom"
    name = mujoco.mj_id2name(model, objtype, objid)
    if name is None and kind == "geom":
        name = f"(body {mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, model.geom_bodyid[objid])})"
    return f"{kind} {objid} {name}"


def seen_counts(env: gym.Env, episodes: int, seed: int) -> tuple[dict[tuple[int, int], int], int]:
    """(objtype, objid) -> frames in which it owns a pixel, over `episodes` random-action rollouts."""
    inner = env.unwrapped
    renderer = inner._renderer._renderer
    camera = inner._renderer._camera
    rng = np.random.default_rng(seed)
    counts: dict[tuple[int, int], int] = {}
    frames = 0
    for ep in range(episodes):
        env.reset(seed=seed + ep)
        for _ in range(inner.horizon):
            renderer.enable_segmentation_rendering()
            renderer.update_scene(inner.data, camera=camera)
            seg = renderer.render()
            renderer.disable_segmentation_rendering()
            frames += 1
            for objid, objtype in {tuple(p) for p in seg.reshape(-1, 2).tolist()}:
                counts[(objtype, objid)] = counts.get((objtype, objid), 0) + 1
            env.step(rng.uniform(-1.0, 1.0, 4))
    return counts, frames


def profile(cfg: ProfileConfig) -> None:
    env = gym.make(cfg.env)
    inner = env.unwrapped
    counts, frames = seen_counts(env, cfg.episodes, cfg.seed)
    env.reset(seed=cfg.seed)
    renderer = inner._renderer._renderer
    camera = inner._renderer._camera
    renderer.update_scene(inner.data, camera=camera)
    scene = renderer.scene
    n = scene.ngeom
    keys = [(int(scene.geoms[i].objtype), int(scene.geoms[i].objid)) for i in range(n)]

    def draw() -> None:  # draw and wait for the rasteriser (llvmpipe may defer it to the read-back)
        mujoco.mjr_render(renderer._rect, scene, renderer._mjr_context)
        mujoco.mjr_finish()

    renderer._gl_context.make_current()
    cumulative = []
    for k in range(n + 1):
        scene.ngeom = k
        cumulative.append(_time(draw, cfg.frames, cfg.rounds))
    scene.ngeom = n
    print(f"{cfg.env}: {n} drawn objects; frame with none drawn {cumulative[0]:.3f} ms, with all {cumulative[-1]:.3f} ms")
    print(f"{'object':<52} {'+ms':>7} {'frames seen':>12}")
    for i, key in enumerate(keys):
        print(f"{_name(inner.model, *key):<52} {cumulative[i + 1] - cumulative[i]:>+7.3f} {counts.get(key, 0):>6} of {frames}")

    never = [key for key in keys if counts.get(key, 0) == 0]
    model = inner.model
    render = lambda: inner._renderer.render(inner.data)  # noqa: E731
    before = render()
    full = _time(render, cfg.frames, cfg.rounds)
    geom_group, site_group = model.geom_group.copy(), model.site_group.copy()
    for objtype, objid in never:  # a group the renderer does not draw (scene.HIDDEN_GROUP)
        if objtype == mujoco.mjtObj.mjOBJ_SITE:
            model.site_group[objid] = refexp_envs.scene.HIDDEN_GROUP
        else:
            model.geom_group[objid] = refexp_envs.scene.HIDDEN_GROUP
    hidden = _time(render, cfg.frames, cfg.rounds)
    same = bool(np.array_equal(render(), before))
    model.geom_group[:], model.site_group[:] = geom_group, site_group
    print(f"render (update + draw + read back): {full:.3f} ms; with the {len(never)} never-seen objects "
          f"hidden {hidden:.3f} ms (saves {full - hidden:.3f} ms; this frame identical: {same})")
    env.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.render_profile", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--env", default=ProfileConfig.env, help="registered RefExp id (pixels)")
    parser.add_argument("--episodes", type=int, default=ProfileConfig.episodes,
                        help="random-action rollouts whose frames are checked for what they show")
    parser.add_argument("--frames", type=int, default=ProfileConfig.frames, help="renders per timing")
    parser.add_argument("--rounds", type=int, default=ProfileConfig.rounds, help="timings per measurement (median)")
    parser.add_argument("--seed", type=int, default=ProfileConfig.seed, help="reset and action seed")
    cfg = ProfileConfig(**vars(parser.parse_args(argv)))
    if cfg.episodes < 1 or cfg.frames < 1 or cfg.rounds < 1:
        parser.error("--episodes, --frames and --rounds must be at least 1")
    if cfg.env not in refexp_envs.ENVS:
        parser.error(f"unknown env {cfg.env!r}; expected one of {list(refexp_envs.ENVS)}")
    profile(cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
