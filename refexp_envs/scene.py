"""Builds the MuJoCo model of a Sawyer arm in front of N drawers from Metaworld's own assets.

Metaworld ships one Sawyer + one drawer scene (`sawyer_xyz/sawyer_drawer.xml`). We load it with
`mujoco.MjSpec`, detach its drawer and goal marker, and attach N copies of the drawer body side by
side. Nothing in the scene differs between tasks: the task only decides which drawer pays.

With `visual_meshes="lean"` (the v2 envs; render speed, `benchmark/render_profile.py`) the scene is
also drawn with few objects: the drawer cases, which never move relative to each other, are one mesh
geom (in drawer 0's root body, which the cabinet offset moves with the others), the geoms and sites
that a v2 camera never shows are hidden, and every drawer draws with the same two materials (the env
also hides each closed drawer's box, which the cases cover; see `DrawersEnv`).

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
ROW_HEIGHT = 0.17
"""z of the upper row of a two-row cabinet: just above the lower row's case (0.168 m tall)."""
ROW_STEP = 0.18
"""How far (m) the lower row of a two-row cabinet stands in front of the upper one: a stepped cabinet,
so that the hand, which reaches down from above, fits between the upper row's handles and a lower handle."""
CAMERA_NAME = "refexp_cam"  # behind the drawers, facing the arm: no occlusion of the drawers
CAMERA_TARGET = np.array([0.0, 0.6, 0.05])  # the point the camera looks at
DRAWER_MATERIALS = ("drawer_beige", "drawer_red")  # what an appearance's drawer colour recolours
TABLE_MATERIAL = "table_wood"  # what an appearance's table colour recolours (dropping its texture)
VISUAL_MESHES = ("full", "decimated", "lean")
NEVER_SEEN_BODIES = ("pedestal_feet", "torso", "head", "screen")  # behind or below what a v2 camera shows
MERGED_CASES = "cabinet_cases"  # "lean": the one mesh geom that draws every drawer case
MERGED_HANDLES = "closed_handles"  # "lean": every handle as one mesh (and, per drawer, every other handle)
DECIMATED_MESHES_NPZ = os.path.join(os.path.dirname(__file__), "assets", "visual_meshes_v1.npz")
HIDDEN_GROUP = 3  # a geom group the default renderer options do not draw
DRAWER_AFFINITY = 2  # drawer_contacts=False: a drawer geom keeps contype 1 (it meets the arm) but not conaffinity 1


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
    sealed: bool = False  # add what `refexp_envs.looks` switches to (textures, hidden distractor geoms); unchanged until a look is applied

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


def drawer_offsets(num_drawers: int, rows: int = 1) -> np.ndarray:
    """Offsets `(N, 3)` of each drawer body from Metaworld's drawer position (0, 0.9, 0). One row:
    side by side, drawer 0 on the robot's left. Two rows: drawer i is in row i // cols (0 the lower,
    front row, 1 the upper row, `ROW_HEIGHT` up and `ROW_STEP` back) and column i % cols, left first."""
    if rows not in (1, 2) or num_drawers % rows:
        raise ValueError(f"rows must be 1 or 2 and divide num_drawers, got rows={rows!r} for {num_drawers} drawers")
    cols = num_drawers // rows
    out = np.zeros((num_drawers, 3))
    for i in range(num_drawers):
        row, col = divmod(i, cols)
        out[i, 0] = drawer_xs(cols)[col]
        if rows == 2:
            out[i, 1] = -ROW_STEP if row == 0 else 0.0
            out[i, 2] = ROW_HEIGHT * row
    return out


def handle_positions(num_drawers: int, rows: int = 1) -> np.ndarray:
    """World positions `(N, 3)` of each closed drawer's handle bar centre."""
    return np.array([0.0, DRAWER_Y, 0.0]) + HANDLE_OFFSET + drawer_offsets(num_drawers, rows)


def camera_position(num_drawers: int, rows: int = 1) -> np.ndarray:
    """Where the observation camera stands (before an appearance's offset): behind the cabinet,
    stepping back as the cabinet widens (one row: v0/v1); for two rows right behind the upper row
    and steep (66 degrees down), so that the lower row shows in front of it."""
    if rows == 2:
        return np.array([0.0, 1.15, 1.15])
    back = 0.12 * (num_drawers - 2)  # step back to keep every drawer in view
    return np.array([0.0, 1.25 + back, 0.9 + 0.7 * back])


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
    num_drawers: int, image_size: int, appearance: Appearance, visual_meshes: str = "full", rows: int = 1,
    drawer_contacts: bool = True,
) -> mujoco.MjModel:
    """Compile the scene. Drawer i's slide joint is `drawer{i}_goal_slidey` (0 closed, -0.16 open);
    the inactive joint equality `drawer{i}_lock` can hold it shut. `visual_meshes`: "full"
    (Metaworld's meshes, v0) or "decimated" (v1, see the module docstring).

    Returns a fresh copy (envs change their model's lights and drawer positions at reset) of a
    compilation cached per process: copying takes ~0.08 s here, compiling ~0.55 s, and the harness
    makes one env per trial of a batch."""
    return copy.copy(_compile(num_drawers, image_size, appearance, visual_meshes, rows, drawer_contacts))


@functools.lru_cache(maxsize=8)
def _compile(num_drawers: int, image_size: int, appearance: Appearance, visual_meshes: str, rows: int = 1,
             drawer_contacts: bool = True) -> mujoco.MjModel:
    if num_drawers < 1:
        raise ValueError(f"num_drawers must be >= 1, got {num_drawers}")
    if visual_meshes not in VISUAL_MESHES:
        raise ValueError(f"unknown visual_meshes {visual_meshes!r}; expected one of {VISUAL_MESHES}")
    spec = mujoco.MjSpec.from_file(SAWYER_DRAWER_XML)
    spec.detach_body(spec.body("drawer"))
    spec.site("goal").delete()  # Metaworld's green goal marker would be a per-scene cue

    for i, offset in enumerate(drawer_offsets(num_drawers, rows)):
        child = mujoco.MjSpec.from_file(SAWYER_DRAWER_XML)
        frame = spec.worldbody.add_frame(pos=offset)  # the body keeps its own y = 0.9
        frame.attach_body(child.body("drawer"), f"drawer{i}_", "")
        # The interlock (see drawers.py): an equality that holds this drawer shut, off at start.
        lock = spec.add_equality(name=f"drawer{i}_lock", type=mujoco.mjtEq.mjEQ_JOINT)
        lock.objtype = mujoco.mjtObj.mjOBJ_JOINT
        lock.name1 = f"drawer{i}_goal_slidey"
        lock.data[:5] = 0.0
        lock.solref = [0.005, 1.0]  # stiff (2 physics steps): the arm cannot pull it open
        lock.solimp = [0.99, 0.999, 0.001, 0.5, 2.0]
        lock.active = False

    cam_pos = camera_position(num_drawers, rows) + np.asarray(appearance.camera_offset)
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

    if appearance.sealed:
        _add_sealed_assets(spec)

    if not drawer_contacts:  # drawers never touch each other: skip testing them against each other
        for i in range(num_drawers):
            for body in (f"drawer{i}_drawercase_link", f"drawer{i}_drawer_link"):
                for geom in spec.body(body).geoms:
                    if geom.conaffinity & 1:
                        geom.conaffinity = DRAWER_AFFINITY

    if visual_meshes in ("decimated", "lean"):
        _use_decimated_visual_meshes(spec)
    if visual_meshes == "lean":
        _lean(spec, num_drawers, rows, image_size)

    # Small, fast offscreen rendering: buffer the size of the image, no shadow map, no MSAA.
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0
    spec.visual.global_.offwidth = image_size
    spec.visual.global_.offheight = image_size
    return spec.compile()


SEALED_TEXTURES = {  # name: (type, builtin, rgb2): greyscale patterns, tinted by their material's colour
    "sealed_checker": (mujoco.mjtTexture.mjTEXTURE_CUBE, mujoco.mjtBuiltin.mjBUILTIN_CHECKER, (0.45, 0.45, 0.45)),
    "sealed_gradient": (mujoco.mjtTexture.mjTEXTURE_CUBE, mujoco.mjtBuiltin.mjBUILTIN_GRADIENT, (0.35, 0.35, 0.35)),
    "sealed_floor_checker": (mujoco.mjtTexture.mjTEXTURE_2D, mujoco.mjtBuiltin.mjBUILTIN_CHECKER, (0.55, 0.55, 0.55)),
}
DISTRACTOR_NAME = "sealed_distractor{}"
FLOOR_MATERIAL = "basic_floor"


def _add_sealed_assets(spec: mujoco.MjSpec) -> None:
    """Textures and (hidden, non-colliding, massless) distractor geoms for `refexp_envs.looks`."""
    from refexp_envs.looks import MAX_DISTRACTORS

    for name, (kind, builtin, rgb2) in SEALED_TEXTURES.items():
        tex = spec.add_texture(name=name, type=kind, builtin=builtin, width=64, height=64)
        tex.rgb1 = (1.0, 1.0, 1.0)
        tex.rgb2 = rgb2
    for i in range(MAX_DISTRACTORS):
        spec.worldbody.add_geom(name=DISTRACTOR_NAME.format(i), type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.03, 0.03, 0.03],
                                pos=[0.5, 0.5, 0.03], group=HIDDEN_GROUP, contype=0, conaffinity=0, density=0.0)


def drawer_visual_geoms(model: mujoco.MjModel, i: int) -> np.ndarray:
    """Ids of the drawn geoms of drawer i's sliding box (not its handle, not the case)."""
    body = model.body(f"drawer{i}_drawer_link").id
    return np.array([g for g in range(model.ngeom) if model.geom_bodyid[g] == body and model.geom_group[g] < HIDDEN_GROUP
                     and not model.geom(g).name.endswith("objGeom_visual")], dtype=int)


def handle_meshes(model: mujoco.MjModel, num_drawers: int) -> tuple[int, np.ndarray, np.ndarray]:
    """"lean" scenes: the geom drawing every closed handle, the geoms drawing all handles but drawer
    i's `(N,)`, and each drawer's own handle geom `(N,)` (see `DrawersEnv._render`)."""
    return (model.geom(MERGED_HANDLES).id,
            np.array([model.geom(f"{MERGED_HANDLES}_but_{i}").id for i in range(num_drawers)]),
            np.array([model.geom(f"drawer{i}_objGeom_visual").id for i in range(num_drawers)]))


def _triangles(model: mujoco.MjModel, data: mujoco.MjData, g: int) -> tuple[np.ndarray, np.ndarray]:
    """World vertices `(V, 3)` and faces `(F, 3)` of mesh or box geom g."""
    if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH:
        mesh = model.geom_dataid[g]
        v = model.mesh_vert[model.mesh_vertadr[mesh]: model.mesh_vertadr[mesh] + model.mesh_vertnum[mesh]]
        f = model.mesh_face[model.mesh_faceadr[mesh]: model.mesh_faceadr[mesh] + model.mesh_facenum[mesh]]
    elif model.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX:
        v, f = [], []
        for axis in range(3):  # two faces per axis, each with its own 4 corners (flat shading)
            for sign in (-1.0, 1.0):
                u, w = [a for a in range(3) if a != axis]
                base = len(v)
                for cu, cw in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                    corner = np.zeros(3)
                    corner[axis], corner[u], corner[w] = sign, cu, cw
                    v.append(corner * model.geom_size[g])
                quad = [(0, 1, 2), (0, 2, 3)]
                outward = np.cross(np.eye(3)[u], np.eye(3)[w])[axis] * sign > 0
                f += [tuple(base + i for i in (t if outward else t[::-1])) for t in quad]
        v, f = np.array(v), np.array(f)
    else:
        raise ValueError(f"geom {g} is neither a mesh nor a box")
    return v @ data.geom_xmat[g].reshape(3, 3).T + data.geom_xpos[g], np.asarray(f)


def _merge(spec, model, data, geoms: list[int], name: str, body: str, material: str = "", rgba=None,
           hide: bool = True) -> None:
    """Draw model geoms `geoms` (all rigidly attached to `body`) as one mesh geom `name` of `body`."""
    b = model.body(body).id
    verts, faces, count = [], [], 0
    for g in geoms:
        v, f = _triangles(model, data, g)
        verts.append((v - data.xpos[b]) @ data.xmat[b].reshape(3, 3))  # into the body's frame
        faces.append(f + count)
        count += len(v)
        if hide:
            owner = model.body(model.geom_bodyid[g])
            spec.body(owner.name).geoms[g - model.body_geomadr[owner.id]].group = HIDDEN_GROUP
    spec.add_mesh(name=name, uservert=np.concatenate(verts).ravel(), userface=np.concatenate(faces).astype(np.int32).ravel())
    geom = spec.body(body).add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=name, group=1, contype=0,
                                    conaffinity=0, density=0.0, name=name)
    if material:
        geom.material = material
    if rgba is not None:
        geom.rgba = rgba


def _lean(spec: mujoco.MjSpec, num_drawers: int, rows: int, image_size: int) -> None:
    """Few drawn objects (see the module docstring): the look is the same, the draw calls fewer."""
    for name in NEVER_SEEN_BODIES:
        for geom in spec.body(name).geoms:
            geom.group = HIDDEN_GROUP
    for geom in spec.body("RetainingWall").geoms:  # the side walls: outside a v2 camera's view
        if abs(geom.pos[0]) > 0.5:
            geom.group = HIDDEN_GROUP
    for site in spec.sites:
        site.group = HIDDEN_GROUP
    for geom in spec.geoms:  # one material per drawer part for every drawer (recoloured together)
        for base in ("drawer_beige", "drawer_white", "drawer_red"):
            if geom.material.endswith("_" + base):
                geom.material = base
    # Merged meshes, from where a plain compilation (of a copy: a compiled spec keeps its texture bindings) puts each part.
    model = spec.copy().compile()
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    drawn = lambda body: [g for g in range(model.ngeom) if model.geom_bodyid[g] == model.body(body).id  # noqa: E731
                          and model.geom_group[g] < HIDDEN_GROUP and model.geom_rgba[g][3] > 0
                          and model.geom_type[g] in (mujoco.mjtGeom.mjGEOM_MESH, mujoco.mjtGeom.mjGEOM_BOX)]
    root = drawer_body_name(0)  # moved by the cabinet offset with every other drawer
    _merge(spec, model, data, [g for i in range(num_drawers) for g in drawn(f"drawer{i}_drawercase_link")],
           MERGED_CASES, root, material="drawer_beige")
    handles = [model.geom(f"drawer{i}_objGeom_visual").id for i in range(num_drawers)]
    _merge(spec, model, data, handles, MERGED_HANDLES, root, material="drawer_white", hide=False)
    for i in range(num_drawers):
        _merge(spec, model, data, [h for j, h in enumerate(handles) if j != i], f"{MERGED_HANDLES}_but_{i}", root,
               material="drawer_white", hide=False)
    _merge(spec, model, data, drawn("controller_box") + drawn("pedestal"), "robot_stand", "world",
           rgba=model.geom_rgba[drawn("pedestal")[0]].copy())
    _merge(spec, model, data, drawn("right_l6") + [g for g in drawn("right_hand") if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH],
           "wrist", "right_l6", rgba=model.geom_rgba[drawn("right_l6")[0]].copy())


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


# Public names for the other scene builders (refexp_envs.desk): the same functions.
look_at = _look_at
use_decimated_visual_meshes = _use_decimated_visual_meshes
