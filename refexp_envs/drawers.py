"""The one parameterised Sawyer + N-drawer meta-RL environment behind every `RefExp/*` id.

| what             | value                                                                         |
|------------------|-------------------------------------------------------------------------------|
| task             | hidden int in `range(num_drawers)`: the drawer that pays                      |
| action           | `float32 (4,)` in [-1, 1]: end-effector xyz velocity (mocap), gripper effort  |
| control          | each agent step repeats the action `action_repeat` (4) times; each repeat     |
|                  | moves the mocap by `action * 0.01` m and runs 5 physics steps of 2.5 ms       |
| horizon          | 50 agent steps (= 1000 physics steps, 2.5 s); the scripted policy opens the   |
|                  | far drawer in about 30 steps, so either drawer opens with a margin            |
| obs "pixels"     | `{"pixels": uint8 (S, S, 3), "proprio": float32 (4,)}` (S = image_size, 64)   |
| obs "state"      | `{"drawers": float32 (N,), "proprio": float32 (4,)}` drawer openings in m     |
| proprio          | gripper centre xyz (m), gripper opening in [0, 1]                             |
| reward           | 1.0 while the target drawer is open by >= 0.10 m (of 0.16), else 0.0          |
| info             | `{"success": bool}` mirroring the reward; never the task                      |
| interlock        | once a drawer is pulled out past 2 cm, the others lock until the next reset   |
|                  | (a filing cabinet's anti-tip interlock): one attempt per episode, so the      |
|                  | Bayes-optimal success in episode k is exactly min(1, k/N)                     |
| reset            | arm and drawers return to one fixed start state; the arm starts nearer the    |
|                  | left drawer (x = -0.05 m, drawers at x = +-0.125 m for two)                   |

`reset(options={"task": t})` sets the task; without it the task is drawn from `np_random`.
"""

from __future__ import annotations

import numbers
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from refexp_envs.render import SmallRenderer  # sets MUJOCO_GL before mujoco is imported
from refexp_envs import scene

import mujoco  # noqa: E402  (after render, which sets MUJOCO_GL)

OBS_TYPES = ("pixels", "state")
SUCCESS_OPENING = 0.10
INTERLOCK_OPENING = 0.02
MAX_OPENING = 0.16
HAND_INIT = np.array([-0.05, 0.55, 0.2])
MOCAP_LOW = np.array([-0.45, 0.40, 0.05])
MOCAP_HIGH = np.array([0.45, 0.85, 0.35])
GRIPPER_QUAT = np.array([1.0, 0.0, 1.0, 0.0])
PROPRIO_LOW = np.array([-1.0, -1.0, -1.0, 0.0], dtype=np.float32)  # far outside the mocap box
PROPRIO_HIGH = np.array([1.0, 2.0, 1.0, 1.0], dtype=np.float32)


class DrawersEnv(gym.Env):
    """A Sawyer arm, `num_drawers` identical drawers, and a hidden target drawer."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        num_drawers: int = 2,
        obs_type: str = "pixels",
        image_size: int = 64,
        horizon: int = 50,
        action_repeat: int = 4,
        frame_skip: int = 5,
        action_scale: float = 0.01,
        appearance: str = "default",
        render_mode: str | None = None,
    ):
        if obs_type not in OBS_TYPES:
            raise ValueError(f"unknown obs_type {obs_type!r}; expected one of {OBS_TYPES}")
        if appearance not in ("default", "shift"):
            raise ValueError(f"unknown appearance {appearance!r}; expected 'default' or 'shift'")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; expected None or 'rgb_array'")
        if not (isinstance(image_size, numbers.Integral) and 8 <= image_size <= 1024):
            raise ValueError(f"image_size must be an int in [8, 1024], got {image_size!r}")
        if horizon < 1 or action_repeat < 1 or frame_skip < 1:
            raise ValueError("horizon, action_repeat and frame_skip must be >= 1")

        self.num_drawers = int(num_drawers)
        self.obs_type = obs_type
        self.image_size = int(image_size)
        self.horizon = int(horizon)
        self.action_repeat = int(action_repeat)
        self.frame_skip = int(frame_skip)
        self.action_scale = float(action_scale)
        self.render_mode = render_mode
        look = scene.Appearance.shifted() if appearance == "shift" else scene.Appearance()

        self.model = scene.build_model(self.num_drawers, self.image_size, look)
        self.data = mujoco.MjData(self.model)
        self._reset_mocap_weld()
        self._drawer_qpos = np.array(
            [self.model.joint(f"drawer{i}_goal_slidey").qposadr[0] for i in range(self.num_drawers)]
        )
        self._locks = np.array([self.model.equality(f"drawer{i}_lock").id for i in range(self.num_drawers)])
        self._chosen: int | None = None  # the drawer that engaged the interlock this episode
        self._right = self.model.site("rightEndEffector").id
        self._left = self.model.site("leftEndEffector").id
        self._rightpad = self.model.body("rightpad").id
        self._leftpad = self.model.body("leftpad").id
        self._start_state = self._settle_start_state()
        self._renderer: SmallRenderer | None = None
        if obs_type == "pixels" or render_mode == "rgb_array":
            self._renderer = SmallRenderer(self.model, self.image_size, scene.CAMERA_NAME)

        proprio = spaces.Box(PROPRIO_LOW, PROPRIO_HIGH, dtype=np.float32)
        if obs_type == "pixels":
            first = spaces.Box(0, 255, shape=(self.image_size, self.image_size, 3), dtype=np.uint8)
            self.observation_space = spaces.Dict({"pixels": first, "proprio": proprio})
        else:
            first = spaces.Box(0.0, MAX_OPENING + 0.01, shape=(self.num_drawers,), dtype=np.float32)
            self.observation_space = spaces.Dict({"drawers": first, "proprio": proprio})
        self.action_space = spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)

        self._task = 0
        self._t = 0

    # ------------------------------------------------------------------ task (hidden)
    @property
    def num_tasks(self) -> int:
        return self.num_drawers

    @property
    def task(self) -> int:
        """The hidden target drawer: for dataset collection and oracle agents only."""
        return self._task

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"task"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; the only option is 'task'")
        if "task" in options:
            task = options["task"]
            if isinstance(task, bool) or not isinstance(task, numbers.Integral):
                raise ValueError(f"task must be an int in range({self.num_tasks}), got {task!r}")
            if not 0 <= int(task) < self.num_tasks:
                raise ValueError(f"task {task} out of range: this env has tasks 0..{self.num_tasks - 1}")
            self._task = int(task)
        else:
            self._task = int(self.np_random.integers(self.num_tasks))
        mujoco.mj_setState(self.model, self.data, self._start_state, mujoco.mjtState.mjSTATE_INTEGRATION)
        self.data.eq_active[self._locks] = 0
        self._chosen = None
        mujoco.mj_forward(self.model, self.data)
        self._t = 0
        return self._observation(), {"success": False}

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (4,):
            raise ValueError(f"action must have shape (4,), got {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action contains NaN or inf: {action}")
        action = np.clip(action, -1.0, 1.0)
        for _ in range(self.action_repeat):
            pos = self.data.mocap_pos[0] + action[:3] * self.action_scale
            self.data.mocap_pos[0] = np.clip(pos, MOCAP_LOW, MOCAP_HIGH)
            self.data.mocap_quat[0] = GRIPPER_QUAT
            self.data.ctrl[:] = (action[3], -action[3])
            mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
            self._update_interlock()
        self._t += 1
        success = bool(self.drawer_openings()[self._task] >= SUCCESS_OPENING)
        truncated = self._t >= self.horizon
        return self._observation(), float(success), False, truncated, {"success": success}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self._renderer.render(self.data)

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ------------------------------------------------------------------ helpers
    def drawer_openings(self) -> np.ndarray:
        """How far each drawer is pulled out, in metres `(N,)` (0 closed, 0.16 fully open)."""
        return -self.data.qpos[self._drawer_qpos]

    def _update_interlock(self) -> None:
        if self._chosen is not None:
            return
        openings = self.drawer_openings()
        if openings.max() >= INTERLOCK_OPENING:
            self._chosen = int(np.argmax(openings))
            self.data.eq_active[self._locks] = 1
            self.data.eq_active[self._locks[self._chosen]] = 0

    def proprio(self) -> np.ndarray:
        tcp = (self.data.site_xpos[self._right] + self.data.site_xpos[self._left]) / 2.0
        gap = np.linalg.norm(self.data.xpos[self._rightpad] - self.data.xpos[self._leftpad])
        return np.concatenate([tcp, [np.clip(gap / 0.1, 0.0, 1.0)]]).astype(np.float32)

    def _observation(self) -> dict[str, np.ndarray]:
        if self.obs_type == "pixels":
            return {"pixels": self._renderer.render(self.data), "proprio": self.proprio()}
        return {"drawers": self.drawer_openings().astype(np.float32), "proprio": self.proprio()}

    def _reset_mocap_weld(self) -> None:
        """Metaworld's weld between mocap and hand, with the hand exactly at the mocap."""
        for i in range(self.model.neq):
            if self.model.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
                self.model.eq_data[i] = [0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 5]

    def _settle_start_state(self) -> np.ndarray:
        """Drive the arm to HAND_INIT once (as Metaworld's `_reset_hand`) and keep that state."""
        mujoco.mj_resetData(self.model, self.data)
        for _ in range(50):
            self.data.mocap_pos[0] = HAND_INIT
            self.data.mocap_quat[0] = GRIPPER_QUAT
            self.data.ctrl[:] = (-1.0, 1.0)
            mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        self.data.qvel[:] = 0.0
        size = mujoco.mj_stateSize(self.model, mujoco.mjtState.mjSTATE_INTEGRATION)
        state = np.empty(size)
        mujoco.mj_getState(self.model, self.data, state, mujoco.mjtState.mjSTATE_INTEGRATION)
        return state
