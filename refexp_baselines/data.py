"""Where the method's episodes come from: the published Minari dataset, or a local fallback.

`open_buffers(env_id, dataset)` returns `TaskBuffers`:
  - `dataset` a Minari id (`refexp/two-drawer/expert-v0`) -> `refexp_envs.datasets.load_task_buffers`
    (checked against the env: the number of tasks and the env spec must match);
  - `dataset` = `local:<episodes_per_task>` -> episodes collected here with the scripted behaviour
    policies (noise 0.2, the expert dataset's recipe) and cached to an `.npz` under `runs/`.

`ArrayTaskBuffers` keeps every episode in a few stacked arrays (pixels uint8 (E, T+1, 64, 64, 3));
`load_episode` returns views, never copies.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import numpy as np

import refexp_envs  # noqa: F401  (MUJOCO_GL before mujoco; registers ids)
from refexp_envs.datasets.episode import Episode

ENV_DATASETS = {env_id: entry.default_dataset for env_id, entry in refexp_envs.ENVS.items()}
ENV_NUM_TASKS = {env_id: entry.num_tasks for env_id, entry in refexp_envs.ENVS.items()}
LOCAL_NOISE = 0.2


class ArrayTaskBuffers:
    """`TaskBuffers` over stacked arrays; `load_episode` returns views (no copy)."""

    def __init__(self, pixels, proprio, actions, rewards, tasks, num_tasks: int, required=None):
        """`required`: the tasks that must have episodes (None: every task; Desk-v2: its train tasks)."""
        self.pixels, self.proprio, self.actions, self.rewards = pixels, proprio, actions, rewards
        self.tasks = np.asarray(tasks, dtype=np.int64)
        self.num_tasks = int(num_tasks)
        self._ids = [np.flatnonzero(self.tasks == i) for i in range(self.num_tasks)]
        if any(len(self._ids[t]) == 0 for t in (range(self.num_tasks) if required is None else required)):
            raise ValueError("every task needs at least one episode")

    def episode_ids(self, task: int) -> np.ndarray:
        return self._ids[task]

    def load_episode(self, episode_id: int) -> Episode:
        i = int(episode_id)
        return Episode(self.pixels[i], self.proprio[i], self.actions[i], self.rewards[i], int(self.tasks[i]))

    def __len__(self) -> int:
        return len(self.tasks)


def _collect_chunk(args):
    env_id, jobs = args
    import gymnasium as gym

    import refexp_envs  # noqa: F401
    from refexp_envs.datasets.collect import collect_episode

    env = gym.make(env_id)
    out = [collect_episode(env, task, LOCAL_NOISE, seed) for task, seed in jobs]
    env.close()
    return out


def collect_local(env_id: str, per_task: int, seed: int = 12345, workers: int = 2) -> ArrayTaskBuffers:
    """`per_task` episodes of each train task (every task of an env without a held-out split)."""
    n, train = ENV_NUM_TASKS[env_id], refexp_envs.ENVS[env_id].tasks_of("train")
    jobs = [(t, seed + 1000 * t + k) for k in range(per_task) for t in train]
    chunks = [jobs[i::max(workers, 1)] for i in range(max(workers, 1))]
    if workers > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            parts = pool.map(_collect_chunk, [(env_id, c) for c in chunks])
    else:
        parts = [_collect_chunk((env_id, chunks[0]))]
    eps = [e for p in parts for e in p]
    return ArrayTaskBuffers(
        np.stack([e.pixels for e in eps]), np.stack([e.proprio for e in eps]),
        np.stack([e.actions for e in eps]), np.stack([e.rewards for e in eps]),
        np.array([e.task for e in eps]), n, required=train,
    )


def local_cache_path(env_id: str, per_task: int, root: str | os.PathLike = "runs") -> Path:
    slug = env_id.split("/")[-1].lower()
    return Path(root) / "data" / f"{slug}-local{per_task}-noise{LOCAL_NOISE}.npz"


def load_local(env_id: str, per_task: int, root="runs", workers: int = 2) -> ArrayTaskBuffers:
    path = local_cache_path(env_id, per_task, root)
    if path.exists():
        z = np.load(path)
        return ArrayTaskBuffers(z["pixels"], z["proprio"], z["actions"], z["rewards"], z["tasks"],
                                int(z["num_tasks"]), required=refexp_envs.ENVS[env_id].tasks_of("train"))
    bufs = collect_local(env_id, per_task, workers=workers)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, pixels=bufs.pixels, proprio=bufs.proprio, actions=bufs.actions, rewards=bufs.rewards,
             tasks=bufs.tasks, num_tasks=bufs.num_tasks)
    os.replace(tmp, path)
    return bufs


def open_buffers(env_id: str, dataset: str | None, root="runs", workers: int = 2):
    """The `TaskBuffers` a run trains on (see module docstring); a mismatch is a clear error."""
    if env_id not in ENV_NUM_TASKS:
        raise ValueError(f"unknown env {env_id!r}; expected one of {sorted(ENV_NUM_TASKS)}")
    dataset = dataset or ENV_DATASETS[env_id]
    if dataset.startswith("local:"):
        bufs = load_local(env_id, int(dataset.split(":", 1)[1]), root=root, workers=workers)
        check_split(env_id, dataset, bufs)
        return bufs
    expected = ENV_DATASETS[env_id]
    if dataset.split("/")[:2] != expected.split("/")[:2]:
        raise ValueError(f"dataset {dataset!r} does not match env {env_id!r} (expected {expected!r} "
                         f"or another version of it, or local:<episodes_per_task>)")
    from refexp_envs.datasets import load_task_buffers

    bufs = load_task_buffers(dataset)
    if bufs.num_tasks != ENV_NUM_TASKS[env_id]:
        raise ValueError(f"dataset {dataset!r} has {bufs.num_tasks} tasks but {env_id} has "
                         f"{ENV_NUM_TASKS[env_id]}")
    check_split(env_id, dataset, bufs)
    return bufs


def check_split(env_id: str, dataset: str, bufs) -> None:
    """Refuse data that hold a held-out task of `env_id` (a test desk of Desk-v2): an agent trained on
    it would be scored on tasks it saw, as an agent scored on another env would."""
    test = refexp_envs.ENVS[env_id].tasks_of("test") if refexp_envs.ENVS[env_id].has_split else ()
    seen = [t for t in test if len(bufs.episode_ids(t))]
    if seen:
        raise ValueError(f"dataset {dataset!r} holds episodes of {env_id}'s held-out test tasks {seen[:8]}"
                         f"{' ...' if len(seen) > 8 else ''}: its agents must never train on them")


def bench_loading(dataset: str, steps: int = 200, seed: int = 0, batch: int = 32, per_episode: int = 8) -> dict:
    """What training's frame stage spends reading data, per step and per episode, read as it is
    (`load_episode`, one episode at a time, a copy) and through `as_arrays` (views of the memory-
    mapped cache), beside the VAE step and the encoding they feed. Milliseconds, medians."""
    import time

    import torch

    from refexp_baselines.frames import FrameVAE
    from refexp_envs.datasets import load_task_buffers

    torch.set_num_threads(1)
    bufs = load_task_buffers(dataset)
    a = bufs.as_arrays()
    views = ArrayTaskBuffers(a["pixels"], a["proprio"], a["actions"], a["rewards"], a["tasks"], bufs.num_tasks)
    ids = np.concatenate([bufs.episode_ids(t) for t in range(bufs.num_tasks)])
    vae = FrameVAE(32, 16)
    opt = torch.optim.Adam(vae.parameters(), 1e-3)

    def frames(source, rng):  # train_frames' sampling: `per_episode` frames from each of batch // per_episode episodes
        out = []
        for e in rng.choice(ids, size=max(1, batch // per_episode)):
            px = source.load_episode(int(e)).pixels
            out.append(px[rng.integers(len(px), size=per_episode)])
        return np.concatenate(out)[:batch]

    def timed(fn, n):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return round(float(np.median(times)), 3)

    rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
    same = all(np.array_equal(frames(bufs, rng_a), frames(views, rng_b)) for _ in range(10))
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(frames(bufs, rng))

    def vae_step():
        loss, _ = vae.loss(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    sample = lambda source: (lambda: frames(source, rng))  # noqa: E731
    episode = lambda source: (lambda: source.load_episode(int(rng.choice(ids))).pixels.sum())  # noqa: E731
    vae.eval()
    with torch.no_grad():
        encode = timed(lambda: vae.encode_pixels(bufs.load_episode(int(rng.choice(ids))).pixels, "cpu"), 50)
    vae.train()
    return {
        "dataset_id": dataset,
        "same_frames": same,
        "frame_batch_load_episode_ms": timed(sample(bufs), steps),
        "frame_batch_as_arrays_ms": timed(sample(views), steps),
        "vae_step_ms": timed(vae_step, max(20, steps // 10)),
        "episode_load_episode_ms": timed(episode(bufs), steps),
        "episode_as_arrays_ms": timed(episode(views), steps),
        "encode_episode_ms": encode,
    }


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import sys
    import time

    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="python -m refexp_baselines.data", formatter_class=fmt,
                                     description="Training data: collect a local dataset, or time its loading.")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="collect (or load) the local:<per_task> dataset of an env", formatter_class=fmt)
    c.add_argument("env_id", choices=sorted(ENV_NUM_TASKS), help="env id")
    c.add_argument("per_task", type=int, help="episodes per task")
    c.add_argument("--workers", type=int, default=2, help="collector processes")
    b = sub.add_parser("bench-loading", help="time the frame stage's data loading both ways (bench_loading)",
                       formatter_class=fmt)
    b.add_argument("dataset", help="a local Minari dataset id")
    b.add_argument("--steps", type=int, default=200, help="timed repetitions")
    b.add_argument("--seed", type=int, default=0, help="sampling seed")
    args = parser.parse_args(argv)
    if args.command == "collect":
        if args.per_task < 1 or args.workers < 1:
            parser.error("per_task and --workers must be >= 1")
        t0 = time.time()
        bufs = load_local(args.env_id, args.per_task, workers=args.workers)
        print(f"{len(bufs)} episodes, success {np.mean([r.any() for r in bufs.rewards]):.3f}, "
              f"mean reward steps {bufs.rewards.sum(1).mean():.1f}, {time.time() - t0:.0f}s")
        return 0
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    from refexp_envs.datasets import DatasetNotFoundError

    try:
        print(json.dumps(bench_loading(args.dataset, args.steps, args.seed), indent=2))
    except DatasetNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
