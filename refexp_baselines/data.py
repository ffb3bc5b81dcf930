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

ENV_DATASETS = {
    "RefExp/TwoDrawer-v0": "refexp/two-drawer/expert-v0",
    "RefExp/ThreeDrawer-v0": "refexp/three-drawer/expert-v0",
    "RefExp/TwoDrawerShift-v0": "refexp/two-drawer/expert-v0",  # trained on the default look
}
ENV_NUM_TASKS = {"RefExp/TwoDrawer-v0": 2, "RefExp/ThreeDrawer-v0": 3, "RefExp/TwoDrawerShift-v0": 2}
LOCAL_NOISE = 0.2


class ArrayTaskBuffers:
    """`TaskBuffers` over stacked arrays; `load_episode` returns views (no copy)."""

    def __init__(self, pixels, proprio, actions, rewards, tasks, num_tasks: int):
        self.pixels, self.proprio, self.actions, self.rewards = pixels, proprio, actions, rewards
        self.tasks = np.asarray(tasks, dtype=np.int64)
        self.num_tasks = int(num_tasks)
        self._ids = [np.flatnonzero(self.tasks == i) for i in range(self.num_tasks)]
        if any(len(ids) == 0 for ids in self._ids):
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
    n = ENV_NUM_TASKS[env_id]
    jobs = [(t, seed + 1000 * t + k) for k in range(per_task) for t in range(n)]
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
        np.array([e.task for e in eps]), n,
    )


def local_cache_path(env_id: str, per_task: int, root: str | os.PathLike = "runs") -> Path:
    slug = env_id.split("/")[-1].lower()
    return Path(root) / "data" / f"{slug}-local{per_task}-noise{LOCAL_NOISE}.npz"


def load_local(env_id: str, per_task: int, root="runs", workers: int = 2) -> ArrayTaskBuffers:
    path = local_cache_path(env_id, per_task, root)
    if path.exists():
        z = np.load(path)
        return ArrayTaskBuffers(z["pixels"], z["proprio"], z["actions"], z["rewards"], z["tasks"],
                                int(z["num_tasks"]))
    bufs = collect_local(env_id, per_task, workers=workers)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, pixels=bufs.pixels, proprio=bufs.proprio, actions=bufs.actions, rewards=bufs.rewards,
             tasks=bufs.tasks, num_tasks=bufs.num_tasks)
    os.replace(tmp, path)
    return bufs


def materialize(buffers) -> ArrayTaskBuffers:
    """Stack any `TaskBuffers` into arrays (reads each episode once)."""
    if isinstance(buffers, ArrayTaskBuffers):
        return buffers
    ids = np.concatenate([np.asarray(buffers.episode_ids(t)) for t in range(buffers.num_tasks)])
    eps = [buffers.load_episode(int(i)) for i in ids]
    return ArrayTaskBuffers(
        np.stack([e.pixels for e in eps]), np.stack([e.proprio for e in eps]).astype(np.float32),
        np.stack([e.actions for e in eps]).astype(np.float32),
        np.stack([e.rewards for e in eps]).astype(np.float32), np.array([e.task for e in eps]),
        buffers.num_tasks,
    )


def open_buffers(env_id: str, dataset: str | None, root="runs", workers: int = 2):
    """The `TaskBuffers` a run trains on (see module docstring); a mismatch is a clear error."""
    if env_id not in ENV_NUM_TASKS:
        raise ValueError(f"unknown env {env_id!r}; expected one of {sorted(ENV_NUM_TASKS)}")
    dataset = dataset or ENV_DATASETS[env_id]
    if dataset.startswith("local:"):
        return load_local(env_id, int(dataset.split(":", 1)[1]), root=root, workers=workers)
    expected = ENV_DATASETS[env_id]
    if dataset.split("/")[:2] != expected.split("/")[:2]:
        raise ValueError(f"dataset {dataset!r} does not match env {env_id!r} (expected {expected!r} "
                         f"or another version of it, or local:<episodes_per_task>)")
    import refexp_envs.datasets as d

    if not hasattr(d, "load_task_buffers"):
        raise RuntimeError(f"refexp_envs.datasets.load_task_buffers is not available; build "
                           f"{dataset!r} or pass --dataset local:300")
    bufs = d.load_task_buffers(dataset)
    if bufs.num_tasks != ENV_NUM_TASKS[env_id]:
        raise ValueError(f"dataset {dataset!r} has {bufs.num_tasks} tasks but {env_id} has "
                         f"{ENV_NUM_TASKS[env_id]}")
    return bufs


if __name__ == "__main__":  # python -m refexp_baselines.data TwoDrawer 500
    import sys
    import time

    t0 = time.time()
    b = load_local(sys.argv[1], int(sys.argv[2]), workers=int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    print(f"{len(b)} episodes, success {np.mean([r.any() for r in b.rewards]):.3f}, "
          f"mean reward steps {b.rewards.sum(1).mean():.1f}, {time.time() - t0:.0f}s")
