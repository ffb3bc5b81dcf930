"""RefExp environments: a Sawyer arm, N drawers and a hidden target drawer.

Importing this package registers every `RefExp/*` id with Gymnasium (string entry points, so that
Minari can store and recover the env spec). `ENVS` below is the one table of the suite: which ids
exist, their task count and default K (episodes per trial), version and dataset name (the dataset registry is generated from it):

| id                         | drawers | appearance             | start state                    | K |
|----------------------------|---------|------------------------|--------------------------------|---|
| `RefExp/SixDrawer-v2`      | 2 x 3   | Metaworld's            | drawn from the reset seed, placed directly | 6 |
| `RefExp/Desk-v2`           | 4 mechanisms x 16 desks (64 tasks; desks 12-15 held out) | Metaworld's drawer, button, handle | arm and light from the reset seed, placed directly | 4 |
| `RefExp/TwoDrawerSealedShift-v2` | 2 | a sealed look per trial (`looks`) | TwoDrawer-v1's          | 3 |
| `RefExp/TwoDrawer-v1`      | 2       | Metaworld's            | drawn from the reset seed      | 3 |
| `RefExp/ThreeDrawer-v1`    | 3       | Metaworld's            | drawn from the reset seed      | 3 |
| `RefExp/TwoDrawerShift-v1` | 2       | test-time visual shift | drawn from the reset seed      | 3 |
| `RefExp/TwoDrawer-v0`      | 2       | Metaworld's            | one fixed state                | 3 |
| `RefExp/ThreeDrawer-v0`    | 3       | Metaworld's            | one fixed state                | 3 |
| `RefExp/TwoDrawerShift-v0` | 2       | test-time visual shift | one fixed state                | 3 |

v0 stays registered unchanged so that published v0 numbers stay reproducible; see the README's
"Version history" and `DrawersEnv`'s docstring for what changed.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import os
import sys

# Headless rendering by default (EGL on Linux; CGL, MuJoCo's offscreen context, on macOS); must be set
# before mujoco is first imported. A user setting wins.
os.environ.setdefault("MUJOCO_GL", "cgl" if sys.platform == "darwin" else "egl")
# Mesa's software rasteriser (llvmpipe) renders in the calling thread: for 64x64 frames its worker
# threads cost more than they save (measured: +50-60% pixel steps/s on 2 cores; the same pixels,
# checked against the pinned dataset checksums). Read when the first GL context is made; ignored by
# GPU drivers; a user setting wins.
os.environ.setdefault("LP_NUM_THREADS", "0")

import gymnasium as gym  # noqa: E402

__version__ = "0.2.0"

ENTRY_POINT = "refexp_envs.drawers:DrawersEnv"
DESK_ENTRY_POINT = "refexp_envs.desk:DeskEnv"
HORIZON = 50

V1_START = {
    "arm_range": (0.06, 0.05, 0.04),  # m, half-widths around the v0 hand start
    "gripper_range": 2.0,  # start effort anywhere from open (-1) to closed (+1)
    "cabinet_range": (0.03, 0.05),  # m: cabinet x offset in [-0.03, 0.03], y in [-0.05, 0]
    "light_jitter": 0.15,  # light brightness factor in [0.85, 1.15]
    "visual_meshes": "decimated",  # ~8k instead of ~69k triangles; physics unchanged
}
"""What v1 adds to v0's constructor arguments (see `DrawersEnv`, "Starting State")."""

SIX_DRAWER_V2 = {
    "num_drawers": 6,
    "rows": 2,  # a 2 x 3 stepped cabinet: drawers 0-2 the lower, front row, 3-5 the upper row
    "appearance": "default",
    "arm_range": (0.08, 0.04, 0.04),  # m, half-widths around hand_init
    "gripper_range": 2.0,
    "cabinet_range": (0.03, 0.05),
    "light_jitter": 0.15,
    "visual_meshes": "lean",  # decimated, and few drawn objects (render speed; the same look)
    "start": "place",  # the hand is put at its drawn start (IK), no 250-step settle
    "drawer_contacts": False,  # drawers are not tested for contact with each other (they never touch): faster physics
    "hand_init": (0.0, 0.45, 0.30),  # in front of the middle column, above the lower row
}
"""SixDrawer-v2's constructor arguments (see `DrawersEnv`, "Starting State")."""

DESK_V2 = {
    "test_compositions": (12, 13, 14, 15),  # the held-out desks: their tasks are in no dataset
}
"""Desk-v2's constructor arguments besides its defaults (`refexp_envs.desk.DeskEnv`: 16 compositions of
M = 4 mechanisms, `DESK_COMPOSITIONS`): the train/test split, fixed here and only here."""
DESK_COMPOSITIONS = 16  # len(refexp_envs.desk.DESK_COMPOSITIONS), without importing the simulator


@dataclasses.dataclass(frozen=True)
class EnvEntry:
    """One registered id of the suite: the one place that says how many tasks it has and how many
    episodes K a trial gives an agent (read them with `num_tasks(env_id)` / `default_episodes(env_id)`)."""

    num_tasks: int  # hidden tasks of the family (a drawers env: one per drawer)
    episodes: int  # default K, episodes per trial: the harness's, training's and the board's default
    version: int  # the id's -vN; datasets of this env carry the same version
    slug: str  # dataset namespace: refexp/<slug>/<behaviour>-v<version>
    seed_base: int  # first generation seed of this env's datasets
    env_kwargs: tuple[tuple[str, object], ...] = ()  # constructor arguments besides the version's start ranges
    trains_on: str | None = None  # the env id whose datasets and checkpoints agents for this env use (None: its own)
    entry_point: str = ENTRY_POINT
    choices: int | None = None  # M, the options an agent tries one per episode (Bayes-optimal min(1, k/M)); None: num_tasks
    has_datasets: bool = True  # False: no published datasets yet (not a training default, no dataset ids)

    def __post_init__(self):
        m = self.num_choices
        if isinstance(m, bool) or not isinstance(m, int) or m < 2 or self.num_tasks % m:
            raise ValueError(f"choices (M) must be an int >= 2 that divides num_tasks ({self.num_tasks}), got {m!r}")
        kwargs = dict(self.env_kwargs)
        if "test_compositions" in kwargs:
            test = tuple(kwargs["test_compositions"])
            groups = self.num_tasks // m
            if not test:
                raise ValueError("a split needs at least one test composition (test_compositions is empty)")
            if any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < groups for i in test):
                raise ValueError(f"test_compositions must be composition indices in range({groups}), got {test!r}")
            if len(set(test)) >= groups:
                raise ValueError("a split needs at least one train composition: every composition is a test composition")

    @property
    def num_choices(self) -> int:
        """M: what an agent chooses between, one per episode (a drawers env: its drawers; Desk-v2: the 4
        mechanisms of a desk). The Bayes-optimal success in episode k is min(1, k/M)."""
        return self.num_tasks if self.choices is None else self.choices

    @property
    def test_compositions(self) -> tuple[int, ...]:
        return tuple(sorted(dict(self.env_kwargs).get("test_compositions", ())))

    @property
    def has_split(self) -> bool:
        """Whether the tasks are split into train tasks (in the datasets) and held-out test tasks."""
        return bool(self.test_compositions)

    def split_of(self, task: int) -> str | None:
        """"train" or "test" for a task of an env with a split (task // M is its composition), None without."""
        if not self.has_split:
            return None
        return "test" if int(task) // self.num_choices in self.test_compositions else "train"

    def tasks_of(self, split: str) -> tuple[int, ...]:
        """The tasks of split "train" or "test" (every task as "train" for an env without a split)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return tuple(t for t in range(self.num_tasks) if (self.split_of(t) or "train") == split)

    def kwargs(self) -> dict:
        """Constructor arguments of the registered id (v0's are exactly what v0 always had)."""
        kwargs: dict = dict(self.env_kwargs)
        if self.version == 1:
            kwargs.update(V1_START)
        return kwargs

    @property
    def appearance(self) -> str:
        return dict(self.env_kwargs).get("appearance", "default")

    @property
    def max_episode_steps(self) -> int | None:
        return HORIZON if self.version >= 1 else None  # v0 registered none: kept for its datasets

    @property
    def default_dataset(self) -> str:
        """The dataset the method trains on for this env (the expert set). The Shift envs are a
        test of robustness: their agents train on the ordinary two-drawer data, never on the
        shift's own appearance (the shift datasets are for evaluation and analysis)."""
        return self.dataset("expert")

    @property
    def training_slug(self) -> str:
        """The dataset namespace agents for this env train on (that of `trains_on`, else its own)."""
        return ENVS[self.trains_on].slug if self.trains_on else self.slug

    def dataset(self, behaviour: str) -> str:
        """The id of this env's training dataset of `behaviour` (e.g. "expert-randlook"): one of
        `trains_on`'s datasets (of that env's version) for a shift env, else its own."""
        if self.trains_on:
            return ENVS[self.trains_on].dataset(behaviour)
        return f"refexp/{self.slug}/{behaviour}-v{self.version}"


def _drawers(n: int, appearance: str, version: int, slug: str, seed_base: int, trains_on: str | None = None,
             episodes: int = 3) -> EnvEntry:
    """An entry of the drawers family: N drawers = N tasks (v0/v1 kwargs in their historical order)."""
    return EnvEntry(n, episodes, version, slug, seed_base, (("num_drawers", n), ("appearance", appearance)), trains_on)


SPLITS = ("train", "test")

ENVS: dict[str, EnvEntry] = {
    "RefExp/SixDrawer-v2": EnvEntry(6, 6, 2, "six-drawer", 2100, tuple(SIX_DRAWER_V2.items())),
    "RefExp/Desk-v2": EnvEntry(DESK_COMPOSITIONS * 4, 4, 2, "desk", 2300, tuple(DESK_V2.items()),
                               entry_point=DESK_ENTRY_POINT, choices=4),
    "RefExp/TwoDrawerSealedShift-v2": EnvEntry(
        2, 3, 2, "two-drawer-sealed-shift", 2200,
        (("num_drawers", 2), ("appearance", "sealed"), *V1_START.items()), trains_on="RefExp/TwoDrawer-v1"),
    "RefExp/TwoDrawer-v1": _drawers(2, "default", 1, "two-drawer", 1100),
    "RefExp/ThreeDrawer-v1": _drawers(3, "default", 1, "three-drawer", 1200),
    "RefExp/TwoDrawerShift-v1": _drawers(2, "shift", 1, "two-drawer-shift", 1300, trains_on="RefExp/TwoDrawer-v1"),
    "RefExp/TwoDrawer-v0": _drawers(2, "default", 0, "two-drawer", 100),
    "RefExp/ThreeDrawer-v0": _drawers(3, "default", 0, "three-drawer", 200),
    "RefExp/TwoDrawerShift-v0": _drawers(2, "shift", 0, "two-drawer-shift", 300, trains_on="RefExp/TwoDrawer-v0"),
}
ENV_IDS = tuple(ENVS)
LATEST_VERSION = max(entry.version for entry in ENVS.values())
LATEST_ENV_IDS = tuple(env_id for env_id, entry in ENVS.items()
                       if entry.version == LATEST_VERSION and entry.has_datasets and entry.entry_point == ENTRY_POINT)
"""The current drawer ids with datasets: the defaults of the harness, training and demos (older ids stay
registered; Desk-v2, whose tasks are (desk, mechanism) pairs with a held-out split, is always named explicitly)."""
DRAWER_ENV_IDS = tuple(env_id for env_id, entry in ENVS.items() if entry.entry_point == ENTRY_POINT)
"""The ids of the drawers family (`DrawersEnv`): what drawer-specific tools and tests take."""
DATASET_ENV_IDS = tuple(env_id for env_id, entry in ENVS.items() if entry.has_datasets)
ENV_KWARGS: dict[str, dict] = {env_id: entry.kwargs() for env_id, entry in ENVS.items()}


def env_entry(env_id: str) -> EnvEntry:
    """The registry entry of a RefExp id; an unknown id is a ValueError naming the known ones."""
    if env_id not in ENVS:
        raise ValueError(f"unknown env id {env_id!r}; RefExp ids: {list(ENVS)}")
    return ENVS[env_id]


def num_tasks(env_id: str) -> int:
    """How many hidden tasks `env_id` has (a drawers env: its drawers), from the registry (no env is built)."""
    return env_entry(env_id).num_tasks


def default_episodes(env_id: str) -> int:
    """The default K (episodes per trial) of `env_id`: what the harness, training and board use unless told."""
    return env_entry(env_id).episodes


def num_choices(env_id: str) -> int:
    """M of `env_id` (`EnvEntry.num_choices`): the Bayes-optimal success in episode k is min(1, k/M)."""
    return env_entry(env_id).num_choices


def split_of(env_id: str, task: int) -> str | None:
    """"train" / "test" for a task of an env with a held-out split (Desk-v2), None for one without."""
    return env_entry(env_id).split_of(check_task(env_id, task))


def check_task(env_id: str, task) -> int:
    """`task` as an int in `range(num_tasks(env_id))`, else a ValueError."""
    n = num_tasks(env_id)
    if isinstance(task, bool) or not isinstance(task, numbers.Integral) or not 0 <= int(task) < n:
        raise ValueError(f"task must be an int in range({n}) for {env_id}, got {task!r}")
    return int(task)


def register_envs() -> None:
    """Register every RefExp id (idempotent)."""
    for env_id, entry in ENVS.items():
        if env_id not in gym.registry:
            gym.register(
                env_id, entry_point=entry.entry_point, kwargs=entry.kwargs(), max_episode_steps=entry.max_episode_steps
            )


def make_vector_env(env_id: str, num_envs: int, wrappers=(), autoreset_mode: str = "NextStep",
                    **kwargs) -> gym.vector.AsyncVectorEnv:
    """`num_envs` copies in worker processes. Uses the spawn context: with fork, workers hang
    once the parent holds a GL context.

    `wrappers`: callables applied in order to each worker's env (`env = w(env)`), e.g.
    `benchmark.agents.TrialWrapper`; workers are spawned, so each must be importable (a module-level
    class or function, or a `functools.partial` of one). `autoreset_mode`: Gymnasium's
    ("NextStep", "SameStep" as Stable-Baselines3 expects, or "Disabled"). `kwargs` go to `gym.make`."""
    wrappers = tuple(wrappers)
    for w in wrappers:
        if not callable(w):
            raise TypeError(f"wrappers must be callables (env -> env), got {w!r}")
    fns = [functools.partial(_make, env_id, wrappers, **kwargs) for _ in range(num_envs)]
    return gym.vector.AsyncVectorEnv(fns, context="spawn", autoreset_mode=gym.vector.AutoresetMode(autoreset_mode))


def _make(env_id: str, wrappers=(), **kwargs) -> gym.Env:
    """Importable by reference, so a spawned worker imports (and so registers) this package."""
    env = gym.make(env_id, **kwargs)
    for w in wrappers:
        env = w(env)
    return env


register_envs()
