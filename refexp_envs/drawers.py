"""The one parameterised Sawyer + N-drawer meta-RL environment behind every `RefExp/*` id.

The spec, in Gymnasium's form, is the docstring of `DrawersEnv`.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from refexp_envs.render import SmallRenderer  # sets MUJOCO_GL before mujoco is imported
from refexp_envs import scene

import mujoco  # noqa: E402  (after render, which sets MUJOCO_GL)

OBS_TYPES = ("pixels", "state")
APPEARANCES = ("default", "shift", "random", "random-texture")
SUCCESS_OPENING = 0.10
INTERLOCK_OPENING = 0.02
MAX_OPENING = 0.16
HAND_INIT = np.array([-0.05, 0.55, 0.2])
MOCAP_LOW = np.array([-0.45, 0.40, 0.05])
MOCAP_HIGH = np.array([0.45, 0.85, 0.35])
GRIPPER_QUAT = np.array([1.0, 0.0, 1.0, 0.0])
# appearance="random": drawn at every reset (see Starting State)
RANDOM_LOOK_RGB = (0.1, 0.9)  # drawer colour and table tint: each channel uniform in this range
RANDOM_LOOK_LIGHT = (0.7, 1.4)  # factor on every light's diffuse colour (after light_jitter's)
RANDOM_LOOK_CAMERA = 0.04  # half-width (m) of the uniform camera offset along each axis; it keeps aiming at the drawers
RANDOM_TEXTURE_PLAIN = 0.5  # appearance="random-texture": chance that the table is drawn without its wood texture
PROPRIO_LOW = np.array([-1.0, -1.0, -1.0, 0.0], dtype=np.float32)  # far outside the mocap box
PROPRIO_HIGH = np.array([1.0, 2.0, 1.0, 1.0], dtype=np.float32)


class DrawersEnv(gym.Env):
    """A Sawyer arm, `num_drawers` identical drawers, and a hidden target drawer.

    ## Description
    A meta-RL task family on real MuJoCo physics, built from Metaworld's Sawyer and drawer assets
    (`refexp_envs.scene`). The task is a hidden int in `range(num_drawers)`: the drawer that pays.
    Nothing drawn depends on the task, so an agent must find the target by trying drawers across
    episodes (one attempt per episode, see Interlock). `reset(options={"task": t})` sets the task;
    without it the task is drawn from `np_random`. `env.unwrapped.task` reads it (for dataset
    collection and oracle agents only).

    ## Arguments
    | argument        | default     | meaning                                                        |
    |-----------------|-------------|----------------------------------------------------------------|
    | `num_drawers`   | 2           | drawers side by side, 0.25 m apart, drawer 0 on the robot's left |
    | `obs_type`      | `"pixels"`  | `"pixels"` or `"state"` (see Observation Space)                |
    | `image_size`    | 64          | side of the square image, int in [8, 1024]                    |
    | `horizon`       | 50          | agent steps per episode (truncation)                           |
    | `action_repeat` | 4           | physics control steps per agent step                           |
    | `frame_skip`    | 5           | physics steps of 2.5 ms per control step                       |
    | `action_scale`  | 0.01        | metres the mocap moves per control step at action 1            |
    | `appearance`    | `"default"` | `"default"` (Metaworld's look), `"shift"` (test-time visual shift) or `"random"` / `"random-texture"` (a look drawn at every reset, for training data) |
    | `arm_range`     | (0, 0, 0)   | half-widths (m) of the uniform arm start offset in x, y, z    |
    | `gripper_range` | 0.0         | width of the gripper start effort range [-1, -1 + range], in [0, 2] |
    | `cabinet_range` | (0, 0)      | (rx, ry) m: cabinet offset x in [-rx, rx], y in [-ry, 0]      |
    | `light_jitter`  | 0.0         | half-width of the uniform light brightness factor 1 +- jitter, in [0, 0.5) |
    | `visual_meshes` | `"full"`    | `"full"` or `"decimated"` (rendering only; physics unchanged)  |
    | `interlock`     | True        | lock the other drawers once one is pulled out (see Interlock)  |
    | `render_mode`   | None        | None or `"rgb_array"` (the observation camera)                 |

    The registered ids fix the start-state distribution (Starting State): v0 has every range 0
    and full meshes, v1 the ranges below and decimated meshes.

    ## Action Space
    `Box(-1, 1, (4,), float32)`: end-effector xyz velocity (the mocap moves `action * action_scale`
    m per control step, clipped to a box in front of the robot) and the gripper effort (-1 open,
    +1 closed). Each agent step repeats the action `action_repeat` times.

    ## Observation Space
    - `"pixels"`: `Dict(pixels=Box(0, 255, (S, S, 3), uint8), proprio=Box(float32, (4,)))`, the
      image from a camera behind the drawers facing the arm.
    - `"state"`: `Dict(drawers=Box(float32, (N,)), proprio=...)`, each drawer's opening in m; when
      the cabinet moves (`cabinet_range` not 0, the v1 envs) also `handles=Box(float32, (N, 3))`,
      the world position of each closed drawer's handle bar.
    - `proprio`: gripper centre xyz (m) and gripper opening in [0, 1].

    ## Rewards
    1.0 at every step while the target drawer is open by at least 0.10 m (of 0.16 m), else 0.0.
    `info["success"]` mirrors it; `info` never holds the task.

    ## Starting State
    The arm is first driven to `HAND_INIT` = (-0.05, 0.55, 0.20) m with the gripper open (nearer
    drawer 0 than drawer 1 for two drawers at x = -+0.125 m), drawers closed. Then, when any range
    is not 0, the reset seed alone (never the task) draws, in this order from `np_random`:
    arm target offset ~ U(-arm_range, arm_range), gripper effort ~ U(-1, -1 + gripper_range),
    cabinet offset x ~ U(-rx, rx), y ~ U(-ry, 0) for `cabinet_range` = (rx, ry) (every drawer moves
    with it; y only towards the robot, as the table's back wall is right behind it), light factor ~
    U(1 - light_jitter, 1 + light_jitter) (every light's diffuse colour, clipped to 1); the arm is
    driven there in 250 physics steps with that effort and its velocities are zeroed. The task is
    drawn after them, so every task gives the same start, pixel for pixel. v1's ranges: arm
    (0.06, 0.05, 0.04) m, gripper 2.0 (any effort from open to closed), cabinet (0.03, 0.05) m,
    light 0.15. v0 restores one fixed start state.

    With `appearance="random"` (no registered id uses it: it is for training data that must not
    depend on one look), the reset seed then also draws, in this order: the drawers' colour (RGB,
    each channel ~ U(0.1, 0.9)); a tint of the table's wood texture (drawn as the drawers' colour;
    MuJoCo multiplies the texture by it); a light factor ~ U(0.7, 1.4) on top of `light_jitter`'s; the camera's
    offset ~ U(-0.04, 0.04) m along each axis, the camera still aiming at the same point. These
    ranges contain `TwoDrawerShift`'s drawer colour, 1.35x light and ~4 cm camera move, as a broad
    randomisation does (never its untextured table); that exact look is drawn with probability 0.
    `appearance="random-texture"` makes the same draws, then one more: with probability 0.5 the
    table loses its wood texture and shows the drawn tint as a plain colour (so the same seed gives
    the same colours, light and camera as `"random"`). The shift's table colour is again drawn with
    probability 0.

    ## Episode End
    No termination; truncation after `horizon` steps (the registered ids also set
    `max_episode_steps` = 50 for v1, so `env.spec` carries it).

    ## Interlock
    Once a drawer is pulled out past 2 cm, the others lock (a stiff joint equality) until the next
    reset, as a filing cabinet's anti-tip interlock: one attempt per episode, so the Bayes-optimal
    success in episode k is exactly min(1, k/N). `interlock=False` leaves every drawer free (for
    studies without it; no registered id uses it).

    ## Version History
    - v1: start-state distribution from the reset seed (arm, gripper, cabinet, light); rendering
      from decimated visual meshes (~8,000 instead of ~69,000 triangles; collision and physics
      unchanged); `max_episode_steps=50` registered; the state observation gains `handles`.
    - v0: the initial release; one fixed start state.
    - (no version change) `appearance="random"` added: the registered ids do not use it.
    - (no version change) `appearance="random-texture"` added: the registered ids do not use it.
    """

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
        arm_range: tuple[float, float, float] = (0.0, 0.0, 0.0),
        gripper_range: float = 0.0,
        cabinet_range: tuple[float, float] = (0.0, 0.0),
        light_jitter: float = 0.0,
        visual_meshes: str = "full",
        interlock: bool = True,
        render_mode: str | None = None,
    ):
        if isinstance(num_drawers, bool) or not isinstance(num_drawers, numbers.Integral) or num_drawers < 1:
            raise ValueError(f"num_drawers must be an int >= 1, got {num_drawers!r}")
        if obs_type not in OBS_TYPES:
            raise ValueError(f"unknown obs_type {obs_type!r}; expected one of {OBS_TYPES}")
        if appearance not in APPEARANCES:
            raise ValueError(f"unknown appearance {appearance!r}; expected one of {APPEARANCES}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; expected None or 'rgb_array'")
        if isinstance(image_size, bool) or not (isinstance(image_size, numbers.Integral) and 8 <= image_size <= 1024):
            raise ValueError(f"image_size must be an int in [8, 1024], got {image_size!r}")
        for name, value in (("horizon", horizon), ("action_repeat", action_repeat), ("frame_skip", frame_skip)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not (isinstance(action_scale, numbers.Real) and 0 < action_scale <= 0.1):
            raise ValueError(f"action_scale must be a number in (0, 0.1] (metres per control step), got {action_scale!r}")
        arm = _ranges("arm_range", arm_range, 3, 0.15)
        cabinet = _ranges("cabinet_range", cabinet_range, 2, 0.10)
        (gripper,) = _ranges("gripper_range", (gripper_range,), 1, 2.0)
        (jitter,) = _ranges("light_jitter", (light_jitter,), 1, 0.499)
        if visual_meshes not in scene.VISUAL_MESHES:
            raise ValueError(f"unknown visual_meshes {visual_meshes!r}; expected one of {scene.VISUAL_MESHES}")
        if not isinstance(interlock, (bool, np.bool_)):
            raise ValueError(f"interlock must be True or False, got {interlock!r}")

        self.num_drawers = int(num_drawers)
        self.obs_type = obs_type
        self.image_size = int(image_size)
        self.horizon = int(horizon)
        self.action_repeat = int(action_repeat)
        self.frame_skip = int(frame_skip)
        self.action_scale = float(action_scale)
        self.arm_range = arm
        self.gripper_range = gripper
        self.cabinet_range = cabinet
        self.light_jitter = jitter
        self.interlock = bool(interlock)
        self.render_mode = render_mode
        self._random_start = bool(arm.any() or gripper or cabinet.any() or jitter)
        self._random_look = appearance in ("random", "random-texture")
        self._random_texture = appearance == "random-texture"
        look = scene.Appearance.shifted() if appearance == "shift" else scene.Appearance()

        self.model = scene.build_model(self.num_drawers, self.image_size, look, visual_meshes)
        self.data = mujoco.MjData(self.model)
        self._reset_mocap_weld()
        self._drawer_qpos = np.array(
            [self.model.joint(f"drawer{i}_goal_slidey").qposadr[0] for i in range(self.num_drawers)]
        )
        self._locks = np.array([self.model.equality(f"drawer{i}_lock").id for i in range(self.num_drawers)])
        self._drawer_bodies = np.array([self.model.body(scene.drawer_body_name(i)).id for i in range(self.num_drawers)])
        self._drawer_body_pos = self.model.body_pos[self._drawer_bodies].copy()
        self._light_diffuse = self.model.light_diffuse.copy()
        self._light_factor = 1.0  # light_jitter's draw of this episode
        names = [self.model.material(i).name for i in range(self.model.nmat)]
        self._drawer_mats = [i for i, n in enumerate(names) if any(m in n for m in scene.DRAWER_MATERIALS)]
        self._table_mat = names.index(scene.TABLE_MATERIAL)
        self._table_tex = self.model.mat_texid[self._table_mat].copy()
        self._camera = self.model.camera(scene.CAMERA_NAME).id
        self._camera_pos = self.model.cam_pos[self._camera].copy()
        self._cabinet_offset = np.zeros(2)
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
            state = {"drawers": first, "proprio": proprio}
            if self.cabinet_range.any():
                state["handles"] = spaces.Box(-2.0, 2.0, shape=(self.num_drawers, 3), dtype=np.float32)
            self.observation_space = spaces.Dict(state)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)

        self._task = 0
        self._t = 0
        self._needs_reset = True

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
        self._needs_reset = True  # until this reset succeeds
        if isinstance(seed, bool) or (isinstance(seed, int) and seed >= 2**64):
            # Gymnasium refuses non-int and negative seeds (gymnasium.error.Error); so do we for a
            # bool, and for seeds past one 64-bit word, which no caller means
            raise gym.error.Error(f"Seed must be a python integer in [0, 2**64), actual value: {seed!r}")
        super().reset(seed=seed)
        if options is not None and not isinstance(options, Mapping):
            raise ValueError(f"reset options must be a dict such as {{'task': 1}}, got {type(options).__name__} {options!r}")
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
        mujoco.mj_setState(self.model, self.data, self._start_state, mujoco.mjtState.mjSTATE_INTEGRATION)
        self.data.eq_active[self._locks] = 0
        self._chosen = None
        if self._random_start:
            self._draw_start()  # before the task draw: the start depends on the seed alone
        if self._random_look:
            self._draw_look()  # also before the task draw
        self._task = int(options["task"]) if "task" in options else int(self.np_random.integers(self.num_tasks))
        mujoco.mj_forward(self.model, self.data)
        self._t = 0
        self._needs_reset = False
        return self._observation(), {"success": False}

    def step(self, action):
        if self._needs_reset:
            raise gym.error.ResetNeeded(
                "call env.reset() before env.step(): this env was never reset, or its last reset "
                "raised an error"
            )
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

    def handle_positions(self) -> np.ndarray:
        """World positions `(N, 3)` of each closed drawer's handle bar in the current episode."""
        return scene.handle_positions(self.num_drawers) + np.array([*self._cabinet_offset, 0.0])

    def _update_interlock(self) -> None:
        if self._chosen is not None or not self.interlock:
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
        obs = {"drawers": self.drawer_openings().astype(np.float32), "proprio": self.proprio()}
        if "handles" in self.observation_space.spaces:
            obs["handles"] = self.handle_positions().astype(np.float32)
        return obs

    def _reset_mocap_weld(self) -> None:
        """Metaworld's weld between mocap and hand, with the hand exactly at the mocap."""
        for i in range(self.model.neq):
            if self.model.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
                self.model.eq_data[i] = [0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 5]

    def _draw_start(self) -> None:
        """Draw this episode's start from `np_random` (see Starting State) and settle the arm."""
        rng = self.np_random
        target = HAND_INIT + rng.uniform(-self.arm_range, self.arm_range)
        effort = rng.uniform(-1.0, -1.0 + self.gripper_range)
        # y only towards the robot: the table's retaining wall right behind the cabinet would push
        # the drawers open
        self._cabinet_offset = rng.uniform(-self.cabinet_range, self.cabinet_range * np.array([1.0, 0.0]))
        light = rng.uniform(1.0 - self.light_jitter, 1.0 + self.light_jitter)
        self.model.body_pos[self._drawer_bodies] = self._drawer_body_pos + np.array([*self._cabinet_offset, 0.0])
        self._light_factor = light
        self.model.light_diffuse[:] = np.clip(self._light_diffuse * light, 0.0, 1.0)
        self._drive_arm(target, effort)

    def _draw_look(self) -> None:
        """Draw this episode's look from `np_random` (appearance="random" or "random-texture", see
        Starting State)."""
        rng = self.np_random
        drawer = rng.uniform(*RANDOM_LOOK_RGB, size=3)
        table = rng.uniform(*RANDOM_LOOK_RGB, size=3)
        light = rng.uniform(*RANDOM_LOOK_LIGHT)
        offset = rng.uniform(-RANDOM_LOOK_CAMERA, RANDOM_LOOK_CAMERA, size=3)
        self.model.mat_rgba[self._drawer_mats, :3] = drawer
        self.model.mat_rgba[self._table_mat, :3] = table
        self.model.light_diffuse[:] = np.clip(self._light_diffuse * self._light_factor * light, 0.0, 1.0)
        pos = self._camera_pos + offset
        self.model.cam_pos[self._camera] = pos
        self.model.cam_quat[self._camera] = scene.camera_quat(pos)
        if self._random_texture:
            plain = rng.uniform() < RANDOM_TEXTURE_PLAIN
            self.model.mat_texid[self._table_mat] = -1 if plain else self._table_tex
            if self._renderer is not None:
                self._renderer.sync_textures(self.model)

    def _drive_arm(self, target: np.ndarray, effort: float) -> None:
        """Hold the mocap at `target` with gripper effort `effort` for 250 physics steps, then
        zero every velocity (as Metaworld's `_reset_hand`)."""
        for _ in range(50):
            self.data.mocap_pos[0] = target
            self.data.mocap_quat[0] = GRIPPER_QUAT
            self.data.ctrl[:] = (effort, -effort)
            mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        self.data.qvel[:] = 0.0

    def _settle_start_state(self) -> np.ndarray:
        """Drive the arm to HAND_INIT once (as Metaworld's `_reset_hand`) and keep that state."""
        mujoco.mj_resetData(self.model, self.data)
        self._drive_arm(HAND_INIT, -1.0)
        size = mujoco.mj_stateSize(self.model, mujoco.mjtState.mjSTATE_INTEGRATION)
        state = np.empty(size)
        mujoco.mj_getState(self.model, self.data, state, mujoco.mjtState.mjSTATE_INTEGRATION)
        return state


def _ranges(name: str, value, size: int, most: float) -> np.ndarray:
    """Validate a tuple of `size` non-negative half-widths, each at most `most`."""
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {size} number(s), got {value!r}") from None
    if arr.shape != (size,) or not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > most):
        raise ValueError(f"{name} must be {size} number(s), each in [0, {most}], got {value!r}")
    return arr
