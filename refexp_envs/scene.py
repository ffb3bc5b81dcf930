"""Builds the MuJoCo model of a Sawyer arm in front of N drawers from Metaworld's own assets.

Metaworld ships one Sawyer + one drawer scene (`sawyer_xyz/sawyer_drawer.xml`). We load it with
`mujoco.MjSpec`, detach its drawer and goal marker, and attach N copies of the drawer body side by
side. Nothing in the scene differs between tasks: the task only decides which drawer pays.

With `visual_meshes="decimated"` (the v1 envs) every mesh geom listed in
`refexp_envs/assets/visual_meshes_v1.npz` is drawn from a decimated copy: the original geom moves
to the hidden geom group 3 (it keeps its collision and mass) and a massless, non-colliding twin
with the decimated mesh takes its place in the picture.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os

import metaworld
import mujoco
import numpy as np

SAWYER_DRAWER_XML = os.path.join(
    os.path.dirname(metaworld.__file__), "assets", "sawyer_xyz", "sawyer_drawer.xml"
)

DRAWER_Y = 0.9
"""y of every drawer body (Metaworld's default drawer position)."""
HANDLE_OFFSET = np.array([0.0, -0.16, 0.09])
"""Closed-drawer handle bar centre relative to the drawer body (case + link + bar offsets)."""
DRAWER_SPACING = 0.25
CAMERA_NAME = "refexp_cam"  # behind the drawers, facing the arm: no occlusion of the drawers
CAMERA_TARGET = np.array([0.0, 0.6, 0.05])  # the point the camera looks at
DRAWER_MATERIALS = ("drawer_beige", "drawer_red")  # what an appearance's drawer colour recolours
TABLE_MATERIAL = "table_wood"  # what an appearance's table colour recolours (dropping its texture)
VISUAL_MESHES = ("full", "decimated")
DECIMATED_MESHES_NPZ = os.path.join(os.path.dirname(__file__), "assets", "visual_meshes_v1.npz")
HIDDEN_GROUP = 3  # a geom group the default renderer options do not draw


@dataclasses.dataclass(frozen=True)
class Appearance:
    """Everything that changes how the scene looks but not how it behaves.

    The default is Metaworld's look. `shifted()` is the test-time visual distribution shift of
    `RefExp/TwoDrawerShift-v0`.
    """

    drawer_rgba: tuple[float, float, float, float] | None = None  # None: Metaworld's green
    table_rgba: tuple[float, float, float, float] | None = None  # None: Metaworld's wood texture
    light_scale: float = 1.0  # multiplies every light's diffuse colour
    camera_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)  # metres, added to the camera pos

    @staticmethod
    def shifted() -> "Appearance":
        return Appearance(
            drawer_rgba=(0.75, 0.45, 0.25, 1.0),
            table_rgba=(0.35, 0.38, 0.45, 1.0),
            light_scale=1.35,
            camera_offset=(0.03, -0.02, 0.02),
        )


def drawer_xs(num_drawers: int) -> np.ndarray:
    """x positions of the drawers, centred on the table, left (negative x) first."""
    return (np.arange(num_drawers) - (num_drawers - 1) / 2.0) * DRAWER_SPACING


def handle_positions(num_drawers: int) -> np.ndarray:
    """World positions `(N, 3)` of each closed drawer's handle bar centre."""
    xs = drawer_xs(num_drawers)
    return np.stack([np.array([x, DRAWER_Y, 0.0]) + HANDLE_OFFSET for x in xs])


def _look_at(pos: np.ndarray, target: np.ndarray) -> np.ndarray:
    """MuJoCo `xyaxes` of a camera at `pos` looking at `target` with world z up."""
    forward = target - pos
    forward = forward / np.linalg.norm(forward)
    x = np.cross(forward, [0.0, 0.0, 1.0])
    x = x / np.linalg.norm(x)
    y = np.cross(x, forward)
    return np.concatenate([x, y])


def camera_quat(pos: np.ndarray) -> np.ndarray:
    """MuJoCo quaternion of a camera at `pos` looking at `CAMERA_TARGET` (what `xyaxes` compiles to)."""
    axes = _look_at(np.asarray(pos, dtype=np.float64), CAMERA_TARGET)
    rot = np.column_stack([axes[:3], axes[3:], np.cross(axes[:3], axes[3:])])
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rot.ravel())
    return quat


def drawer_body_name(i: int) -> str:
    """The root body of drawer i (case + sliding drawer); moving it moves the whole drawer."""
    return f"drawer{i}_drawer"


def build_model(
    num_drawers: int, image_size: int, appearance: Appearance, visual_meshes: str = "full"
) -> mujoco.MjModel:
    """Compile the scene. Drawer i's slide joint is `drawer{i}_goal_slidey` (0 closed, -0.16 open);
    the inactive joint equality `drawer{i}_lock` can hold it shut. `visual_meshes`: "full"
    (Metaworld's meshes, v0) or "decimated" (v1, see the module docstring).

    Returns a fresh copy (envs change their model's lights and drawer positions at reset) of a
    compilation cached per process: copying takes ~0.08 s here, compiling ~0.55 s, and the harness
    makes one env per trial of a batch."""
    return copy.copy(_compile(num_drawers, image_size, appearance, visual_meshes))


@functools.lru_cache(maxsize=8)
def _compile(num_drawers: int, image_size: int, appearance: Appearance, visual_meshes: str) -> mujoco.MjModel:
    if num_drawers < 1:
        raise ValueError(f"num_drawers must be >= 1, got {num_drawers}")
    if visual_meshes not in VISUAL_MESHES:
        raise ValueError(f"unknown visual_meshes {visual_meshes!r}; expected one of {VISUAL_MESHES}")
    spec = mujoco.MjSpec.from_file(SAWYER_DRAWER_XML)
    spec.detach_body(spec.body("drawer"))
    spec.site("goal").delete()  # Metaworld's green goal marker would be a per-scene cue

    for i, x in enumerate(drawer_xs(num_drawers)):
        child = mujoco.MjSpec.from_file(SAWYER_DRAWER_XML)
        frame = spec.worldbody.add_frame(pos=[x, 0.0, 0.0])  # the body keeps its own y = 0.9
        frame.attach_body(child.body("drawer"), f"drawer{i}_", "")
        # The interlock (see drawers.py): an equality that holds this drawer shut, off at start.
        lock = spec.add_equality(name=f"drawer{i}_lock", type=mujoco.mjtEq.mjEQ_JOINT)
        lock.objtype = mujoco.mjtObj.mjOBJ_JOINT
        lock.name1 = f"drawer{i}_goal_slidey"
        lock.data[:5] = 0.0
        lock.solref = [0.005, 1.0]  # stiff (2 physics steps): the arm cannot pull it open
        lock.solimp = [0.99, 0.999, 0.001, 0.5, 2.0]
        lock.active = False

    back = 0.12 * (num_drawers - 2)  # step back to keep every drawer in view
    cam_pos = np.array([0.0, 1.25 + back, 0.9 + 0.7 * back]) + np.asarray(appearance.camera_offset)
    cam = spec.worldbody.add_camera(name=CAMERA_NAME, pos=cam_pos, fovy=50.0)
    cam.alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
    cam.alt.xyaxes = _look_at(cam_pos, CAMERA_TARGET)

    if appearance.drawer_rgba is not None:
        for mat in spec.materials:
            if any(name in mat.name for name in DRAWER_MATERIALS):
                mat.rgba = appearance.drawer_rgba
    if appearance.table_rgba is not None:
        for mat in spec.materials:
            if mat.name == TABLE_MATERIAL:
                mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = ""
                mat.rgba = appearance.table_rgba
    if appearance.light_scale != 1.0:
        for light in spec.lights:
            light.diffuse = np.clip(np.asarray(light.diffuse) * appearance.light_scale, 0, 1)

    if visual_meshes == "decimated":
        _use_decimated_visual_meshes(spec)

    # Small, fast offscreen rendering: buffer the size of the image, no shadow map, no MSAA.
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0
    spec.visual.global_.offwidth = image_size
    spec.visual.global_.offheight = image_size
    return spec.compile()


def _use_decimated_visual_meshes(spec: mujoco.MjSpec) -> None:
    """Hide every mesh geom that has a decimated copy and draw a massless, collision-free twin."""
    with np.load(DECIMATED_MESHES_NPZ) as z:
        arrays = {k: z[k] for k in z.files}
    names = sorted({k.split("/")[0] for k in arrays})
    for name in names:
        spec.add_mesh(
            name=f"decimated_{name}",
            uservert=arrays[f"{name}/vert"].astype(np.float64).ravel(),
            userface=arrays[f"{name}/face"].astype(np.int32).ravel(),
        )
    for body in spec.bodies:
        for geom in list(body.geoms):
            if geom.type != mujoco.mjtGeom.mjGEOM_MESH:
                continue
            # attached drawers carry a prefix: "drawer0_drawerhandle" uses mesh "drawerhandle"
            base = next((n for n in names if geom.meshname == n or geom.meshname.endswith("_" + n)), None)
            if base is None:
                continue
            twin = body.add_geom(
                type=mujoco.mjtGeom.mjGEOM_MESH,
                meshname=f"decimated_{base}",
                pos=geom.pos,
                quat=geom.quat,
                material=geom.material,
                rgba=geom.rgba,
                group=geom.group,
                contype=0,
                conaffinity=0,
                density=0.0,
            )
            twin.name = f"{geom.name}_visual" if geom.name else ""
            geom.group = HIDDEN_GROUP
