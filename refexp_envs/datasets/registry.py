"""The registry of standardized RefExp dataset ids (`refexp/<env>/<behaviour>-v<N>`).

Every id is pinned to an env id, a behaviour (the task-specific scripted policies
`refexp_envs.policies.ScriptedDrawerPolicy` with a given action noise), a size (episodes per task),
a generation seed and, once built on the reference machine, the SHA-256 of its files (see
`checksum.py`). The ids are generated from `refexp_envs.ENVS` (which envs exist, their drawer count
and version): env `RefExp/<Name>-vK` gets `refexp/<slug>/<behaviour>-vK`.

| behaviour      | episodes per task | action noise | observations                  | versions |
|----------------|-------------------|--------------|-------------------------------|----------|
| `expert`       | 1000 (the paper)  | 0.2          | 64x64 pixels + proprio        | v0, v1, v2 |
| `noisy`        | 1000              | 0.5          | 64x64 pixels + proprio        | v0, v1, v2 |
| `dev`          | 20                | 0.2          | 64x64 pixels + proprio        | v0, v1, v2 |
| `expert-state` | 1000              | 0.2          | state (`obs_type="state"`)    | v1, v2   |

SixDrawer-v2's full-size sets have 500 episodes per task (3000 in all, ThreeDrawer's total). Desk-v2's
sets hold its 48 train tasks only (desks 0-11; the test desks' tasks are in no dataset): 64 episodes per
task in the full-size sets (3072 in all), 2 in `dev`; behaviour i works the mechanism that pays in task i.

`expert-state-v1` has the seed of `expert-v1`: the same episodes without the pixels.
An id whose `sha256` is None is not pinned yet (`list` shows it): its build is not checked.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np

from refexp_envs import ENVS, HORIZON

EXPERT_NOISE = 0.2
NOISY_NOISE = 0.5
FULL_EPISODES_PER_TASK = 1000
DEV_EPISODES_PER_TASK = 20

# The HTTPS archive host. A release is one asset per id, `<base>/<archive_name(id)>` (see
# docs/datasets.md, "Publishing a release"). Override with the environment variable below.
DEFAULT_BASE_URL = "https://github.com/refexp/refexp/releases/download/datasets-v0"
BASE_URL_ENV = "REFEXP_DATASETS_URL"
ID_PATTERN = re.compile(r"^refexp/[a-z0-9-]+/[a-z0-9_-]+-v\d+$")


class UnknownDatasetError(KeyError):
    """A dataset id that is not in the registry."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Everything that pins one dataset: rebuilding from this gives the same files."""

    dataset_id: str
    env_id: str
    behaviour: str  # "expert" | "noisy" | "dev" (the name in the id)
    noise: float  # Gaussian action noise of the scripted behaviour policies
    episodes_per_task: int
    seed: int  # generation seed; episode i's seed is `episode_seed(seed, i)`
    num_tasks: int
    sha256: str | None = None  # over the files of `data/` (checksum.py); None = not yet published
    obs_type: str = "pixels"  # "pixels" | "state" (the env's obs_type)
    image_size: int = 64
    horizon: int = HORIZON
    look: str | None = None  # `appearance=` given to the env (None: the registered env's own)
    behaviour_success: float | None = None  # measured on the real build (fraction of episodes)
    size_bytes: int | None = None  # measured size of `data/` on disk
    description: str = ""
    nonpixel_sha256: str | None = None  # the pin's values without the pixels (checksum.nonpixel_checksum_dir)
    values_sha256: str | None = None  # the pin's values with the pixels (whatever the parquet writer)
    tasks: tuple[int, ...] = ()  # the tasks it holds buffers of (an env with a split: its train tasks); (): all

    @property
    def data_tasks(self) -> tuple[int, ...]:
        """The tasks whose buffers hold episodes (every other task's buffer is empty)."""
        return self.tasks or tuple(range(self.num_tasks))

    @property
    def version(self) -> int:
        """The dataset version: the `-vN` of its id (the same as its env's version)."""
        return int(self.dataset_id.rsplit("-v", 1)[1])

    @property
    def num_episodes(self) -> int:
        return self.episodes_per_task * len(self.data_tasks)

    def env_kwargs(self) -> dict:
        """Keyword arguments given to `gym.make(env_id, ...)`: only what differs from the registered
        env, so a full-size dataset's stored env spec is exactly the registered one."""
        kwargs: dict = {}
        if self.obs_type != "pixels":
            kwargs["obs_type"] = self.obs_type
        if self.image_size != 64:
            kwargs["image_size"] = self.image_size
        if self.horizon != HORIZON:
            kwargs["horizon"] = self.horizon
        if self.look is not None:
            kwargs["appearance"] = self.look
        return kwargs

    def task_of(self, index: int) -> int:
        """Episodes are interleaved over the data's tasks: episode i serves task `data_tasks[i % n]`
        (i % num_tasks when the dataset holds every task)."""
        tasks = self.data_tasks
        return int(tasks[index % len(tasks)])

    def episode_seed(self, index: int) -> int:
        return episode_seed(self.seed, index)

    def fingerprint(self) -> dict:
        """The fields that determine the data (used to refuse resuming a different build)."""
        d = dataclasses.asdict(self)
        for k in ("sha256", "behaviour_success", "size_bytes", "description", "nonpixel_sha256",
                  "values_sha256"):
            d.pop(k)
        if not self.tasks:  # every task: as before the field existed (a resumed build keeps its staging)
            d.pop("tasks")
        return d


def episode_seed(dataset_seed: int, index: int) -> int:
    """Per-episode seed from (dataset seed, episode index): independent of worker count/order."""
    return int(np.random.SeedSequence([int(dataset_seed), int(index)]).generate_state(1)[0])


# Filled in from real builds on the reference machine (docs/datasets.md records the commands).
# Keys: dataset id -> (sha256, behaviour_success, size_bytes).
_PUBLISHED: dict[str, tuple[str, float, int]] = {
    "refexp/two-drawer/expert-v0": (
        "455f40cb5fbc61e07f9a931a62ca49a188113eec58bdc1370d13b3d4870ffa14", 0.9925, 272480075),
    "refexp/two-drawer/noisy-v0": (
        "e94e0909af1d6b2a2d40a0e3a86eacf74289366a976d7f406cd6ca20b8548af1", 0.6775, 291320194),
    "refexp/two-drawer/dev-v0": (
        "66bfc381141460c580b1c7bebddb45b86449fc381cd2d6a886f22fd586067a48", 0.975, 5527759),
    "refexp/three-drawer/expert-v0": (
        "320b688570f3156c34b8fffaec2058bbcabe396117cf2af13b27c590a1ca33b2", 0.993, 418287166),
    "refexp/three-drawer/noisy-v0": (
        "eeea9126861d3e94455626d2e90c43065f2d65a06d91e2329a0b6a6c79efbeaf", 0.6703, 442630885),
    "refexp/three-drawer/dev-v0": (
        "84bd4ab6684a05a44499aad3ba26db551d35e790fcbbe9e2e7762edf8161eb80", 1.0, 8492936),
    "refexp/two-drawer-shift/expert-v0": (
        "2a76fff3d172c3eee5ad402f29324165975b371b094a2b839d3b9a77830679b4", 0.9925, 270198234),
    "refexp/two-drawer-shift/noisy-v0": (
        "3bc01f834dc2ddb7732a249a4c2d14fa62c0e2802a2f0202ce60d48ebf2d8a9a", 0.661, 288208017),
    "refexp/two-drawer-shift/dev-v0": (
        "41263bef860e77c9f8cc4eb14a71db04881976990aeaf5580f8f328d59b23245", 1.0, 5522705),
    "refexp/three-drawer/dev-v1": (
        "cbc96bcd7b342d11b105fedeb48dfa8897dbeef92954001ff1061f91aec85b7c", 1.0, 8241098),
    "refexp/three-drawer/expert-state-v1": (
        "d28b0f79a09d6e3eb28f31f7ea683ae76b08f364119fe66e531a536bbd095087", 0.9937, 16471225),
    "refexp/two-drawer-shift/dev-v1": (
        "36243aa7803da95581b7d1728ba9225e0cb4ef116c7985cd5359be2a654e316a", 1.0, 5304578),
    "refexp/two-drawer/dev-v1": (
        "408752550de0af28b7291eeeb3a3a403b207da0804eb37fd1c000bdce24517ee", 1.0, 5272694),
    "refexp/two-drawer/expert-state-v1": (
        "ed4cf3f875ccd7a7d5e10a84e06c2a8578ca45bb674cbed4ce7beeebcc3c1342", 0.9935, 10836786),
    "refexp/two-drawer-shift/expert-state-v1": (
        "c7c3d18be3a39dabdb6f5362883584a0fd577c0fabb548256383f76431e75939", 0.995, 10837735),
    "refexp/two-drawer/expert-v1": (
        "f917912f0b5735394d3e98832d75d32d9d244831769ff183c84c199f058c926b", 0.9935, 260586646),
    "refexp/three-drawer/expert-v1": (
        "8ec8dd48dc422c64e950a7cb44477b94511be99d072fd47974df13cf18eb6d81", 0.9937, 405621373),
    "refexp/two-drawer-shift/expert-v1": (
        "3c57f5546dcebb66ac4436e0b4aabdde3b8c6b67ce7416d91562950dcbd02f72", 0.995, 257454824),
    "refexp/two-drawer/expert-randlook-v1": (
        "f9ff1cdd3729d671766aca8db99c07eafc3e2b79037913cf46aea221179b2860", 0.9935, 269180023),
    "refexp/two-drawer/expert-randtex-v1": (
        "c25691c9bbc738a7c86de5199e90a48a5962bec1c6e0d7cc7035e2847bfdc21d", 0.9935, 262956524),
    "refexp/three-drawer/expert-randtex-v1": (
        "6052f5f1e36af8b7a1e218952dd6847682995efc9befa743b7ab71314e07fd8c", 0.9937, 400026832),
    "refexp/three-drawer/expert-randlook-v1": (
        "ff9203e4e83bb7471ffbf4c1580b7b5ba96b1bbb816db05c5e5a625f4db69620", 0.9937, 409073253),
    "refexp/two-drawer/noisy-v1": (
        "e09075405c7b48af62568d14b8c468cdecaa398d48c51a8517946cc1c38df75d", 0.654, 279863180),
    "refexp/three-drawer/noisy-v1": (
        "905dec6a49668a278a1fca40b15e1b4c7ed6bf27a94ec7a363c1e6627152c7c5", 0.6667, 431081170),
    "refexp/two-drawer-shift/noisy-v1": (
        "7e753acaef791716aef55fc12f1434bf88fbeaea87cb23277979cdfe01f21bc5", 0.6605, 276895038),
    "refexp/six-drawer/dev-v2": (
        "4f0bee521f463a184cdfbe43b0915ec3c037b120231726dc271c3ded58e25206", 0.9833, 13838432),
    "refexp/six-drawer/expert-v2": (
        "2efe4b143b395d985355d5503b5abe327fa83ab9b3bb99c6761f2f4c073b5f92", 0.978, 342195247),
    "refexp/six-drawer/noisy-v2": (
        "0b978cc5ff581e75bff7d250f5b8e7a8bfc43e1ea2d8a6ed82d09d1764817038", 0.5943, 366861309),
    "refexp/six-drawer/expert-state-v2": (
        "019bb9f052e6f10d7eae5d920704999a80ca5ee39cb19ef8d1ad7c091885acf2", 0.978, 16545127),
    "refexp/two-drawer-sealed-shift/dev-v2": (
        "3d1eac6bbbb3a77e02bd632936356eceb718039407074ecb5cf7a9b94c4de40a", 0.975, 5900410),
    "refexp/two-drawer-sealed-shift/expert-state-v2": (
        "6f88273cae7980802937c6300bbee387a9d0f93e7e6730580071838c3bdae600", 0.977, 10841929),
    "refexp/two-drawer-sealed-shift/expert-v2": (
        "eeacd5063bfb88bdc014017f4a5ab8720a344682b09c7c0e99170817f6af6d45", 0.977, 290606693),
    "refexp/two-drawer-sealed-shift/noisy-v2": (
        "261904a9421f10e72968c6d5320a2a7c02106b04c4524aef0b47dd88f55dcdba", 0.5735, 306557276),
    "refexp/desk/dev-v2": (
        "1a28dd69ee82a7238d037ceae1406ab90d1eea7b6b46b1a856dbf7c73bc7a36f", 0.9688, 14233426),
    "refexp/desk/expert-v2": (
        "17e7d836eef00de2df396a8f5245720095a1317d27f304b251ea025fd79d0532", 0.9795, 451365096),
    "refexp/desk/noisy-v2": (
        "cedc3a438f3c4e8d39acf17b24c34d7db263eae8dd2421e03336de9586c72aca", 0.721, 464822310),
    "refexp/desk/expert-state-v2": (
        "c5fdfb1ce3ef9a0a1a121ef2e4eae3f0763e1e5c995bd88b75972287dc4af737", 0.9795, 18192609),
}

# What drew the pixels of every pinned build above: the reference machine (Debian 12, 2 CPU cores)
# through EGL. `REFEXP_RENDERER=llvmpipe` selects this renderer anywhere (docs/datasets.md, "Renderers").
PIN_RENDERER = {
    "vendor": "Mesa/X.org",
    "renderer": "llvmpipe (LLVM 15.0.6, 256 bits)",
    "version": "4.5 (Compatibility Profile) Mesa 22.3.6",
    "mujoco": "3.3.0",
}

# ... and the parquet writer of every pinned build (parquet files name it: other versions, other bytes)
PIN_WRITER = {"minari": "0.5.4", "pyarrow": "26.0.1"}

# The pins' value checksums (checksum.nonpixel_checksum_dir) without and with the pixels, computed from
# the pinned builds where a copy was at hand (docs/datasets.md, "Renderers"). An id without them cannot
# tell a renderer or a writer difference from corruption.
_PUBLISHED_VALUES: dict[str, str] = {
    "refexp/two-drawer/expert-v1": "ecf4430ffb0ac7bdce3341c9eab03eaea577c35476e273f04c6c8ff708e9f5aa",
    "refexp/two-drawer/dev-v1": "cedf53f784491a7155a359b50195692c93d68907093c8f2dd5b07964d9726106",
    "refexp/three-drawer/dev-v1": "9247a3a0b452a17bdddbb1f2d69ef24c48c81371a07c6a761301267d4bd568d6",
    "refexp/two-drawer-shift/dev-v1": "528e8128440f9e0a34d2683aaae26033b3da7358fed1f0ecb10ffd502cace7f5",
    "refexp/six-drawer/expert-v2": "c49b3a486c87481d063a89c8128b3075e58db58364f8f9ce23d9465125765b8b",
    "refexp/desk/dev-v2": "c2e09bea5020df467df1107116434581ae3200b259b60bf1db6f746b405873e7",
    "refexp/desk/expert-v2": "d6362eb3584cddcdb8b2c1bd6569d8b6b3ec530ffe2f64db720d0cd2930a1e3f",
    "refexp/desk/noisy-v2": "6368344529ced4950c84ce1ca987c63034a6e248baeaecfe674a167e21fc57c0",
    "refexp/desk/expert-state-v2": "9da027436d11b631e3851c1a83293b66a6ed1091b423a5b08db2f7950940c235",
}
_PUBLISHED_NONPIXEL: dict[str, str] = {
    "refexp/two-drawer/expert-v1": "000f4f0d2669f298ba9ea0239c99bc0bf7994737b11bcb18dac7cb2c6b68d414",
    "refexp/two-drawer/dev-v1": "1c8b3203b3dd89d4e20d9c194528cf9bc4ab5e120ab55bda9d17ac55eb0857b0",
    "refexp/three-drawer/dev-v1": "8250ed54073567b774a97ac9b35a516efc4934b395b8bf9ffebacc764bbca0a0",
    "refexp/two-drawer-shift/dev-v1": "1e142837243745e3f2accfa658b23fd29c778ed2de197ec7109919cd4883fcbd",
    "refexp/six-drawer/expert-v2": "020f58d51cde188bde7731f198ebda3edaa6c3ed2999b12b8ea2354eb9c32ed2",
    "refexp/desk/dev-v2": "fcb6cda2010fd5c867016f0a29dd2228077dd47c24137dedea9e375cc00f9063",
    "refexp/desk/expert-v2": "c8319a40bdd43ed07c5b609a3acb4ccbfb3af7de6fd57f2869d6c466b8865e7e",
    "refexp/desk/noisy-v2": "e8f73edddf7726b4310d766e253edff2ebb3eecd1c67f6a5e655f484b06303db",
    "refexp/desk/expert-state-v2": "9da027436d11b631e3851c1a83293b66a6ed1091b423a5b08db2f7950940c235",
}

_BEHAVIOURS = [  # (name in the id, action noise, episodes per task, obs_type, what, first version)
    ("expert", EXPERT_NOISE, FULL_EPISODES_PER_TASK, "pixels", "task-specific scripted experts", 0),
    ("noisy", NOISY_NOISE, FULL_EPISODES_PER_TASK, "pixels", "scripted experts with heavy action noise", 0),
    ("dev", EXPERT_NOISE, DEV_EPISODES_PER_TASK, "pixels", "small expert set for quick experiments", 0),
    ("expert-state", EXPERT_NOISE, FULL_EPISODES_PER_TASK, "state", "task-specific scripted experts", 1),
    ("expert-randlook", EXPERT_NOISE, FULL_EPISODES_PER_TASK, "pixels", "task-specific scripted experts", 1),
    ("expert-randtex", EXPERT_NOISE, FULL_EPISODES_PER_TASK, "pixels", "task-specific scripted experts", 1),
]
# expert-state, -randlook and -randtex replay the expert's episodes (same seeds: same starts and actions)
_SEED_OFFSET = {"expert": 0, "noisy": 1, "dev": 2, "expert-state": 0, "expert-randlook": 0, "expert-randtex": 0}
# behaviours recorded under another `appearance=`
_LOOK = {"expert-randlook": "random", "expert-randtex": "random-texture"}
# Episodes per task of the full-size sets where an env's differ from FULL_EPISODES_PER_TASK: SixDrawer-v2's
# 6 x 500 = 3000 episodes are ThreeDrawer's total, and a pixel set builds in about the same time; Desk-v2's
# 48 train tasks x 64 = 3072 likewise (and its dev set 96 episodes, as SixDrawer-v2's 120).
_FULL_PER_TASK = {"six-drawer": 500, "desk": 64}
_DEV_PER_TASK = {"desk": 2}


def _description(env_id: str, behaviour: str, per_task: int, what: str, noise: float, obs_type: str,
                 version: int, dataset_id: str) -> str:
    if version == 0:  # frozen: it is part of the v0 data (metadata.json) and so of their pins
        return (
            f"{env_id}: {per_task} rollouts per task of {what} (action noise {noise}), "
            f"64x64 RGB pixels + proprioception, lossless parquet; buffer i = episodes "
            f"whose metadata/infos 'task' is i."
        )
    entry = ENVS[env_id]
    state = ("mechanism travels, kinds and targets" if entry.has_split else "drawer openings, handle positions")
    obs = ("64x64 RGB pixels + proprioception" if obs_type == "pixels"
           else f"state observations ({state}, proprioception), no pixels")
    text = (
        f"{env_id}: {per_task} rollouts per task of {what} (action noise {noise}) from the v{version} "
        f"start-state distribution, {obs}, lossless parquet; buffer i = episodes whose "
        f"metadata/infos 'task' is i. Obtain it with RefExp's `python -m refexp_envs.datasets "
        f"download {dataset_id}` or rebuild it from its seed with `python -m refexp_envs.datasets "
        f"build {dataset_id}`."
    )
    if entry.has_split:
        train, test = entry.tasks_of("train"), entry.tasks_of("test")
        text += (f" Only the train compositions' tasks are here ({len(train)} tasks: {train[0]}-{train[-1]}); "
                 f"the held-out test compositions' tasks ({test[0]}-{test[-1]}) are in no dataset.")
    if behaviour in _LOOK:
        surface = (" and, in half of the episodes, a plain table without its wood texture"
                   if _LOOK[behaviour] == "random-texture" else "")
        text += (f" Recorded with appearance='{_LOOK[behaviour]}': every episode has its own look (drawer "
                 f"colour, table tint, light, camera offset{surface}) drawn from its seed; the episodes, "
                 "starts and actions are those of the expert dataset of the same version. For training "
                 "agents that must not depend on one look.")
    if "Shift" in env_id:
        text += (" For evaluation and analysis only: the method's robustness agents never train on the "
                 "shift's own appearance.")
    return text


def _make_registry() -> dict[str, DatasetSpec]:
    registry: dict[str, DatasetSpec] = {}
    for env_id, entry in ENVS.items():
        if not entry.has_datasets:
            continue
        for behaviour, noise, per_task, obs_type, what, first in _BEHAVIOURS:
            if entry.version < first or (behaviour in _LOOK and (entry.appearance != "default" or entry.version != 1)):
                continue  # the appearance-randomised sets exist for v1 only
            if per_task == FULL_EPISODES_PER_TASK:
                per_task = _FULL_PER_TASK.get(entry.slug, per_task)
            elif per_task == DEV_EPISODES_PER_TASK:
                per_task = _DEV_PER_TASK.get(entry.slug, per_task)
            dataset_id = f"refexp/{entry.slug}/{behaviour}-v{entry.version}"
            sha, success, size = _PUBLISHED.get(dataset_id, (None, None, None))
            registry[dataset_id] = DatasetSpec(
                dataset_id=dataset_id,
                env_id=env_id,
                behaviour=behaviour,
                noise=noise,
                episodes_per_task=per_task,
                seed=entry.seed_base + _SEED_OFFSET[behaviour],
                num_tasks=entry.num_tasks,
                sha256=sha,
                obs_type=obs_type,
                look=_LOOK.get(behaviour),
                behaviour_success=success,
                size_bytes=size,
                description=_description(env_id, behaviour, per_task, what, noise, obs_type,
                                         entry.version, dataset_id),
                nonpixel_sha256=_PUBLISHED_NONPIXEL.get(dataset_id),
                values_sha256=_PUBLISHED_VALUES.get(dataset_id),
                tasks=entry.tasks_of("train") if entry.has_split else (),
            )
    return registry


REGISTRY: dict[str, DatasetSpec] = _make_registry()


def get_spec(dataset_id: str | DatasetSpec) -> DatasetSpec:
    """The spec of a registered id; an unknown id raises with the list of valid ids."""
    if isinstance(dataset_id, DatasetSpec):
        return dataset_id
    try:
        return REGISTRY[dataset_id]
    except KeyError:
        valid = "\n  ".join(sorted(REGISTRY))
        raise UnknownDatasetError(f"unknown dataset id {dataset_id!r}; valid ids:\n  {valid}") from None


def base_url() -> str:
    """The HTTPS archive host: $REFEXP_DATASETS_URL, else the project's default."""
    return os.environ.get(BASE_URL_ENV, DEFAULT_BASE_URL).rstrip("/")


def archive_name(dataset_id: str) -> str:
    """Release asset name of an id (flat: release hosts do not allow '/' in asset names)."""
    return dataset_id.replace("/", "__") + ".tar.gz"


def markdown_table(version: int | None = None) -> str:
    """The registry as a markdown table (docs/datasets.md is made from it): every id, or those
    of one dataset version. An unpinned id says so in its SHA-256 column."""
    lines = [
        "| id | env | observations | episodes per task | action noise | seed | behaviour success | `data/` | SHA-256 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sorted(REGISTRY.values(), key=lambda s: (-s.version, s.env_id, s.dataset_id)):
        if version is not None and s.version != version:
            continue
        success = "-" if s.behaviour_success is None else f"{s.behaviour_success:.1%}"
        size = "-" if s.size_bytes is None else f"{s.size_bytes / 1e6:.1f} MB"
        pin = f"`{s.sha256}`" if s.sha256 else "**not pinned yet**"
        lines.append(f"| `{s.dataset_id}` | `{s.env_id}` | {s.obs_type} | {s.episodes_per_task} | {s.noise} | "
                     f"{s.seed} | {success} | {size} | {pin} |")
    return "\n".join(lines)

