"""Task-specific scripted behaviour policies (the paper's pi_i^beta): policy i opens drawer i.

A policy reads only the proprioception (gripper centre, opening) and the fixed drawer layout, so
it works with either observation type and from any arm position: it lifts clear of the drawers,
moves above the handle of its drawer, drops behind the handle bar and pulls it out, in the style
of Metaworld's `SawyerDrawerOpenV3Policy`. `noise` adds Gaussian noise to every action (then
clipped), which makes trajectories diverse; at `noise=0` it is deterministic.
"""

from __future__ import annotations

import numpy as np

from refexp_envs import scene

SAFE_Z = 0.20  # above every drawer case (top at ~0.17 m)
PULL_DISTANCE = 0.20  # pull target behind the handle's closed position


class ScriptedDrawerPolicy:
    """Opens drawer `drawer` of an env with `num_drawers` drawers."""

    def __init__(self, drawer: int, num_drawers: int, noise: float = 0.0, seed: int | None = None):
        if not 0 <= drawer < num_drawers:
            raise ValueError(f"drawer {drawer} out of range for {num_drawers} drawers")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.drawer = drawer
        self.noise = float(noise)
        self.handle = scene.handle_positions(num_drawers)[drawer]
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: dict) -> np.ndarray:
        return self.act(obs["proprio"])

    def act(self, proprio: np.ndarray) -> np.ndarray:
        """`proprio`: `(4,)` gripper centre xyz and opening. Returns a `float32 (4,)` action."""
        hand = np.asarray(proprio[:3], dtype=np.float64)
        hx, hy, hz = self.handle
        grip_z = hz - 0.01
        near_x = abs(hand[0] - hx) < 0.025
        in_pull_lane = hy - PULL_DISTANCE - 0.02 < hand[1] < hy + 0.02
        low = hand[2] < grip_z + 0.03

        if near_x and in_pull_lane and low:
            target, gain = np.array([hx, hy - PULL_DISTANCE, grip_z]), 25.0  # pull the bar out
        elif near_x and abs(hand[1] - hy) < 0.02:
            target, gain = np.array([hx, hy, grip_z]), 12.0  # drop behind the bar
        elif hand[2] < SAFE_Z - 0.03:
            target, gain = np.array([hand[0], hand[1], SAFE_Z + 0.02]), 12.0  # lift clear first
        else:
            target, gain = np.array([hx, hy, SAFE_Z]), 12.0  # travel above the handle
        delta = np.clip((target - hand) * gain, -1.0, 1.0)
        action = np.concatenate([delta, [-1.0]])  # gripper open: the pads straddle the bar
        if self.noise > 0:
            action = action + self.rng.normal(0.0, self.noise, size=4)
        return np.clip(action, -1.0, 1.0).astype(np.float32)
