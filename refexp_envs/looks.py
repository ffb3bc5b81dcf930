"""The sealed visual shift of `RefExp/TwoDrawerSealedShift-v2`: one look per trial, drawn from a seed.

A look changes only what the camera sees (never the physics): drawer colour and texture, table,
light direction, brightness and colour, camera pose and field of view, floor (the background), and
up to `MAX_DISTRACTORS` distractor objects on the table beside the cabinet. Several factor types are
drawn by no training randomiser in the project (`appearance="random"` / `"random-texture"` draw a
drawer colour, a table tint, brightness, a camera offset and a plain table): drawer textures, a
checker table, light direction and colour, field of view, the floor, distractor objects.

The harness derives each trial's look seed from the evaluation secret (`benchmark.protocol.look_seed`,
in `trial_specs`) and passes it to the env's reset (`options={"look": seed}`); this module never sees
a secret, and agent code never sees the secret or the seed, only the pixels. The same (secret, eval seed, trial) gives
the same look; `draw_look(seed)` is pure. `SealedLook.without(factor)` holds one factor at
TwoDrawer-v1's look with every other draw unchanged (the per-factor breakdown,
`dev/sealed_parts.py`).
"""

from __future__ import annotations

import colorsys
import dataclasses
import numbers

import numpy as np

FACTORS = ("drawer_colour", "drawer_texture", "table", "light", "camera", "fov", "background", "distractors")
MAX_DISTRACTORS = 4
DRAWER_TEXTURES = ("none", "checker", "gradient")  # greyscale patterns, tinted by the drawer colour
TABLE_LOOKS = ("wood", "plain", "checker")  # the wood texture tinted, a plain colour, a new checker texture
FLOOR_LOOKS = ("grid", "plain", "checker")
DISTRACTOR_TYPES = ("box", "sphere", "cylinder", "capsule")
CAMERA_RANGE = 0.06  # m, half-width of the camera offset along each axis (it keeps aiming at the drawers)
FOV_RANGE = (40.0, 60.0)  # degrees (TwoDrawer-v1: 50)
LIGHT_SCALE = (0.6, 1.5)  # brightness factor
LIGHT_TURN = 0.6  # rad, most the light direction turns about z, and tilts
LIGHT_WARMTH = 0.3  # colour: red/blue balance in [-0.3, 0.3]


@dataclasses.dataclass(frozen=True)
class SealedLook:
    """One drawn look; `None` fields (and `distractors=()`) are TwoDrawer-v1's look."""

    drawer_rgb: tuple[float, float, float] | None = None
    drawer_texture: str = "none"
    table: str = "wood"
    table_rgb: tuple[float, float, float] | None = None
    light_scale: float = 1.0
    light_turn: tuple[float, float] = (0.0, 0.0)  # (about z, tilt) rad
    light_warmth: float = 0.0
    camera_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    fovy: float | None = None
    floor: str = "grid"
    floor_rgb: tuple[float, float, float] | None = None
    distractors: tuple[tuple, ...] = ()  # (type, (x, y), size, rgb) each

    def without(self, factor: str) -> "SealedLook":
        """This look with `factor` held at TwoDrawer-v1's (every other factor as drawn)."""
        if factor not in FACTOR_FIELDS:
            raise ValueError(f"unknown look factor {factor!r}; expected one of {FACTORS}")
        default = SealedLook()
        return dataclasses.replace(self, **{f: getattr(default, f) for f in FACTOR_FIELDS[factor]})


FACTOR_FIELDS = {  # the `SealedLook` fields of each factor
    "drawer_colour": ("drawer_rgb",), "drawer_texture": ("drawer_texture",), "table": ("table", "table_rgb"),
    "light": ("light_scale", "light_turn", "light_warmth"), "camera": ("camera_offset",), "fov": ("fovy",),
    "background": ("floor", "floor_rgb"), "distractors": ("distractors",),
}


def _rgb(rng: np.random.Generator) -> tuple[float, float, float]:
    """Any hue, saturation in [0.15, 0.9], value in [0.25, 0.95]."""
    h, s, v = rng.uniform(0, 1), rng.uniform(0.15, 0.9), rng.uniform(0.25, 0.95)
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h, s, v))


def check_look_seed(seed) -> int:
    """A look seed: an int in [0, 2**63)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < 2**63:
        raise ValueError(f"a look seed must be an int in [0, 2**63), got {seed!r}")
    return int(seed)


def draw_look(seed: int) -> SealedLook:
    """The look of `seed`. Every factor is drawn, always in this order, so that leaving one out
    (`SealedLook.without`) changes nothing else."""
    rng = np.random.default_rng(np.random.SeedSequence([check_look_seed(seed), 0x5EA1ED]))
    drawer_rgb = _rgb(rng)
    drawer_texture = DRAWER_TEXTURES[int(rng.integers(len(DRAWER_TEXTURES)))]
    table = TABLE_LOOKS[int(rng.integers(len(TABLE_LOOKS)))]
    table_rgb = _rgb(rng)
    light_scale = float(rng.uniform(*LIGHT_SCALE))
    light_turn = (float(rng.uniform(-LIGHT_TURN, LIGHT_TURN)), float(rng.uniform(-LIGHT_TURN / 2, LIGHT_TURN / 2)))
    light_warmth = float(rng.uniform(-LIGHT_WARMTH, LIGHT_WARMTH))
    camera_offset = tuple(float(x) for x in rng.uniform(-CAMERA_RANGE, CAMERA_RANGE, size=3))
    fovy = float(rng.uniform(*FOV_RANGE))
    floor = FLOOR_LOOKS[int(rng.integers(len(FLOOR_LOOKS)))]
    floor_rgb = _rgb(rng)
    count = int(rng.integers(MAX_DISTRACTORS + 1))
    distractors = []
    for _ in range(MAX_DISTRACTORS):  # always drawn, so the count does not shift later draws
        kind = DISTRACTOR_TYPES[int(rng.integers(len(DISTRACTOR_TYPES)))]
        side = 1.0 if rng.uniform() < 0.5 else -1.0
        xy = (float(side * rng.uniform(0.36, 0.6)), float(rng.uniform(0.3, 0.9)))  # beside the cabinet, off the arm's path
        distractors.append((kind, xy, float(rng.uniform(0.02, 0.05)), _rgb(rng)))
    return SealedLook(drawer_rgb, drawer_texture, table, table_rgb, light_scale, light_turn, light_warmth,
                      camera_offset, fovy, floor, floor_rgb, tuple(distractors[:count]))


def light_direction(base: np.ndarray, turn: tuple[float, float]) -> np.ndarray:
    """`base` direction `(3,)` turned by `turn[0]` about z and tilted by `turn[1]` about x (unit length)."""
    a, b = turn
    rz = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(b), -np.sin(b)], [0.0, np.sin(b), np.cos(b)]])
    d = rx @ rz @ np.asarray(base, dtype=np.float64)
    return d / np.linalg.norm(d)


def warmth_rgb(warmth: float) -> np.ndarray:
    """The light colour factor: warmer (more red, less blue) for warmth > 0."""
    return np.array([1.0 + warmth / 2, 1.0, 1.0 - warmth / 2])
