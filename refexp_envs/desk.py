"""`RefExp/Desk-v2`: the Sawyer at a desk of M mechanisms, with held-out test compositions.

The spec, in Gymnasium's form, is the docstring of `DeskEnv`. The scene is built here from
Metaworld's own assets (its drawer, top-down button box and handle press), with the helpers of
`refexp_envs.scene`; the arm start, proprioception and interlock are those of `DrawersEnv`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import numbers
import os
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from refexp_envs.render import SmallRenderer  # sets MUJOCO_GL before mujoco is imported
from refexp_envs import scene
from refexp_envs.drawers import (ARM_JOINTS, CLOSED_OPENING, FINGER_JOINTS, GRIPPER_QUAT, PROPRIO_HIGH, PROPRIO_LOW, DrawersEnv,
                                 check_ranges)

import metaworld
import mujoco  # noqa: E402

METAWORLD_XYZ = os.path.join(os.path.dirname(metaworld.__file__), "assets", "sawyer_xyz")


@dataclasses.dataclass(frozen=True)
class Mechanism:
    """One kind of mechanism: where its Metaworld asset is, how far its joint travels, when it counts
    as engaged (the interlock) and as succeeded (the reward), and where the hand works it."""

    xml: str  # Metaworld scene file (sawyer_xyz/) that holds the asset
    body: str  # the asset's root body in that file
    joint: str  # its one moving joint (within the asset)
    travel: float  # m the joint moves from rest to its limit
    engage: float  # m: past this the interlock locks every other mechanism
    success: float  # m: at or past this the mechanism is in its success state
    grasp: tuple[float, float, float]  # where the hand works it, relative to the slot's origin (x, 0, 0)
    colour_material: str  # the material an instance's colour recolours
    sink: float = 0.0  # m the asset stands lower than in Metaworld's scene (set into the desk)


MECHANISMS: dict[str, Mechanism] = {
    # Metaworld's drawer: pull the handle bar out (0.16 m) towards the robot.
    "drawer": Mechanism("sawyer_drawer.xml", "drawer", "goal_slidey", 0.16, 0.02, 0.10,
                        (0.0, 0.74, 0.09), "drawer_beige"),
    # Metaworld's top-down button box, set 0.10 m into the desk: press the button down (0.06 m).
    "button": Mechanism("sawyer_button_press_topdown.xml", "box", "btnbox_joint", 0.06, 0.015, 0.04,
                        (0.0, 0.85, 0.2135), "btn_red", sink=0.10),
    # Metaworld's handle press (a lever on a slide): push the grip down (0.10 m).
    "handle": Mechanism("sawyer_handle_press.xml", "box", "handle_slide", 0.10, 0.02, 0.07,
                        (0.0, 0.664, 0.172), "hdlprs_red"),
}
KINDS = tuple(MECHANISMS)
MAX_SLOTS = 4
SLOT_SPACING = 0.25  # m between slot centres (each asset is at most 0.24 m wide)
PARK_HEIGHT = 10.0  # m above the desk where the mechanisms absent from a composition wait (hidden)
PALETTE = (None, (0.20, 0.45, 0.80), (0.25, 0.65, 0.30), (0.80, 0.45, 0.15))
"""An instance's colour: 0 keeps Metaworld's colour of its `colour_material`, 1-3 blue, green, orange."""

_ABBREV = {"D": "drawer", "B": "button", "H": "handle"}


def _table(rows: tuple[tuple[str, tuple[int, ...]], ...]) -> tuple[tuple[tuple[str, int], ...], ...]:
    return tuple(tuple((_ABBREV[k], c) for k, c in zip(kinds, colours)) for kinds, colours in rows)


DESK_COMPOSITIONS = _table((
    # slot 0 (the robot's left) ... slot 3; D drawer, B button, H handle; then each instance's colour
    ("DHBH", (0, 1, 2, 3)), ("DBHH", (2, 2, 2, 1)), ("BDHD", (2, 2, 2, 0)), ("BHDD", (0, 0, 1, 1)),
    ("HBHD", (1, 3, 0, 1)), ("HBDH", (2, 1, 2, 2)), ("DBHB", (3, 2, 0, 0)), ("HDBB", (0, 3, 0, 2)),
    ("HBBD", (2, 1, 0, 0)), ("HBDD", (3, 2, 0, 1)), ("DDBH", (2, 2, 3, 1)), ("BDHB", (2, 0, 1, 3)),
    # 12-15: Desk-v2's test compositions (arrangements no train composition has)
    ("DHBB", (3, 2, 1, 2)), ("BHDH", (0, 2, 2, 3)), ("BBDH", (0, 0, 0, 1)), ("DBBH", (3, 0, 1, 2)),
))
"""Desk-v2's 16 compositions: each slot's (kind, colour), every kind present in each. Drawn once, by
`draw_compositions()`, from the 36 arrangements of 4 slots that hold all 3 kinds, colours likewise."""
DESK_TEST_COMPOSITIONS = (12, 13, 14, 15)


def draw_compositions(count: int = 16, seed: int = 25) -> tuple[tuple[tuple[str, int], ...], ...]:
    """How `DESK_COMPOSITIONS` was drawn (a test checks that it still gives the table): `count` of the
    arrangements of 4 slots that hold every kind (in itertools.product order, a random permutation),
    each slot's colour uniform in `range(len(PALETTE))`, from numpy's default_rng(seed)."""
    import itertools

    arrangements = [p for p in itertools.product(range(len(KINDS)), repeat=MAX_SLOTS) if len(set(p)) == len(KINDS)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(arrangements))[:count]
    return tuple(tuple((("drawer", "button", "handle")[k], int(c)) for k, c in
                       zip(arrangements[i], rng.integers(len(PALETTE), size=MAX_SLOTS))) for i in order)


def check_compositions(compositions, test_compositions) -> tuple[tuple[tuple[tuple[str, int], ...], ...], tuple[int, ...]]:
    """Validated compositions (each M >= 2 slots of (kind, colour), every one the same M <= 4) and
    test split (a non-empty set of composition indices that leaves at least one train composition)."""
    try:
        comps = tuple(tuple((str(kind), int(colour)) for kind, colour in c) for c in compositions)
    except (TypeError, ValueError):
        raise ValueError("compositions must be a sequence of compositions, each a sequence of (kind, colour) pairs, "
                         f"got {compositions!r}") from None
    if not comps:
        raise ValueError("compositions must not be empty")
    sizes = {len(c) for c in comps}
    if len(sizes) != 1:
        raise ValueError(f"every composition must have the same number of mechanisms M, got sizes {sorted(sizes)}")
    m = sizes.pop()
    if not 2 <= m <= MAX_SLOTS:
        raise ValueError(f"a composition needs M >= 2 mechanisms (at most {MAX_SLOTS} slots), got M = {m}")
    for c in comps:
        for kind, colour in c:
            if kind not in MECHANISMS:
                raise ValueError(f"unknown mechanism kind {kind!r}; expected one of {KINDS}")
            if not 0 <= colour < len(PALETTE):
                raise ValueError(f"colour must be an int in range({len(PALETTE)}), got {colour!r}")
    if isinstance(test_compositions, (str, bytes)) or not hasattr(test_compositions, "__iter__"):
        raise ValueError(f"test_compositions must be a sequence of composition indices, got {test_compositions!r}")
    test = tuple(test_compositions)
    if not test:
        raise ValueError("a split needs at least one test composition (test_compositions is empty)")
    if any(isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < len(comps) for i in test):
        raise ValueError(f"test_compositions must be indices in range({len(comps)}), got {test_compositions!r}")
    if len(set(test)) != len(test):
        raise ValueError(f"test_compositions has repeats: {test_compositions!r}")
    if len(set(test)) == len(comps):
        raise ValueError("a split needs at least one train composition: every composition is a test composition")
    return comps, tuple(sorted(int(i) for i in test))


def slot_xs(num_slots: int) -> np.ndarray:
    """x of each slot's centre, slot 0 on the robot's left (negative x)."""
    return (np.arange(num_slots) - (num_slots - 1) / 2.0) * SLOT_SPACING


def mechanism_body(slot: int, kind: str) -> str:
    return f"slot{slot}_{kind}_{MECHANISMS[kind].body}"


def build_desk_model(num_slots: int, image_size: int) -> mujoco.MjModel:
    """A fresh copy of the (per-process cached) desk: every kind in every slot, each with its
    interlock equality `slot{s}_{kind}_lock` (off); the env parks and hides those a composition lacks."""
    return copy.copy(_compile_desk(num_slots, image_size))


@functools.lru_cache(maxsize=4)
def _compile_desk(num_slots: int, image_size: int) -> mujoco.MjModel:
    spec = mujoco.MjSpec.from_file(scene.SAWYER_DRAWER_XML)
    spec.detach_body(spec.body("drawer"))
    spec.site("goal").delete()
    for s, x in enumerate(slot_xs(num_slots)):
        for kind, mech in MECHANISMS.items():
            child = mujoco.MjSpec.from_file(os.path.join(METAWORLD_XYZ, mech.xml))
            if kind == "handle":
                link = child.body("handle_link")
                link.joints[0].name = mech.joint  # unnamed in Metaworld's file
                link.gravcomp = 1.0  # it stays where the hand leaves it (Metaworld's grip is 2 g on a damped slide)
            frame = spec.worldbody.add_frame(pos=[x, 0.0, -mech.sink])
            frame.attach_body(child.body(mech.body), f"slot{s}_{kind}_", "")
            lock = spec.add_equality(name=f"slot{s}_{kind}_lock", type=mujoco.mjtEq.mjEQ_JOINT)
            lock.objtype = mujoco.mjtObj.mjOBJ_JOINT
            lock.name1 = f"slot{s}_{kind}_{mech.joint}"
            lock.data[:5] = 0.0
            lock.solref = [0.005, 1.0]
            lock.solimp = [0.99, 0.999, 0.001, 0.5, 2.0]
            lock.active = False
    cam_pos = scene.camera_position(num_slots)
    cam = spec.worldbody.add_camera(name=scene.CAMERA_NAME, pos=cam_pos, fovy=50.0)
    cam.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
    cam.alt.xyaxes = scene.look_at(cam_pos, scene.CAMERA_TARGET)
    # Lean rendering, as SixDrawer-v2: decimated arm and drawer meshes, never-seen objects hidden.
    scene.use_decimated_visual_meshes(spec)
    for name in scene.NEVER_SEEN_BODIES:
        for geom in spec.body(name).geoms:
            geom.group = scene.HIDDEN_GROUP
    for geom in spec.body("RetainingWall").geoms:
        if abs(geom.pos[0]) > 0.5:
            geom.group = scene.HIDDEN_GROUP
    for site in spec.sites:
        site.group = scene.HIDDEN_GROUP
    _drop_unused_assets(spec)
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0
    spec.visual.global_.offwidth = image_size
    spec.visual.global_.offheight = image_size
    return spec.compile()


def _drop_unused_assets(spec: mujoco.MjSpec) -> None:
    """Delete the meshes, materials and textures no geom uses: each attached Metaworld file brings its
    own copy of every Sawyer mesh (12 unused copies: ~1.8 million mesh BVH nodes, which MuJoCo walks
    at every collision pass, compiling took ~5 s). Physics and picture are unchanged."""
    geoms = list(spec.geoms)
    meshes = {g.meshname for g in geoms if g.type == mujoco.mjtGeom.mjGEOM_MESH}
    for mesh in list(spec.meshes):
        if mesh.name not in meshes:
            mesh.delete()
    materials = {g.material for g in geoms} | {s.material for s in spec.sites}
    for mat in list(spec.materials):
        if mat.name not in materials:
            mat.delete()
    textures = {t for mat in spec.materials for t in mat.textures if t}
    for tex in list(spec.textures):
        if tex.name not in textures and tex.name != "skybox":
            tex.delete()


MOCAP_LOW = np.array([-0.45, 0.40, 0.05])
MOCAP_HIGH = np.array([0.45, 0.90, 0.45])
HAND_INIT = (0.0, 0.50, 0.36)  # the gripper centre is ~0.08 m below the hand: ~0.28 m, above every mechanism


class DeskEnv(gym.Env):
    """A Sawyer arm at a desk of M mechanisms (drawers, buttons, handles), and a hidden paying one.

    ## Description
    A meta-RL task family with held-out test compositions, built from Metaworld's Sawyer and its
    drawer, top-down button box and handle press (`refexp_envs.desk`). A *composition* is the desk:
    which kind of mechanism stands in each of M slots (0.25 m apart, slot 0 on the robot's left) and
    each instance's colour. The hidden task is an int `t` in `range(len(compositions) * M)`: the
    desk is composition `t // M` and mechanism `t % M` (its slot) pays. Within a composition every
    slot pays for exactly one task, so in a trial (K episodes of one task, the harness drawing tasks
    evenly) each mechanism present pays with probability 1/M and no instance gives the task away;
    an agent must find the paying one by trying mechanisms across episodes (one attempt per
    episode, see Interlock): the Bayes-optimal success in episode k is min(1, k/M).
    `RefExp/Desk-v2`: 16 compositions of M = 4 (`DESK_COMPOSITIONS`: 3 kinds, every kind on every
    desk, one twice), 64 tasks, K = 4; compositions 12-15 are the test split (`test_compositions`,
    fixed in the registry entry): their tasks are in no dataset. `split_of(task)` says "train" or
    "test". The composition is visible (it is the desk); the paying mechanism never is.
    `reset(options={"task": t})` sets the task; without it the task is drawn from `np_random`
    after the start. `env.unwrapped.task` reads it (for dataset collection and oracle agents only).

    | kind     | Metaworld asset                       | engage (interlock) | success            |
    |----------|---------------------------------------|--------------------|--------------------|
    | `drawer` | `sawyer_drawer.xml`: pull out 0.16 m  | pulled 0.02 m      | pulled >= 0.10 m   |
    | `button` | `sawyer_button_press_topdown.xml` (set 0.10 m into the desk): press 0.06 m | pressed 0.015 m | pressed >= 0.04 m |
    | `handle` | `sawyer_handle_press.xml`: push the grip down 0.10 m | pushed 0.02 m | pushed >= 0.07 m |

    ## Arguments
    | argument          | default              | meaning                                              |
    |-------------------|----------------------|------------------------------------------------------|
    | `compositions`    | `DESK_COMPOSITIONS`  | the desks: a sequence of compositions, each M (2 to 4) (kind, colour) pairs, kind in `KINDS`, colour in `range(4)` (`PALETTE`) |
    | `test_compositions` | (12, 13, 14, 15)   | indices of the held-out compositions: at least one, and not all |
    | `obs_type`        | `"pixels"`           | `"pixels"` or `"state"` (see Observation Space)      |
    | `image_size`      | 64                   | side of the square image, int in [8, 1024]           |
    | `horizon`         | 50                   | agent steps per episode (truncation)                 |
    | `action_repeat`   | 4                    | physics control steps per agent step                 |
    | `frame_skip`      | 5                    | physics steps of 2.5 ms per control step             |
    | `action_scale`    | 0.01                 | metres the mocap moves per control step at action 1  |
    | `arm_range`       | (0.08, 0.04, 0.04)   | half-widths (m) of the uniform hand start offset     |
    | `gripper_range`   | 2.0                  | width of the gripper start effort range [-1, -1 + range] |
    | `light_jitter`    | 0.15                 | half-width of the light brightness factor 1 +- jitter |
    | `hand_init`       | (0.0, 0.50, 0.36)    | the centre (m) of the hand's start box               |
    | `interlock`       | True                 | lock the other mechanisms once one is engaged        |
    | `render_mode`     | None                 | None or `"rgb_array"` (the observation camera)       |

    Bad input is a `ValueError`: an unknown mechanism kind, M < 2 (or > 4), compositions of
    different M, a split with no test composition (or no train composition).

    ## Action Space
    `Box(-1, 1, (4,), float32)`: end-effector xyz velocity (the mocap moves `action * action_scale`
    m per control step, clipped to the box (-0.45, 0.40, 0.05)..(0.45, 0.90, 0.45) m) and the gripper
    effort (-1 open, +1 closed). Each agent step repeats the action `action_repeat` times.

    ## Observation Space
    - `"pixels"`: `Dict(pixels=Box(0, 255, (S, S, 3), uint8), proprio=Box(float32, (4,)))`, the
      image from a camera behind the desk facing the arm (DrawersEnv's for 4 drawers).
    - `"state"`: `Dict(mechanisms=Box(0, 1, (M,)), kinds=Box(0, 1, (M, 3)), targets=Box(-2, 2, (M, 3)),
      proprio=...)`: each slot's travel as a fraction of its full travel, its kind one-hot (in
      `KINDS` order) and where the hand works it (world m): the composition, never the task.
    - `proprio`: gripper centre xyz (m) and gripper opening in [0, 1].

    ## Rewards
    1.0 at every step while the paying mechanism is in its success state (table above), else 0.0.
    `info["success"]` mirrors it; `info` never holds the task.

    ## Starting State
    The hand is placed (no physics step, as SixDrawer-v2's `start="place"`) at `hand_init` + an
    offset, every mechanism at rest. The reset seed alone draws, in this order from `np_random`: the
    hand offset ~ U(-arm_range, arm_range), the gripper effort ~ U(-1, -1 + gripper_range), the
    light factor ~ U(1 - light_jitter, 1 + light_jitter) (every light's diffuse colour, clipped to
    1); then the task (unless given). The hand is put exactly (1e-5 m) at its drawn position by
    inverse kinematics, turned as in the settled start at `hand_init`, the mocap on it, each finger
    where the effort holds it, every velocity zero. The desk itself is the task's composition: the
    same seed gives the same start for every task, and the same first frame for the M tasks of one
    composition.

    ## Episode End
    No termination; truncation after `horizon` steps (the registered id also sets
    `max_episode_steps` = 50).

    ## Interlock
    Once one mechanism is engaged (moved past its engage travel, table above), every other locks (a
    stiff joint equality) until the next reset: one attempt per episode, as on the drawer envs.

    ## Version History
    - v2 (`RefExp/Desk-v2`, new): 16 compositions of 4 mechanisms of 3 kinds, 64 tasks, K = 4,
      test compositions 12-15; placed start; decimated arm and drawer meshes.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    # The arm, its start and the proprioception are DrawersEnv's.
    proprio = DrawersEnv.proprio
    _place_arm = DrawersEnv._place_arm
    _drive_arm = DrawersEnv._drive_arm
    _settle_start_state = DrawersEnv._settle_start_state
    _reset_mocap_weld = DrawersEnv._reset_mocap_weld

    def __init__(
        self,
        compositions=DESK_COMPOSITIONS,
        test_compositions=DESK_TEST_COMPOSITIONS,
        obs_type: str = "pixels",
        image_size: int = 64,
        horizon: int = 50,
        action_repeat: int = 4,
        frame_skip: int = 5,
        action_scale: float = 0.01,
        arm_range: tuple[float, float, float] = (0.08, 0.04, 0.04),
        gripper_range: float = 2.0,
        light_jitter: float = 0.15,
        hand_init: tuple[float, float, float] = HAND_INIT,
        interlock: bool = True,
        render_mode: str | None = None,
    ):
        comps, test = check_compositions(compositions, test_compositions)
        if obs_type not in ("pixels", "state"):
            raise ValueError(f"unknown obs_type {obs_type!r}; expected one of ('pixels', 'state')")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; expected None or 'rgb_array'")
        if isinstance(image_size, bool) or not (isinstance(image_size, numbers.Integral) and 8 <= image_size <= 1024):
            raise ValueError(f"image_size must be an int in [8, 1024], got {image_size!r}")
        for name, value in (("horizon", horizon), ("action_repeat", action_repeat), ("frame_skip", frame_skip)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not (isinstance(action_scale, numbers.Real) and 0 < action_scale <= 0.1):
            raise ValueError(f"action_scale must be a number in (0, 0.1] (metres per control step), got {action_scale!r}")
        if not isinstance(interlock, (bool, np.bool_)):
            raise ValueError(f"interlock must be True or False, got {interlock!r}")
        arm = check_ranges("arm_range", arm_range, 3, 0.15)
        (gripper,) = check_ranges("gripper_range", (gripper_range,), 1, 2.0)
        (jitter,) = check_ranges("light_jitter", (light_jitter,), 1, 0.499)
        try:
            hand = np.asarray(hand_init, dtype=np.float64).reshape(3)
        except (TypeError, ValueError):
            raise ValueError(f"hand_init must be an xyz position (3 numbers), got {hand_init!r}") from None
        if not (np.all(np.isfinite(hand)) and np.all(hand >= MOCAP_LOW) and np.all(hand <= MOCAP_HIGH)):
            raise ValueError(f"hand_init must lie in the mocap box {MOCAP_LOW.tolist()}..{MOCAP_HIGH.tolist()}, "
                             f"got {hand_init!r}")

        self.compositions = comps
        self.test_compositions = test
        self.num_mechanisms = len(comps[0])
        self.obs_type = obs_type
        self.image_size = int(image_size)
        self.horizon = int(horizon)
        self.action_repeat = int(action_repeat)
        self.frame_skip = int(frame_skip)
        self.action_scale = float(action_scale)
        self.arm_range, self.gripper_range, self.light_jitter = arm, gripper, jitter
        self.hand_init = hand
        self.interlock = bool(interlock)
        self.render_mode = render_mode
        self._mocap_low, self._mocap_high = MOCAP_LOW, MOCAP_HIGH

        m = self.num_mechanisms
        self.model = build_desk_model(m, self.image_size)
        self.data = mujoco.MjData(self.model)
        self._reset_mocap_weld()
        model = self.model
        xs = slot_xs(m)
        # (slot, kind) -> root body, joint qpos address, lock, drawn geoms (with their groups), colour material
        self._root = np.zeros((m, len(KINDS)), dtype=int)
        self._qpos = np.zeros((m, len(KINDS)), dtype=int)
        self._lock = np.zeros((m, len(KINDS)), dtype=int)
        self._geoms: dict[tuple[int, int], np.ndarray] = {}
        self._mat = np.zeros((m, len(KINDS)), dtype=int)
        for s in range(m):
            for k, (kind, mech) in enumerate(MECHANISMS.items()):
                self._root[s, k] = model.body(mechanism_body(s, kind)).id
                self._qpos[s, k] = model.joint(f"slot{s}_{kind}_{mech.joint}").qposadr[0]
                self._lock[s, k] = model.equality(f"slot{s}_{kind}_lock").id
                bodies = self._subtree(self._root[s, k])
                self._geoms[s, k] = np.array([g for g in range(model.ngeom) if model.geom_bodyid[g] in bodies
                                              and model.geom_group[g] < scene.HIDDEN_GROUP], dtype=int)
                self._mat[s, k] = model.material(f"slot{s}_{kind}_{mech.colour_material}").id
        drawer = KINDS.index("drawer")
        self._boxes = [np.array([g for g in self._geoms[s, drawer] if model.geom_bodyid[g] == model.body(f"slot{s}_drawer_drawer_link").id
                                 and not model.geom(g).name.endswith("objGeom_visual")], dtype=int) for s in range(m)]
        self._home = model.body_pos[self._root].copy()  # (M, kinds, 3): each asset in its slot
        self._drawn_group = model.geom_group.copy()
        self._contype, self._conaffinity = model.geom_contype.copy(), model.geom_conaffinity.copy()
        self._all_geoms = {key: np.array([g for g in range(model.ngeom) if model.geom_bodyid[g] in self._subtree(self._root[key])],
                                         dtype=int) for key in self._geoms}
        self._mat_rgba = model.mat_rgba.copy()
        self._travel = np.array([mech.travel for mech in MECHANISMS.values()])
        self._engage = np.array([mech.engage for mech in MECHANISMS.values()])
        self._success = np.array([mech.success for mech in MECHANISMS.values()])
        self._grasp = np.array([[np.array(mech.grasp) + [xs[s], 0.0, 0.0] for mech in MECHANISMS.values()]
                                for s in range(m)])  # (M, kinds, 3) world
        self._light_diffuse = model.light_diffuse.copy()
        self._light_factor = 1.0

        self._right = model.site("rightEndEffector").id
        self._left = model.site("leftEndEffector").id
        self._rightpad = model.body("rightpad").id
        self._leftpad = model.body("leftpad").id
        self._hand = model.body("hand").id
        joints = [model.joint(n) for n in ARM_JOINTS]
        self._arm_qpos = np.array([j.qposadr[0] for j in joints])
        self._arm_dofs = np.array([j.dofadr[0] for j in joints])
        self._arm_limits = model.jnt_range[[j.id for j in joints]].T.copy()
        fingers = [model.joint(n) for n in FINGER_JOINTS]
        self._finger_qpos = np.array([j.qposadr[0] for j in fingers])
        self._finger_limits = model.jnt_range[[j.id for j in fingers]].T.copy()
        self._composition = -1
        self._kinds = np.zeros(m, dtype=int)
        self._show(0)
        self._start_state = self._settle_start_state()
        self._hand_quat = self.data.xquat[self._hand].copy()
        self._renderer: SmallRenderer | None = None
        if obs_type == "pixels" or render_mode == "rgb_array":
            self._renderer = SmallRenderer(model, self.image_size, scene.CAMERA_NAME)

        proprio = spaces.Box(PROPRIO_LOW, PROPRIO_HIGH, dtype=np.float32)
        if obs_type == "pixels":
            pixels = spaces.Box(0, 255, shape=(self.image_size, self.image_size, 3), dtype=np.uint8)
            self.observation_space = spaces.Dict({"pixels": pixels, "proprio": proprio})
        else:
            self.observation_space = spaces.Dict({
                "mechanisms": spaces.Box(0.0, 1.0, shape=(m,), dtype=np.float32),
                "kinds": spaces.Box(0.0, 1.0, shape=(m, len(KINDS)), dtype=np.float32),
                "targets": spaces.Box(-2.0, 2.0, shape=(m, 3), dtype=np.float32),
                "proprio": proprio,
            })
        self.action_space = spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self._task = 0
        self._t = 0
        self._chosen: int | None = None
        self._needs_reset = True

    def _subtree(self, root: int) -> set[int]:
        return {b for b in range(self.model.nbody) if self._ancestor(b, root)}

    def _ancestor(self, body: int, root: int) -> bool:
        while body != 0:
            if body == root:
                return True
            body = self.model.body_parentid[body]
        return False

    # ------------------------------------------------------------------ tasks and the split
    @property
    def num_tasks(self) -> int:
        return len(self.compositions) * self.num_mechanisms

    @property
    def task(self) -> int:
        """The hidden task (composition * M + paying slot): for dataset collection and oracle agents only."""
        return self._task

    @property
    def composition(self) -> int:
        """The index of this episode's desk (visible: it is what the camera shows)."""
        return self._composition

    def split_of(self, task: int) -> str:
        """"test" for a task of a held-out composition, else "train"."""
        return "test" if int(task) // self.num_mechanisms in self.test_compositions else "train"

    def kinds(self) -> tuple[str, ...]:
        """The kind of mechanism in each slot of this episode's desk."""
        return tuple(KINDS[k] for k in self._kinds)

    def targets(self) -> np.ndarray:
        """Where the hand works each slot's mechanism `(M, 3)` (world m, at rest)."""
        return self._grasp[np.arange(self.num_mechanisms), self._kinds].copy()

    def layout(self) -> dict:
        """This episode's desk, for the harness's scripted reference agents (`uses_layout`): each
        slot's kind and where the hand works it. The composition, never the task."""
        return {"kinds": self.kinds(), "targets": self.targets()}

    def travels(self) -> np.ndarray:
        """How far each slot's mechanism has moved from rest, in m `(M,)`."""
        idx = self._qpos[np.arange(self.num_mechanisms), self._kinds]
        return -self.data.qpos[idx]

    def engaged(self) -> np.ndarray:
        """Which slots' mechanisms are past their engage travel `(M,)` bool."""
        return self.travels() >= self._engage[self._kinds]

    def succeeded(self) -> np.ndarray:
        """Which slots' mechanisms are in their success state `(M,)` bool."""
        return self.travels() >= self._success[self._kinds] - 1e-9

    def _show(self, composition: int) -> None:
        """Put composition `composition`'s mechanisms in their slots (colours included); park and
        hide every other and take it out of collision detection (the model's body positions, geom
        groups, contact bits and material colours only)."""
        if composition == self._composition:
            return
        model = self.model
        comp = self.compositions[composition]
        for s, (kind, colour) in enumerate(comp):
            for k in range(len(KINDS)):
                present = KINDS[k] == kind
                model.body_pos[self._root[s, k]] = self._home[s, k] + (0 if present else [0.0, 0.0, PARK_HEIGHT + 2 * k])
                g = self._geoms[s, k]
                model.geom_group[g] = self._drawn_group[g] if present else scene.HIDDEN_GROUP
                g = self._all_geoms[s, k]  # a parked mechanism takes no part in collisions
                model.geom_contype[g] = self._contype[g] if present else 0
                model.geom_conaffinity[g] = self._conaffinity[g] if present else 0
            k = KINDS.index(kind)
            self._kinds[s] = k
            rgba = self._mat_rgba[self._mat[s, k]].copy()
            if PALETTE[colour] is not None:
                rgba[:3] = PALETTE[colour]
            model.mat_rgba[self._mat[s, k]] = rgba
        self._composition = composition

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._needs_reset = True
        if isinstance(seed, bool) or (isinstance(seed, int) and seed >= 2**64):
            raise gym.error.Error(f"Seed must be a python integer in [0, 2**64), actual value: {seed!r}")
        super().reset(seed=seed)
        if options is not None and not isinstance(options, Mapping):
            raise ValueError(f"reset options must be a dict such as {{'task': 1}}, got {type(options).__name__} {options!r}")
        options = dict(options or {})
        unknown = set(options) - {"task"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; this env takes ['task']")
        if "task" in options:
            task = options["task"]
            if isinstance(task, bool) or not isinstance(task, numbers.Integral):
                raise ValueError(f"task must be an int in range({self.num_tasks}), got {task!r}")
            if not 0 <= int(task) < self.num_tasks:
                raise ValueError(f"task {task} out of range: this env has tasks 0..{self.num_tasks - 1}")
        mujoco.mj_setState(self.model, self.data, self._start_state, mujoco.mjtState.mjSTATE_INTEGRATION)
        self.data.eq_active[self._lock.ravel()] = 0
        self.data.qpos[self._qpos.ravel()] = 0.0  # every mechanism at rest
        self._chosen = None
        rng = self.np_random
        target = self.hand_init + rng.uniform(-self.arm_range, self.arm_range)
        effort = rng.uniform(-1.0, -1.0 + self.gripper_range)
        self._light_factor = rng.uniform(1.0 - self.light_jitter, 1.0 + self.light_jitter)
        self.model.light_diffuse[:] = np.clip(self._light_diffuse * self._light_factor, 0.0, 1.0)
        self._task = int(options["task"]) if "task" in options else int(rng.integers(self.num_tasks))
        self._show(self._task // self.num_mechanisms)
        self._place_arm(target, effort)
        mujoco.mj_forward(self.model, self.data)
        self._t = 0
        self._needs_reset = False
        return self._observation(), {"success": False}

    def step(self, action):
        if self._needs_reset:
            raise gym.error.ResetNeeded(
                "call env.reset() before env.step(): this env was never reset, or its last reset raised an error")
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
        success = bool(self.succeeded()[self._task % self.num_mechanisms])
        truncated = self._t >= self.horizon
        return self._observation(), float(success), False, truncated, {"success": success}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return self._render()

    def _render(self) -> np.ndarray:
        """A closed drawer's sliding box is inside its case: not drawn (the same pixels, fewer triangles)."""
        travel = self.travels()
        for s in np.flatnonzero(self._kinds == KINDS.index("drawer")):
            g = self._boxes[s]
            self.model.geom_group[g] = self._drawn_group[g] if travel[s] > CLOSED_OPENING else scene.HIDDEN_GROUP
        return self._renderer.render(self.data)

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # ------------------------------------------------------------------ helpers
    def _update_interlock(self) -> None:
        if self._chosen is not None or not self.interlock:
            return
        past = self.travels() / self._engage[self._kinds]
        if past.max() >= 1.0:
            self._chosen = int(np.argmax(past))
            self.data.eq_active[self._lock.ravel()] = 1
            self.data.eq_active[self._lock[self._chosen, self._kinds[self._chosen]]] = 0

    def _observation(self) -> dict[str, np.ndarray]:
        if self.obs_type == "pixels":
            return {"pixels": self._render(), "proprio": self.proprio()}
        m = self.num_mechanisms
        travel = self.travels() / self._travel[self._kinds]
        return {
            "mechanisms": np.clip(travel, 0.0, 1.0).astype(np.float32),
            "kinds": np.eye(len(KINDS), dtype=np.float32)[self._kinds].reshape(m, len(KINDS)),
            "targets": self.targets().astype(np.float32),
            "proprio": self.proprio(),
        }
