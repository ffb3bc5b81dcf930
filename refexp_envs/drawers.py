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
from refexp_envs import looks, scene

import mujoco  # noqa: E402  (after render, which sets MUJOCO_GL)

OBS_TYPES = ("pixels", "state")
APPEARANCES = ("default", "shift", "random", "random-texture", "sealed")
STARTS = ("settle", "place")
ARM_JOINTS = tuple(f"right_j{i}" for i in range(7))
FINGER_JOINTS = ("r_close", "l_close")  # position-controlled: effort e holds r at clip(e), l at clip(-e)
CLOSED_OPENING = 1e-6  # m: visual_meshes="lean" does not draw a drawer box pulled out less than this (the case covers it)
IK_TOLERANCE = 1e-5  # m (and rad): how exactly start="place" puts the hand at its drawn pose
IK_STEPS = 200  # most damped least-squares steps (about 10 suffice)
IK_ROTATION_WEIGHT = 0.1  # m per rad: the hand's position comes first, then its orientation
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
HANDLE_CLEARANCE = 0.19  # m the mocap box reaches above the highest handle (v0/v1: 0.35 m is higher)
HANDLE_REACH = 0.30  # m the mocap box reaches in front of the nearest closed handle (v0/v1: 0.40 m is nearer the robot)


def mocap_high(num_drawers: int, rows: int = 1) -> np.ndarray:
    """The top corner of the mocap box: `MOCAP_HIGH`, raised for a two-row cabinet so that the
    hand can come down onto the upper handles from above."""
    top = scene.handle_positions(num_drawers, rows)[:, 2].max() + HANDLE_CLEARANCE
    return np.array([*MOCAP_HIGH[:2], max(MOCAP_HIGH[2], top)])


def mocap_low(num_drawers: int, rows: int = 1) -> np.ndarray:
    """The bottom corner of the mocap box: `MOCAP_LOW`, reaching nearer the robot for a two-row
    cabinet, whose front row stands `scene.ROW_STEP` forward, so that its drawers open fully."""
    front = scene.handle_positions(num_drawers, rows)[:, 1].min() - HANDLE_REACH
    return np.array([MOCAP_LOW[0], min(MOCAP_LOW[1], front), MOCAP_LOW[2]])


PROPRIO_LOW = np.array([-1.0, -1.0, -1.0, 0.0], dtype=np.float32)  # far outside the mocap box
PROPRIO_HIGH = np.array([1.0, 2.0, 1.0, 1.0], dtype=np.float32)


class DrawersEnv(gym.Env):
    """A Sawyer arm, `num_drawers` identical drawers, and a hidden target drawer.

    ## Description
    A meta-RL task family on real MuJoCo physics, built from Metaworld's Sawyer and drawer assets
    (`refexp_envs.scene`). The task is a hidden int in `range(num_drawers)`: the drawer that pays.
    `RefExp/SixDrawer-v2` is a 2 x 3 stepped cabinet (`rows=2`): drawers 0-2 the lower row, which
    stands 0.18 m in front of the upper row 3-5 (0.17 m up), each row left to right from the
    robot's view; K = 6 episodes per trial by default (`refexp_envs.default_episodes`).
    Nothing drawn depends on the task, so an agent must find the target by trying drawers across
    episodes (one attempt per episode, see Interlock). `reset(options={"task": t})` sets the task;
    without it the task is drawn from `np_random`. `env.unwrapped.task` reads it (for dataset
    collection and oracle agents only). With `appearance="sealed"`, `options={"look": seed}` (an int
    in [0, 2**63)) sets the look (`refexp_envs.looks.draw_look(seed)`); without it the look seed is
    drawn from `np_random` after the task, so the start and task draws are those of the same id
    without a look. The harness passes the look seed of (secret, eval seed, trial); agents never see it.

    ## Arguments
    | argument        | default     | meaning                                                        |
    |-----------------|-------------|----------------------------------------------------------------|
    | `num_drawers`   | 2           | drawers, 0.25 m apart in a row, drawer 0 on the robot's left   |
    | `rows`          | 1           | 1, or 2 for a stepped two-row cabinet (`num_drawers` / 2 per row; mocap box raised to reach the upper row) |
    | `obs_type`      | `"pixels"`  | `"pixels"` or `"state"` (see Observation Space)                |
    | `image_size`    | 64          | side of the square image, int in [8, 1024]                    |
    | `horizon`       | 50          | agent steps per episode (truncation)                           |
    | `action_repeat` | 4           | physics control steps per agent step                           |
    | `frame_skip`    | 5           | physics steps of 2.5 ms per control step                       |
    | `action_scale`  | 0.01        | metres the mocap moves per control step at action 1            |
    | `appearance`    | `"default"` | `"default"` (Metaworld's look), `"shift"` (test-time visual shift), `"random"` / `"random-texture"` (a look drawn at every reset, for training data) or `"sealed"` (a look per reset from a look seed, `refexp_envs.looks`: TwoDrawerSealedShift-v2) |
    | `look_left_out` | ()          | `"sealed"` only: look factors held at the default look (the per-factor breakdown, `dev/sealed_parts.py`) |
    | `arm_range`     | (0, 0, 0)   | half-widths (m) of the uniform arm start offset in x, y, z    |
    | `gripper_range` | 0.0         | width of the gripper start effort range [-1, -1 + range], in [0, 2] |
    | `cabinet_range` | (0, 0)      | (rx, ry) m: cabinet offset x in [-rx, rx], y in [-ry, 0]      |
    | `light_jitter`  | 0.0         | half-width of the uniform light brightness factor 1 +- jitter, in [0, 0.5) |
    | `visual_meshes` | `"full"`    | `"full"`, `"decimated"` or `"lean"` (rendering only, see `scene`: decimated meshes, and for `"lean"` merged static meshes, hidden never-seen objects and undrawn closed drawer boxes; the picture agrees with `"decimated"` to within a few pixels) |
    | `start`         | `"settle"`  | `"settle"`: drive the arm to its drawn start in 250 physics steps (v0/v1); `"place"`: put it there by inverse kinematics, no physics step (v2) |
    | `hand_init`     | (-0.05, 0.55, 0.20) | the centre (m) of the hand's start box (`HAND_INIT`)   |
    | `drawer_contacts` | True      | test drawers for contact with each other (False: only with the arm, table and walls; drawers never touch each other, so only the physics cost changes) |
    | `interlock`     | True        | lock the other drawers once one is pulled out (see Interlock)  |
    | `render_mode`   | None        | None or `"rgb_array"` (the observation camera)                 |

    The registered ids fix the start-state distribution (Starting State): v0 has every range 0
    and full meshes, v1 the ranges below and decimated meshes, SixDrawer-v2 its own (below),
    `start="place"`, lean meshes and `drawer_contacts=False`.

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
    The arm is first driven to `hand_init` (default `HAND_INIT` = (-0.05, 0.55, 0.20) m) with the gripper open (nearer
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

    With `start="place"` (SixDrawer-v2) the same draws, in the same order, are made, but the arm is
    not driven: the hand is put exactly (to 1e-5 m) at hand_init + the drawn offset, turned as in
    the settled start at `hand_init` (inverse kinematics on the arm joints from that start, within
    their limits), the mocap on it, each finger where the drawn effort holds it (r_close at
    clip(effort, 0, 0.04), l_close at clip(-effort, -0.03, 0)), every velocity zero. SixDrawer-v2:
    `hand_init` (0.0, 0.45, 0.30) m (in front of the middle column, above the lower row), arm
    (0.08, 0.04, 0.04) m, gripper 2.0, cabinet (0.03, 0.05) m, light 0.15.

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
    - v2 (`RefExp/SixDrawer-v2`, new): a 2 x 3 stepped cabinet, K = 6; the start placed by inverse
      kinematics (`start="place"`) instead of the 250-step settle; lean rendering; no drawer-drawer
      contact tests; its own camera (behind the upper row, 66 degrees down). v0/v1 ids unchanged.
    - v2 (`RefExp/TwoDrawerSealedShift-v2`, new): TwoDrawer-v1's arguments, physics and starts with
      `appearance="sealed"`: the look of each trial from its look seed (the pixels only).
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
        rows: int = 1,
        start: str = "settle",
        hand_init: tuple[float, float, float] = tuple(HAND_INIT),
        drawer_contacts: bool = True,
        look_left_out: tuple[str, ...] = (),
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
        if isinstance(rows, bool) or rows not in (1, 2) or int(num_drawers) % rows:
            raise ValueError(f"rows must be 1 or 2 and divide num_drawers ({num_drawers}), got {rows!r}")
        if not isinstance(drawer_contacts, (bool, np.bool_)):
            raise ValueError(f"drawer_contacts must be True or False, got {drawer_contacts!r}")
        left_out = tuple(look_left_out) if isinstance(look_left_out, (tuple, list)) else None
        if left_out is None or any(f not in looks.FACTORS for f in left_out):
            raise ValueError(f"look_left_out must be a tuple of factors from {looks.FACTORS}, got {look_left_out!r}")
        if left_out and appearance != "sealed":
            raise ValueError("look_left_out needs appearance='sealed'")
        if start not in STARTS:
            raise ValueError(f"unknown start {start!r}; expected one of {STARTS}")
        try:
            hand = np.asarray(hand_init, dtype=np.float64).reshape(3)
        except (TypeError, ValueError):
            raise ValueError(f"hand_init must be an xyz position (3 numbers), got {hand_init!r}") from None
        low, high = mocap_low(int(num_drawers), rows), mocap_high(int(num_drawers), rows)
        if not (np.all(np.isfinite(hand)) and np.all(hand >= low) and np.all(hand <= high)):
            raise ValueError(f"hand_init must lie in the mocap box {low.tolist()}..{high.tolist()}, got {hand_init!r}")

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
        self.rows = int(rows)
        self.start = start
        self.hand_init = hand
        self._mocap_low, self._mocap_high = low, high
        self.render_mode = render_mode
        self._random_start = bool(arm.any() or gripper or cabinet.any() or jitter)
        self._random_look = appearance in ("random", "random-texture")
        self._random_texture = appearance == "random-texture"
        self._sealed = appearance == "sealed"
        self._look_left_out = left_out
        self.look_seed: int | None = None  # appearance="sealed": this episode's look seed (the env's; never given to agents)
        look = (scene.Appearance.shifted() if appearance == "shift" else
                scene.Appearance(sealed=True) if self._sealed else scene.Appearance())

        self.model = scene.build_model(self.num_drawers, self.image_size, look, visual_meshes, self.rows,
                                       bool(drawer_contacts))
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
        self._lean = visual_meshes == "lean"
        self._box_geoms = [scene.drawer_visual_geoms(self.model, i) for i in range(self.num_drawers)]
        self._box_group = int(self.model.geom_group[self._box_geoms[0][0]]) if self._box_geoms[0].size else 1
        self._handle_geoms = scene.handle_meshes(self.model, self.num_drawers) if self._lean else None
        if self._sealed:
            self._base_look = (self.model.mat_rgba.copy(), self.model.mat_texid.copy(), self.model.light_dir.copy(),
                               self.model.cam_fovy.copy(), self.model.geom_rgba.copy())
            self._floor_mat = names.index(scene.FLOOR_MATERIAL)
            self._distractors = np.array([self.model.geom(scene.DISTRACTOR_NAME.format(i)).id
                                          for i in range(looks.MAX_DISTRACTORS)])
            self._textures = {n: self.model.texture(n).id for n in scene.SEALED_TEXTURES}
        self._chosen: int | None = None  # the drawer that engaged the interlock this episode
        self._right = self.model.site("rightEndEffector").id
        self._left = self.model.site("leftEndEffector").id
        self._rightpad = self.model.body("rightpad").id
        self._leftpad = self.model.body("leftpad").id
        self._hand = self.model.body("hand").id
        joints = [self.model.joint(n) for n in ARM_JOINTS]
        self._arm_qpos = np.array([j.qposadr[0] for j in joints])
        self._arm_dofs = np.array([j.dofadr[0] for j in joints])
        self._arm_limits = self.model.jnt_range[[j.id for j in joints]].T.copy()
        fingers = [self.model.joint(n) for n in FINGER_JOINTS]
        self._finger_qpos = np.array([j.qposadr[0] for j in fingers])
        self._finger_limits = self.model.jnt_range[[j.id for j in fingers]].T.copy()
        self._start_state = self._settle_start_state()
        self._hand_quat = self.data.xquat[self._hand].copy()  # the settled hand's orientation
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
        allowed = {"task", "look"} if self._sealed else {"task"}
        unknown = set(options) - allowed
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; this env takes {sorted(allowed)}")
        if "look" in options:
            looks.check_look_seed(options["look"])
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
        if self._sealed:  # after the task: the start and task draws are TwoDrawer-v1's
            drawn = int(self.np_random.integers(2**63))
            self.look_seed = looks.check_look_seed(options["look"]) if "look" in options else drawn
            look = looks.draw_look(self.look_seed)
            for factor in self._look_left_out:
                look = look.without(factor)
            self._apply_look(look)
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
            self.data.mocap_pos[0] = np.clip(pos, self._mocap_low, self._mocap_high)
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
        return self._render()

    def _render(self) -> np.ndarray:
        if self._lean:
            self._draw_fewer()
        return self._renderer.render(self.data)

    def _draw_fewer(self) -> None:
        """visual_meshes="lean": the same pixels from fewer draw calls. A closed drawer's box is inside
        its case: not drawn. The handles are one mesh while every drawer is closed; with drawer i open,
        the mesh of every other handle and drawer i's own (several open, interlock=False: each its own)."""
        hidden, shown = scene.HIDDEN_GROUP, self._box_group
        is_open = self.drawer_openings() > CLOSED_OPENING
        groups = self.model.geom_group
        for i, ids in enumerate(self._box_geoms):
            groups[ids] = shown if is_open[i] else hidden
        all_closed, all_but, own = self._handle_geoms
        groups[all_but] = hidden
        groups[all_closed] = shown if not is_open.any() else hidden
        groups[own] = shown if is_open.sum() > 1 else hidden
        if is_open.sum() == 1:
            i = int(np.flatnonzero(is_open)[0])
            groups[all_but[i]] = groups[own[i]] = shown

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
        return scene.handle_positions(self.num_drawers, self.rows) + np.array([*self._cabinet_offset, 0.0])

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
            return {"pixels": self._render(), "proprio": self.proprio()}
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
        target = self.hand_init + rng.uniform(-self.arm_range, self.arm_range)
        effort = rng.uniform(-1.0, -1.0 + self.gripper_range)
        # y only towards the robot: the table's retaining wall right behind the cabinet would push
        # the drawers open
        self._cabinet_offset = rng.uniform(-self.cabinet_range, self.cabinet_range * np.array([1.0, 0.0]))
        light = rng.uniform(1.0 - self.light_jitter, 1.0 + self.light_jitter)
        self.model.body_pos[self._drawer_bodies] = self._drawer_body_pos + np.array([*self._cabinet_offset, 0.0])
        self._light_factor = light
        self.model.light_diffuse[:] = np.clip(self._light_diffuse * light, 0.0, 1.0)
        if self.start == "place":
            self._place_arm(target, effort)
        else:
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

    def _apply_look(self, look: looks.SealedLook) -> None:
        """Show `look` (appearance="sealed"; see `refexp_envs.looks`): materials, lights, camera and
        distractor geoms of the model; nothing that the physics reads."""
        m = self.model
        rgba0, texid0, light_dir0, fovy0, geom_rgba0 = self._base_look
        m.mat_rgba[:] = rgba0
        m.mat_texid[:] = texid0
        tex = self._textures
        if look.drawer_rgb is not None:
            m.mat_rgba[self._drawer_mats, :3] = look.drawer_rgb
        if look.drawer_texture != "none":
            m.mat_texid[self._drawer_mats, mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex[f"sealed_{look.drawer_texture}"]
        if look.table_rgb is not None:
            m.mat_rgba[self._table_mat, :3] = look.table_rgb
        if look.table != "wood":
            m.mat_texid[self._table_mat, mujoco.mjtTextureRole.mjTEXROLE_RGB] = -1 if look.table == "plain" else tex["sealed_checker"]
        if look.floor_rgb is not None:
            m.mat_rgba[self._floor_mat, :3] = look.floor_rgb
        if look.floor != "grid":
            m.mat_texid[self._floor_mat, mujoco.mjtTextureRole.mjTEXROLE_RGB] = -1 if look.floor == "plain" else tex["sealed_floor_checker"]
        colour = self._light_diffuse * self._light_factor * look.light_scale * looks.warmth_rgb(look.light_warmth)
        m.light_diffuse[:] = np.clip(colour, 0.0, 1.0)
        m.light_dir[:] = [looks.light_direction(d, look.light_turn) for d in light_dir0]
        pos = self._camera_pos + np.asarray(look.camera_offset)
        m.cam_pos[self._camera] = pos
        m.cam_quat[self._camera] = scene.camera_quat(pos)
        m.cam_fovy[self._camera] = fovy0[self._camera] if look.fovy is None else look.fovy
        shapes = {"box": mujoco.mjtGeom.mjGEOM_BOX, "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
                  "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER, "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE}
        m.geom_group[self._distractors] = scene.HIDDEN_GROUP
        for g, (kind, (x, y), size, rgb) in zip(self._distractors, look.distractors):
            m.geom_type[g] = shapes[kind]
            m.geom_size[g] = [size, size, size] if kind in ("box", "sphere") else [size, 1.5 * size, 0.0]
            height = {"box": size, "sphere": size, "cylinder": 1.5 * size, "capsule": 2.5 * size}[kind]
            m.geom_pos[g] = [x, y, height]
            m.geom_rbound[g] = 3.0 * size
            m.geom_rgba[g] = [*rgb, 1.0]
            m.geom_group[g] = 1
        if self._renderer is not None:
            self._renderer.sync_textures(m)

    def _drive_arm(self, target: np.ndarray, effort: float) -> None:
        """Hold the mocap at `target` with gripper effort `effort` for 250 physics steps, then
        zero every velocity (as Metaworld's `_reset_hand`)."""
        for _ in range(50):
            self.data.mocap_pos[0] = target
            self.data.mocap_quat[0] = GRIPPER_QUAT
            self.data.ctrl[:] = (effort, -effort)
            mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        self.data.qvel[:] = 0.0

    def _place_arm(self, target: np.ndarray, effort: float) -> None:
        """Put the hand at `target` (to `IK_TOLERANCE`), turned as near the start state's orientation
        as the joint limits allow (damped least-squares IK on the 7 arm joints from the start state's
        pose, the orientation error weighted `IK_ROTATION_WEIGHT`; no physics step), the mocap on it,
        the fingers where effort `effort` holds them, every velocity 0 (start="place": the v2 ids)."""
        m, d = self.model, self.data
        inverse, diff = np.empty(4), np.empty(4)
        jacp, jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
        err = np.empty(6)
        for _ in range(IK_STEPS):
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)  # the Jacobian reads cdof, which mj_kinematics leaves stale
            err[:3] = target - d.xpos[self._hand]
            mujoco.mju_negQuat(inverse, d.xquat[self._hand])
            mujoco.mju_mulQuat(diff, self._hand_quat, inverse)  # the rotation still to go, world frame
            mujoco.mju_quat2Vel(err[3:], diff, 1.0)
            err[3:] *= IK_ROTATION_WEIGHT
            mujoco.mj_jacBody(m, d, jacp, jacr, self._hand)
            jac = np.vstack([jacp, IK_ROTATION_WEIGHT * jacr])[:, self._arm_dofs]
            q = d.qpos[self._arm_qpos]
            for _ in range(3):  # a joint at a limit that the step pushes further out is held still
                step = jac.T @ np.linalg.solve(jac @ jac.T + 1e-8 * np.eye(6), err)
                stuck = ((q <= self._arm_limits[0]) & (step < 0)) | ((q >= self._arm_limits[1]) & (step > 0))
                if not stuck.any():
                    break
                jac = jac * ~stuck
            d.qpos[self._arm_qpos] = np.clip(q + step, *self._arm_limits)
            if np.abs(err[:3]).max() < IK_TOLERANCE and np.abs(step).max() < IK_TOLERANCE:
                break
        mujoco.mj_kinematics(m, d)
        miss = np.abs(target - d.xpos[self._hand]).max()
        if miss > IK_TOLERANCE:
            raise RuntimeError(f"could not place the hand at {target.tolist()} (missed by {miss:.1e} m)")
        d.qpos[self._finger_qpos] = np.clip([effort, -effort], self._finger_limits[0], self._finger_limits[1])
        d.mocap_pos[0] = target
        d.mocap_quat[0] = GRIPPER_QUAT
        d.ctrl[:] = (effort, -effort)
        d.qvel[:] = 0.0

    def _settle_start_state(self) -> np.ndarray:
        """Drive the arm to `hand_init` once (as Metaworld's `_reset_hand`) and keep that state."""
        mujoco.mj_resetData(self.model, self.data)
        self._drive_arm(self.hand_init, -1.0)
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


check_ranges = _ranges  # public name for the other envs' constructors (refexp_envs.desk)
