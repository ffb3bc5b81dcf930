"""Task-specific scripted behaviour policies (the paper's pi_i^beta): policy i opens drawer i.

A policy reads only the proprioception (gripper centre, opening) and where its drawer's handle is
(`handle`: the env's `handle_positions()` after reset, which the v1 envs move with the cabinet; by
default the fixed v0 layout), so it works with either observation type and from any start: it
lifts clear of the drawers, moves above the handle of its drawer, drops behind the handle bar and
pulls it out, in the style of Metaworld's `SawyerDrawerOpenV3Policy`. `noise` adds Gaussian noise
to every action (then clipped), which makes trajectories diverse; at `noise=0` it is deterministic.

`version` is the behaviour version, that of the env (and of its datasets): v1 never moves back
towards the cabinet while pulling, so a hand that slipped past the bar of a fully open drawer
pushes it shut less often (from v1's random starts, at noise 0, the drawer ended shut again in
~22% of TwoDrawer episodes with the v0 behaviour, ~5% with v1's; both open it in every one of
300); v0 is kept unchanged for the v0 datasets. v2 (SixDrawer-v2's upper row) travels
`TRAVEL_ABOVE` above its own handle when that is higher than `SAFE_Z`, and pulls only once it has
dropped behind the bar in this episode (a hand that starts level with an upper handle, in front of
it, would otherwise "pull" thin air): one v2 policy per episode, as `for_env` after reset makes.
For a v0/v1 layout the path is v1's except for that latch.
"""

from __future__ import annotations

import numpy as np

from refexp_envs import scene

SAFE_Z = 0.20  # above every drawer case (top at ~0.17 m)
PULL_DISTANCE = 0.20  # pull target behind the handle's closed position
TRAVEL_ABOVE = 0.11  # v2: travel at least this far above the handle (v1's SAFE_Z is 0.11 above its handles)
VERSIONS = (0, 1, 2)


def behaviour_version(env_id: str | None) -> int:
    """The scripted behaviour version of an env id: that of the env, capped at the newest (2);
    0 for an unregistered env (no id)."""
    if env_id is None:
        return 0
    import gymnasium as gym

    return min(int(gym.spec(env_id).version or 0), VERSIONS[-1])


class ScriptedDrawerPolicy:
    """Opens drawer `drawer` of an env with `num_drawers` drawers."""

    def __init__(
        self,
        drawer: int,
        num_drawers: int,
        noise: float = 0.0,
        seed: int | None = None,
        handle: np.ndarray | None = None,
        version: int = 0,
        travel_z: float | None = None,
    ):
        if not 0 <= drawer < num_drawers:
            raise ValueError(f"drawer {drawer} out of range for {num_drawers} drawers")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.drawer = drawer
        self.noise = float(noise)
        self.handle = scene.handle_positions(num_drawers)[drawer] if handle is None else np.asarray(handle, float)
        if self.handle.shape != (3,):
            raise ValueError(f"handle must be an xyz position (3,), got shape {self.handle.shape}")
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
        self.version = version
        self.travel_z = None if travel_z is None else float(travel_z)  # Desk-v2: travel this high (None: the version's)
        self.rng = np.random.default_rng(seed)
        self._engaged = False  # v2: has the hand dropped behind the bar this episode?

    @classmethod
    def for_env(cls, env, drawer: int, noise: float = 0.0, seed: int | None = None) -> "ScriptedDrawerPolicy":
        """The policy for drawer `drawer` of `env` in its current episode (call after `reset`), in
        the behaviour version of the env's version (read from `env.spec.id`, 0 if none)."""
        base = env.unwrapped
        spec = getattr(env, "spec", None)
        return cls(drawer, base.num_drawers, noise, seed, handle=base.handle_positions()[drawer],
                   version=behaviour_version(spec.id if spec is not None else None))

    def __call__(self, obs: dict) -> np.ndarray:
        return self.act(obs["proprio"])

    def act(self, proprio: np.ndarray) -> np.ndarray:
        """`proprio`: `(4,)` gripper centre xyz and opening. Returns a `float32 (4,)` action."""
        hand = np.asarray(proprio[:3], dtype=np.float64)
        hx, hy, hz = self.handle
        grip_z = hz - 0.01
        safe_z = max(SAFE_Z, hz + TRAVEL_ABOVE) if self.version >= 2 else SAFE_Z
        if self.travel_z is not None:
            safe_z = self.travel_z
        near_x = abs(hand[0] - hx) < 0.025
        in_pull_lane = hy - PULL_DISTANCE - 0.02 < hand[1] < hy + 0.02
        low = hand[2] < grip_z + 0.03

        pulling = near_x and in_pull_lane and low and (self._engaged or self.version < 2)
        if self.version >= 2 and near_x and abs(hand[1] - hy) < 0.02 and low:
            self._engaged = True  # behind the bar, low enough to hook it: pull from now on
            pulling = True
        if pulling:
            target, gain = np.array([hx, hy - PULL_DISTANCE, grip_z]), 25.0  # pull the bar out
        elif near_x and abs(hand[1] - hy) < 0.02:
            target, gain = np.array([hx, hy, grip_z]), 12.0  # drop behind the bar
        elif hand[2] < safe_z - 0.03:
            target, gain = np.array([hand[0], hand[1], safe_z + 0.02]), 12.0  # lift clear first
        else:
            target, gain = np.array([hx, hy, safe_z]), 12.0  # travel above the handle
        delta = np.clip((target - hand) * gain, -1.0, 1.0)
        if pulling and self.version >= 1:
            delta[1] = min(delta[1], 0.0)  # never push the bar back in
        action = np.concatenate([delta, [-1.0]])  # gripper open: the pads straddle the bar
        if self.noise > 0:
            action = action + self.rng.normal(0.0, self.noise, size=4)
        return np.clip(action, -1.0, 1.0).astype(np.float32)


DESK_TRAVEL_Z = 0.30  # Desk-v2: the gripper centre travels this high, above every mechanism (tops at <= 0.22 m)
PRESS_DEPTH = {"button": 0.075, "handle": 0.115}  # m below the top the press aims (the full travel and a little more)
HOLD_DISTANCE = 0.195  # m: where the gripper centre holds a fully pulled drawer's bar (the bar is 0.16 out, the pads ~0.04 in front)
ALIGNED = 0.012  # m: the hand is over the target when its xy is this close


class ScriptedMechanismPolicy:
    """Works mechanism `slot` of a `RefExp/Desk-v2` desk (the pi_i^beta of its task): a drawer is
    pulled out as `ScriptedDrawerPolicy` does (v2, travelling at `DESK_TRAVEL_Z`; once pulled the full
    `PULL_DISTANCE` the hand holds still, where v2 would lift away and let the drawer roll back), a button or a
    handle is pressed down from above with the gripper closed. It lifts to `DESK_TRAVEL_Z` (above
    every mechanism) before it moves across the desk, so it never touches another mechanism. Reads
    only the proprioception and, at construction, the mechanism's kind and where the hand works it
    (`for_env` after reset: `env.unwrapped.kinds()` and `targets()`, also in the state observation)."""

    def __init__(self, kind: str, target, noise: float = 0.0, seed: int | None = None):
        from refexp_envs.desk import KINDS

        if kind not in KINDS:
            raise ValueError(f"unknown mechanism kind {kind!r}; expected one of {KINDS}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.kind = kind
        self.target = np.asarray(target, dtype=np.float64)
        if self.target.shape != (3,):
            raise ValueError(f"target must be an xyz position (3,), got shape {self.target.shape}")
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)
        self._drawer = (ScriptedDrawerPolicy(0, 1, handle=self.target, version=2, travel_z=DESK_TRAVEL_Z)
                        if kind == "drawer" else None)
        self._pressing = False
        self._held = False  # a drawer pulled out: hold still (leaving the pull lane lets the drawer roll back in)

    @classmethod
    def for_env(cls, env, slot: int, noise: float = 0.0, seed: int | None = None) -> "ScriptedMechanismPolicy":
        """The policy for slot `slot` of `env`'s desk in its current episode (call after `reset`)."""
        base = env.unwrapped
        return cls(base.kinds()[slot], base.targets()[slot], noise, seed)

    def __call__(self, obs: dict) -> np.ndarray:
        return self.act(obs["proprio"])

    def act(self, proprio: np.ndarray) -> np.ndarray:
        """`proprio`: `(4,)` gripper centre xyz and opening. Returns a `float32 (4,)` action."""
        if self._drawer is not None:
            hand = np.asarray(proprio[:3], dtype=np.float64)
            if self._drawer._engaged and hand[1] <= self.target[1] - PULL_DISTANCE + 0.01:
                self._held = True  # pulled all the way (the drawer is fully out): stay there
            if self._held:  # keep the hand at the bar's height, just out of the drawer's limit
                hold = np.array([self.target[0], self.target[1] - HOLD_DISTANCE, self.target[2]])
                action = np.concatenate([np.clip((hold - hand) * 10.0, -1.0, 1.0), [-1.0]])
            else:
                action = self._drawer.act(proprio).astype(np.float64)
        else:
            hand = np.asarray(proprio[:3], dtype=np.float64)
            gx, gy, gz = self.target
            aligned = np.abs(hand[:2] - (gx, gy)).max() < ALIGNED
            if aligned and hand[2] < DESK_TRAVEL_Z + 0.03:
                self._pressing = True
            if self._pressing:
                target, gain = np.array([gx, gy, gz - PRESS_DEPTH[self.kind]]), 15.0  # press straight down
            elif hand[2] < DESK_TRAVEL_Z - 0.03 and np.abs(hand[:2] - (gx, gy)).max() > 0.03:
                target, gain = np.array([hand[0], hand[1], DESK_TRAVEL_Z + 0.02]), 12.0  # lift clear first
            else:
                target, gain = np.array([gx, gy, DESK_TRAVEL_Z]), 12.0  # travel above it
            action = np.concatenate([np.clip((target - hand) * gain, -1.0, 1.0), [1.0]])  # a closed fist presses
        if self.noise > 0:
            action = action + self.rng.normal(0.0, self.noise, size=4)
        return np.clip(action, -1.0, 1.0).astype(np.float32)


def behaviour_policy(env, task: int, noise: float = 0.0, seed: int | None = None):
    """pi_task^beta, the behaviour policy of `task` in `env`'s current episode (call after `reset`):
    a drawers env's drawer `task`; a desk's paying mechanism, slot `task % M` of its composition."""
    base = env.unwrapped
    if hasattr(base, "num_mechanisms"):  # refexp_envs.desk.DeskEnv
        return ScriptedMechanismPolicy.for_env(env, int(task) % base.num_mechanisms, noise=noise, seed=seed)
    return ScriptedDrawerPolicy.for_env(env, task, noise=noise, seed=seed)
