"""Synthetic exploration M^K (paper section 3.5) and the naive sampler of the "No Expl" ablation.

A K-extended rollout draws K task indices i_1..i_K with replacement, one trajectory from each
buffer B_{i_j}, and a target task i* uniformly (all among the M tasks of one desk on Desk-v2); the rewards of every trajectory with i_j != i* are
zeroed, and the K trajectories are concatenated. The naive sampler draws one task i and takes all K
trajectories from B_i with their own rewards (so the target is i).

The samplers return `MetaTrajectory` records: episode ids plus a reward mask, no data.
`gather_batch` turns a batch of them into the filter's inputs from per-episode arrays indexed by
episode id (the frame codes of training's first stage, never the pixels).

Time layout used by the filter and the agent (what an agent sees at test time): episode j
contributes T steps t = 0..T-1 with inputs (o_t, a_{t-1}, r_{t-1}, episode_start = t == 0), where
a_{-1} = 0 and r_{-1} = 0; the action taken is a_t and the (masked) reward r_t. The last frame o_T
of each episode is never acted on (episodes end by truncation), as in the harness.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MetaTrajectory:
    episode_ids: np.ndarray  # (K,) dataset episode ids
    tasks: np.ndarray  # (K,) buffer index of each trajectory (i_1..i_K)
    target: int  # i*
    reward_mask: np.ndarray  # (K,) float32, 1 where i_j == i* (always 1 for the naive sampler)


class MetaTrajectorySampler:
    """Samples M^K (naive=False) or the naive same-buffer rollouts (naive=True).

    `choices` (M) groups the tasks: tasks g*M .. g*M + M-1 are the M options of one group (a Desk-v2
    desk: its mechanisms), and a synthetic meta-trajectory draws its K buffers and its target within
    one group, drawn uniformly among the groups whose buffers all hold episodes (the train desks):
    relabelling across desks would pair one desk's frames with another's rewards. None, or M equal to
    the task count (the drawer envs), is one group; the draws are then exactly those without groups.
    The naive sampler draws its one task uniformly among the tasks with episodes."""

    def __init__(self, buffers, k: int, naive: bool = False, seed: int | np.random.Generator = 0,
                 choices: int | None = None):
        if k < 1:
            raise ValueError(f"K must be >= 1, got {k}")
        self.buffers, self.k, self.naive = buffers, int(k), bool(naive)
        self.num_tasks = int(buffers.num_tasks)
        self.choices = self.num_tasks if choices is None else int(choices)
        if self.choices < 1 or self.num_tasks % self.choices:
            raise ValueError(f"choices (M) must divide the task count {self.num_tasks}, got {choices!r}")
        self.ids = [np.asarray(buffers.episode_ids(t)) for t in range(self.num_tasks)]
        self.data_tasks = np.array([t for t in range(self.num_tasks) if len(self.ids[t])])
        m = self.choices
        self.groups = np.array([g for g in range(self.num_tasks // m) if all(len(self.ids[g * m + j]) for j in range(m))])
        if not len(self.groups if not self.naive else self.data_tasks):
            raise ValueError("no task group has episodes in every buffer: nothing to sample")
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def sample(self) -> MetaTrajectory:
        rng = self.rng
        if self.naive:
            if len(self.data_tasks) == self.num_tasks:
                target = int(rng.integers(self.num_tasks))
            else:
                target = int(self.data_tasks[rng.integers(len(self.data_tasks))])
            tasks = np.full(self.k, target)
        elif self.choices == self.num_tasks:
            tasks = rng.integers(self.num_tasks, size=self.k)
            target = int(rng.integers(self.num_tasks))
        else:
            first = int(self.groups[rng.integers(len(self.groups))]) * self.choices
            tasks = first + rng.integers(self.choices, size=self.k)
            target = first + int(rng.integers(self.choices))
        ids = np.array([self.ids[t][rng.integers(len(self.ids[t]))] for t in tasks])
        mask = (tasks == target).astype(np.float32)
        return MetaTrajectory(ids, tasks, target, mask)

    def sample_batch(self, n: int) -> list[MetaTrajectory]:
        return [self.sample() for _ in range(n)]


def gather_batch(mts: list[MetaTrajectory], latents: np.ndarray, proprio: np.ndarray, actions: np.ndarray,
                 rewards: np.ndarray) -> dict[str, np.ndarray]:
    """Batched filter inputs from per-episode arrays indexed by episode id (E, ...).

    latents (E, T+1, Z) frame codes; proprio (E, T+1, 4); actions (E, T, 4); rewards (E, T).
    Returns arrays of shape (B, K*T, .): obs (frame code + proprio of o_t), prev_action, prev_reward,
    episode_start, action a_t, reward r_hat_t, plus target (B,).
    """
    ids = np.stack([m.episode_ids for m in mts])  # (B, K)
    mask = np.stack([m.reward_mask for m in mts])  # (B, K)
    B, K = ids.shape
    T = actions.shape[1]
    lat = latents[ids][:, :, :T]  # (B, K, T, Z)
    pro = proprio[ids][:, :, :T]
    act = actions[ids]  # (B, K, T, 4)
    rew = rewards[ids] * mask[:, :, None]  # (B, K, T)
    prev_a = np.zeros_like(act)
    prev_a[:, :, 1:] = act[:, :, :-1]
    prev_r = np.zeros_like(rew)
    prev_r[:, :, 1:] = rew[:, :, :-1]
    start = np.zeros((B, K, T), dtype=np.float32)
    start[:, :, 0] = 1.0
    flat = lambda x: x.reshape(B, K * T, *x.shape[3:])  # noqa: E731
    return {
        "latent": flat(lat).astype(np.float32), "proprio": flat(pro).astype(np.float32),
        "prev_action": flat(prev_a).astype(np.float32), "prev_reward": flat(prev_r).astype(np.float32),
        "start": flat(start), "action": flat(act).astype(np.float32), "reward": flat(rew).astype(np.float32),
        "target": np.array([m.target for m in mts]), "tasks": np.stack([m.tasks for m in mts]),
    }
