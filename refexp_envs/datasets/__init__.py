"""Offline datasets: standardized Minari ids, build, download, verify, and per-task buffers."""

from refexp_envs.datasets.collect import collect_episode
from refexp_envs.datasets.episode import Episode, InMemoryTaskBuffers, TaskBuffers

__all__ = ["Episode", "TaskBuffers", "InMemoryTaskBuffers", "collect_episode"]
