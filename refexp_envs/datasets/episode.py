"""One recorded episode and the per-task buffers B_1..B_N the offline method trains on.

`TaskBuffers` is the interface between the datasets and the method: the method asks for the
episode ids of buffer i and reads episodes one at a time, so pixel datasets never have to fit in
memory. `InMemoryTaskBuffers` holds a few episodes made on the fly (tests, quick experiments);
`refexp_envs.datasets.load_task_buffers(dataset_id)` gives the Minari-backed one.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, Sequence

import numpy as np


@dataclasses.dataclass
class Episode:
    """A trajectory of T steps. Observations have T+1 entries (the reset one first).

    pixels:  uint8 (T+1, S, S, 3), or None for state datasets
    proprio: float32 (T+1, 4)  gripper centre xyz, gripper opening
    actions: float32 (T, 4)
    rewards: float32 (T,)      the env's own reward (1 while the *target* drawer is open)
    task:    int               the drawer the behaviour policy served (buffer index)
    state:   the other observation keys of state-observation episodes, each (T+1, ...), or None:
             `drawers` float32 (T+1, N) openings, and on v1 `handles` float32 (T+1, N, 3)
    """

    pixels: np.ndarray | None
    proprio: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    task: int
    state: dict[str, np.ndarray] | None = None

    @property
    def length(self) -> int:
        return len(self.actions)

    @property
    def success(self) -> bool:
        return bool(np.any(self.rewards > 0))


class TaskBuffers(Protocol):
    """Per-task buffers over one dataset; episode ids are the dataset's own."""

    num_tasks: int

    def episode_ids(self, task: int) -> np.ndarray: ...

    def load_episode(self, episode_id: int) -> Episode: ...


class InMemoryTaskBuffers:
    """`TaskBuffers` over a list of episodes already in memory."""

    def __init__(self, episodes: Sequence[Episode], num_tasks: int):
        self._episodes = list(episodes)
        self.num_tasks = int(num_tasks)
        tasks = np.array([ep.task for ep in self._episodes])
        self._ids = [np.flatnonzero(tasks == i) for i in range(self.num_tasks)]
        empty = [i for i, ids in enumerate(self._ids) if len(ids) == 0]
        if empty:
            raise ValueError(f"no episodes for tasks {empty}: every task needs a buffer")

    def episode_ids(self, task: int) -> np.ndarray:
        return self._ids[task]

    def load_episode(self, episode_id: int) -> Episode:
        return self._episodes[int(episode_id)]
