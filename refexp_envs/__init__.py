"""RefExp environments: a Sawyer arm, N drawers and a hidden target drawer.

Importing this package registers every `RefExp/*` id with Gymnasium (string entry points, so that
Minari can store and recover the env spec):

| id                         | drawers | appearance             |
|----------------------------|---------|------------------------|
| `RefExp/TwoDrawer-v0`      | 2       | Metaworld's            |
| `RefExp/ThreeDrawer-v0`    | 3       | Metaworld's            |
| `RefExp/TwoDrawerShift-v0` | 2       | test-time visual shift |
"""

from __future__ import annotations

import functools
import os

# Headless rendering by default; must be set before mujoco is first imported. A user setting wins.
os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402

__version__ = "0.1.0"

ENTRY_POINT = "refexp_envs.drawers:DrawersEnv"
ENV_KWARGS: dict[str, dict] = {
    "RefExp/TwoDrawer-v0": {"num_drawers": 2, "appearance": "default"},
    "RefExp/ThreeDrawer-v0": {"num_drawers": 3, "appearance": "default"},
    "RefExp/TwoDrawerShift-v0": {"num_drawers": 2, "appearance": "shift"},
}
ENV_IDS = tuple(ENV_KWARGS)
HORIZON = 50


def register_envs() -> None:
    """Register every RefExp id (idempotent)."""
    for env_id, kwargs in ENV_KWARGS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=ENTRY_POINT, kwargs=dict(kwargs), max_episode_steps=None)


def make_vector_env(env_id: str, num_envs: int, **kwargs) -> gym.vector.AsyncVectorEnv:
    """`num_envs` copies in worker processes. Uses the spawn context: with fork, workers hang
    once the parent holds a GL context."""
    fns = [functools.partial(_make, env_id, **kwargs) for _ in range(num_envs)]
    return gym.vector.AsyncVectorEnv(fns, context="spawn")


def _make(env_id: str, **kwargs) -> gym.Env:
    """Importable by reference, so a spawned worker imports (and so registers) this package."""
    return gym.make(env_id, **kwargs)


register_envs()
