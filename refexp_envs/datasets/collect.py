"""Roll out a task-specific behaviour policy and record the episode (with its task id)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from refexp_envs.datasets.episode import Episode
from refexp_envs.policies import behaviour_policy


def collect_episode(env: gym.Env, task: int, noise: float, seed: int) -> Episode:
    """One episode of behaviour policy `task` on task `task`; `seed` fixes env reset and noise."""
    obs, _ = env.reset(seed=seed, options={"task": task})
    policy = behaviour_policy(env, task, noise=noise, seed=seed)  # after reset: the handles / the desk
    pixels, proprio, actions, rewards = [obs.get("pixels")], [obs["proprio"]], [], []
    others = {k: [v] for k, v in obs.items() if k not in ("pixels", "proprio")}  # state obs keys
    done = False
    while not done:
        action = policy(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        pixels.append(obs.get("pixels"))
        proprio.append(obs["proprio"])
        for k in others:
            others[k].append(obs[k])
        actions.append(action)
        rewards.append(reward)
        done = terminated or truncated
    return Episode(
        pixels=None if pixels[0] is None else np.stack(pixels),
        proprio=np.stack(proprio).astype(np.float32),
        actions=np.stack(actions).astype(np.float32),
        rewards=np.asarray(rewards, dtype=np.float32),
        task=int(task),
        state={k: np.stack(v).astype(np.float32) for k, v in others.items()} or None,
    )
