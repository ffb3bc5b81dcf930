"""Plain offline RL from an outside library: d3rlpy's IQL (or CQL) on one frame, all tasks' data pooled.

    python -m refexp_baselines.families.offline_lib --env RefExp/TwoDrawer-v1 --seed 0 --out runs/families/offline-iql/twodrawer-v1-seed0

The lower bound of the family table (issue 24): a Markov policy on the current observation only, no
memory and no task inference, trained by an outside library (d3rlpy, `pip install -e .[offline]`) on a
RefExp Minari dataset read with Minari's own API (`minari.load_dataset`). Every task's episodes are
pooled, so the rewards of the data disagree across tasks for the same frame; the best a Markov policy
can do is a fixed drawer (about 1/N success per episode).

What d3rlpy could not read as is, and the conversion done here:

* `d3rlpy.datasets.get_minari(id)` (d3rlpy 2.8.1) accepts a Box observation space or a goal Dict
  (`observation`, `desired_goal`) only; on RefExp's `Dict(pixels, proprio)` it raises
  `ValueError: Unsupported observation space: Dict('pixels': Box(0, 255, (64, 64, 3), uint8), 'proprio': ...)`.
  So the episodes are read with `minari.load_dataset` and handed to d3rlpy's `MDPDataset` as a *tuple*
  observation (d3rlpy 2.x supports tuples): `(pixels as uint8 (3, 64, 64), proprio float32 (4,))`. The
  only changes are the pixel axis order (HWC -> CHW, what d3rlpy's conv encoder takes) and the tuple.
* A Minari episode has T+1 observations and T actions; `MDPDataset` takes one action per observation.
  Each episode is given as its T+1 observations with a zero action and zero reward appended at the
  final observation, `timeouts` 1 there (terminals 1 at the last step instead, if the episode terminated).
  d3rlpy then makes exactly the T recorded transitions `(o_t, a_t, r_t, o_{t+1})` per episode; the
  appended action is never a training target (IQL and CQL do not use next actions).
* d3rlpy's encoder factories take one array; a tuple needs a custom factory. `PixelsProprioEncoderFactory`
  is d3rlpy's own `PixelEncoder` (conv stack + dense, `--filters`, `--feature-size`) on the pixels, its
  features concatenated with the proprio (and the action, for Q-functions) and one dense ReLU layer
  (`--feature-size` units). Scaling is d3rlpy's: `TupleObservationScaler(PixelObservationScaler (x/255),
  MinMaxObservationScaler (the dataset's proprio bounds))`.

Training: the library's `algo.update(dataset.sample_transition_batch(batch))` loop (what `fit` runs),
with the library's default hyper-parameters (`IQLConfig()`/`CQLConfig()`), seeded by `d3rlpy.seed(seed)`.

Run directory `--out`: `config.json` (config, shapes, proprio bounds), `policy.pt` (the actor's plain
state dict: what acting loads), `algo.pt` (resume: d3rlpy's `save_model`, every module and optimiser,
plain state dicts), `state.json` (step and the random streams), `log.csv` (losses every 100 steps, speed)
and `done.json`. All `.pt` files load with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

import refexp_envs
from benchmark.protocol import ACTION_DIM, DEFAULT_ENV_ID
from refexp_baselines.families import files_version
from refexp_baselines.families.cli import field_help, run_train_command

ALGOS = ("iql", "cql")
PROPRIO_DIM = 4
SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "checkpoints" / "families"


def parse_filters(spec: str) -> list[list[int]]:
    """`"16x8x4,32x4x2"` -> `[[16, 8, 4], [32, 4, 2]]` (channels x kernel x stride per conv layer)."""
    try:
        out = [[int(v) for v in layer.split("x")] for layer in spec.split(",")]
    except ValueError:
        out = []
    if not out or any(len(layer) != 3 or min(layer) < 1 for layer in out):
        raise ValueError(f"filters must be CxKxS[,CxKxS...] with positive integers, got {spec!r}")
    return out


@dataclass(frozen=True)
class OfflineLibConfig:
    """One d3rlpy training run (each field is the train command's flag of the same name)."""

    env: str = field(default=DEFAULT_ENV_ID, metadata=field_help("RefExp env id to train for"))
    algo: str = field(default="iql", metadata=field_help("d3rlpy algorithm: iql or cql (library defaults)"))
    dataset: str | None = field(default=None, metadata=field_help(
        "Minari dataset id (if omitted: the env's expert set); every task's episodes are pooled"))
    max_episodes: int | None = field(default=None, metadata=field_help(
        "read only the dataset's first N episodes (if omitted: all)"))
    seed: int = field(default=0, metadata=field_help("training seed (the harness's --seeds)"))
    out: str | None = field(default=None, metadata=field_help(
        "run directory (if omitted: runs/families/offline-<algo>/<env>-seed<seed>)"))
    filters: str = field(default="16x8x4,32x4x2,32x3x1", metadata=field_help(
        "conv layers of d3rlpy's PixelEncoder, channels x kernel x stride (d3rlpy's default: 32x8x4,64x4x2,64x3x1)"))
    feature_size: int = field(default=128, metadata=field_help(
        "PixelEncoder's dense layer and the fused encoder's width (d3rlpy's default: 512)"))
    batch_size: int = field(default=256, metadata=field_help("mini-batch size (d3rlpy's default: 256)"))
    steps: int = field(default=10000, metadata=field_help("gradient steps"))
    checkpoint_every: int = field(default=1000, metadata=field_help("gradient steps between checkpoints"))
    threads: int = field(default=1, metadata=field_help("torch threads"))

    def __post_init__(self):
        refexp_envs.env_entry(self.env)
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {ALGOS}, got {self.algo!r}")
        parse_filters(self.filters)
        for name in ("feature_size", "batch_size", "steps", "checkpoint_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_episodes is not None and self.max_episodes < 1:
            raise ValueError(f"max_episodes must be >= 1, got {self.max_episodes}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")

    @property
    def name(self) -> str:
        return f"offline-{self.algo}"

    @property
    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        return Path("runs") / "families" / self.name / f"{self.env.split('/')[-1].lower()}-seed{self.seed}"

    @property
    def dataset_id(self) -> str:
        return self.dataset or refexp_envs.env_entry(self.env).default_dataset

    def identity(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("out", "threads", "checkpoint_every"):
            d.pop(k)
        return d


# ------------------------------------------------------------------------------------ d3rlpy glue
def _d3rlpy():
    try:
        import d3rlpy
    except ImportError as exc:  # an optional dependency
        raise ImportError("this baseline needs d3rlpy: pip install -e '.[offline]'") from exc
    _register_encoder()
    return d3rlpy


_REGISTERED: dict = {}


def _register_encoder():
    """Define and register (once) the tuple-observation encoder factory with d3rlpy."""
    if _REGISTERED:
        return _REGISTERED["factory"]
    import torch
    import torch.nn as nn
    from d3rlpy.models import EncoderFactory, register_encoder_factory
    from d3rlpy.models.torch import Encoder, EncoderWithAction, PixelEncoder

    class Fused(nn.Module):
        """d3rlpy's PixelEncoder on x[0] (pixels), its features joined with x[1] (proprio) and the action
        (if any), then one dense ReLU layer."""

        def __init__(self, shapes, filters, feature_size, action_size: int = 0):
            super().__init__()
            self.pixels = PixelEncoder(shapes[0], filters=filters, feature_size=feature_size)
            self.fuse = nn.Sequential(nn.Linear(feature_size + shapes[1][0] + action_size, feature_size), nn.ReLU())

        def forward(self, x, action=None):
            h = [self.pixels(x[0]), x[1]] + ([action] if action is not None else [])
            return self.fuse(torch.cat(h, -1))

    class PixelsProprioEncoder(Encoder):
        def __init__(self, shapes, filters, feature_size):
            super().__init__()
            self.enc = Fused(shapes, filters, feature_size)

        def forward(self, x):
            return self.enc(x)

    class PixelsProprioEncoderWithAction(EncoderWithAction):
        def __init__(self, shapes, filters, feature_size, action_size):
            super().__init__()
            self.enc = Fused(shapes, filters, feature_size, action_size)

        def forward(self, x, action):
            return self.enc(x, action)

    @dataclass()
    class PixelsProprioEncoderFactory(EncoderFactory):
        filters: list = dataclasses.field(default_factory=lambda: [[16, 8, 4], [32, 4, 2], [32, 3, 1]])
        feature_size: int = 128

        def create(self, observation_shape):
            _check_shapes(observation_shape)
            return PixelsProprioEncoder(observation_shape, self.filters, self.feature_size)

        def create_with_action(self, observation_shape, action_size, discrete_action=False):
            _check_shapes(observation_shape)
            if discrete_action:
                raise ValueError("RefExp's actions are continuous")
            return PixelsProprioEncoderWithAction(observation_shape, self.filters, self.feature_size, action_size)

        @staticmethod
        def get_type() -> str:
            return "refexp_pixels_proprio"

    register_encoder_factory(PixelsProprioEncoderFactory)
    _REGISTERED["factory"] = PixelsProprioEncoderFactory
    return PixelsProprioEncoderFactory


def _check_shapes(shapes) -> None:
    if len(shapes) != 2 or len(shapes[0]) != 3 or len(shapes[1]) != 1:
        raise ValueError(f"observations must be a (pixels CHW, proprio) tuple, got shapes {shapes}")


def make_algo(cfg: OfflineLibConfig, proprio_low, proprio_high):
    """The d3rlpy algorithm of `cfg` (library defaults but the encoder and batch size), built for
    observations `((3, 64, 64), (4,))` and 4-D actions, on CPU."""
    d3rlpy = _d3rlpy()
    from d3rlpy.preprocessing import MinMaxObservationScaler, PixelObservationScaler, TupleObservationScaler

    factory = _REGISTERED["factory"](filters=parse_filters(cfg.filters), feature_size=cfg.feature_size)
    scaler = TupleObservationScaler(observation_scalers=[
        PixelObservationScaler(),
        MinMaxObservationScaler(minimum=np.asarray(proprio_low, np.float32), maximum=np.asarray(proprio_high, np.float32))])
    common = dict(actor_encoder_factory=factory, critic_encoder_factory=factory, batch_size=cfg.batch_size,
                  observation_scaler=scaler)
    if cfg.algo == "iql":
        conf = d3rlpy.algos.IQLConfig(value_encoder_factory=factory, **common)
    else:
        conf = d3rlpy.algos.CQLConfig(**common)
    algo = conf.create(device="cpu:0")
    algo.create_impl(((3, 64, 64), (PROPRIO_DIM,)), ACTION_DIM)
    return algo


def to_observation(obs: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """A batch of RefExp observations as d3rlpy's tuple: (pixels uint8 (B, 3, 64, 64), proprio (B, 4))."""
    px = np.stack([np.asarray(o["pixels"], np.uint8) for o in obs]).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(px), np.stack([np.asarray(o["proprio"], np.float32) for o in obs])


def load_mdp_dataset(dataset_id: str, max_episodes: int | None = None, log=print):
    """Every episode of a RefExp Minari dataset (all tasks pooled), read with Minari's API, as a
    d3rlpy `MDPDataset` with tuple observations; and a record of what was read (episodes, transitions,
    per-task counts, proprio bounds). See the module docstring for the conversion."""
    import minari

    d3rlpy = _d3rlpy()
    ds = minari.load_dataset(dataset_id)
    space = ds.observation_space
    if not hasattr(space, "spaces") or set(space.spaces) != {"pixels", "proprio"}:
        raise ValueError(f"{dataset_id}: observations must be Dict(pixels, proprio), got {space}")
    ids = list(ds.episode_indices)[: max_episodes or None]
    eps = list(ds.iterate_episodes(ids))
    if not eps:
        raise ValueError(f"{dataset_id}: no episodes")
    rows = sum(len(e.actions) + 1 - bool(e.terminations[-1]) for e in eps)
    px = np.empty((rows, 3, 64, 64), np.uint8)
    pro = np.empty((rows, PROPRIO_DIM), np.float32)
    act = np.zeros((rows, ACTION_DIM), np.float32)
    rew = np.zeros((rows, 1), np.float32)
    term = np.zeros(rows, np.float32)
    tout = np.zeros(rows, np.float32)
    tasks: dict[int, int] = {}
    i = 0
    for e in eps:
        T = len(e.actions)
        n = T if e.terminations[-1] else T + 1  # a terminated episode's final observation is never a state
        px[i:i + n] = e.observations["pixels"][:n].transpose(0, 3, 1, 2)
        pro[i:i + n] = e.observations["proprio"][:n]
        act[i:i + T] = e.actions
        rew[i:i + T, 0] = e.rewards
        (term if e.terminations[-1] else tout)[i + n - 1] = 1.0
        task = (e.infos or {}).get("task")
        if task is not None:
            t = int(np.asarray(task).reshape(-1)[0])
            tasks[t] = tasks.get(t, 0) + 1
        i += n
    mdp = d3rlpy.dataset.MDPDataset(observations=[px, pro], actions=act, rewards=rew, terminals=term, timeouts=tout,
                                    action_space=d3rlpy.constants.ActionSpace.CONTINUOUS, action_size=ACTION_DIM)
    info = {"dataset_id": dataset_id, "episodes": len(eps), "transitions": int(mdp.transition_count),
            "episodes_per_task": {str(k): v for k, v in sorted(tasks.items())},
            "proprio_low": np.asarray(space["proprio"].low, np.float32).tolist(),
            "proprio_high": np.asarray(space["proprio"].high, np.float32).tolist()}
    log(f"offline_lib: read {info['episodes']} episodes ({info['transitions']} transitions, per task "
        f"{info['episodes_per_task']}) of {dataset_id} with minari.load_dataset")
    return mdp, info


# --------------------------------------------------------------------------------------- training
def _rng_state() -> dict:
    import torch

    s = np.random.get_state()
    return {"np": [s[0], s[1].tolist(), s[2], s[3], s[4]], "py": json.loads(json.dumps(random.getstate())),
            "torch": torch.get_rng_state().tolist()}


def _set_rng_state(st: dict) -> None:
    import torch

    n = st["np"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    py = st["py"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    torch.set_rng_state(torch.tensor(st["torch"], dtype=torch.uint8))


def train(cfg: OfflineLibConfig, log=print, dataset=None) -> dict:
    """Train (or resume, or return at once when done) the run `cfg` describes. `dataset`: an
    `(MDPDataset, info)` pair (tests pass tiny ones); if omitted, `load_mdp_dataset(cfg.dataset_id)`."""
    import torch

    from refexp_baselines.train import CsvLog, write_json

    d = cfg.run_dir
    d.mkdir(parents=True, exist_ok=True)
    done = d / "done.json"
    if (d / "config.json").exists():
        have = json.loads((d / "config.json").read_text())["config"]
        if OfflineLibConfig(**have).identity() != cfg.identity():
            raise ValueError(f"{d} holds a run of another config: have {have}")
        if done.exists():
            log(f"offline_lib: {d} is finished; nothing to do")
            return json.loads(done.read_text())
    torch.set_num_threads(cfg.threads)
    d3rlpy = _d3rlpy()
    mdp, info = dataset if dataset is not None else load_mdp_dataset(cfg.dataset_id, cfg.max_episodes, log)
    d3rlpy.seed(cfg.seed)
    algo = make_algo(cfg, info["proprio_low"], info["proprio_high"])
    meta = {"config": dataclasses.asdict(cfg), "data": info, "library": f"d3rlpy {d3rlpy.__version__}",
            "observation_shape": [[3, 64, 64], [PROPRIO_DIM]], "action_size": ACTION_DIM}
    write_json(meta, d / "config.json")
    step, timing = 0, {"train_s": 0.0}
    if (d / "state.json").exists() and (d / "algo.pt").exists():
        st = json.loads((d / "state.json").read_text())
        algo.load_model(str(d / "algo.pt"))
        step, timing = int(st["step"]), dict(st["timing"])
        algo._grad_step = step  # d3rlpy's own counter (what `fit` keeps)
        _set_rng_state(st["rng"])
        log(f"offline_lib: resumed at step {step}")
    csvlog = CsvLog(d / "log.csv")
    t0, agg, n_agg, row = time.time(), {}, 0, {}
    while step < cfg.steps:
        loss = algo.update(mdp.sample_transition_batch(cfg.batch_size))
        step += 1
        for k, v in loss.items():
            agg[k] = agg.get(k, 0.0) + float(v)
        n_agg += 1
        if step % 100 == 0 or step % cfg.checkpoint_every == 0 or step == cfg.steps:
            dt = time.time() - t0
            timing["train_s"] += dt
            row = {"step": step, "train_wall_s": round(timing["train_s"], 1), "steps_per_s": round(n_agg / max(dt, 1e-9), 2),
                   **{k: v / n_agg for k, v in agg.items()}}
            agg, n_agg = {}, 0
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                _checkpoint(algo, d, {"step": step, "timing": timing, "rng": _rng_state()})
            csvlog.write(row)
            log("offline_lib " + " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
            t0 = time.time()
    summary = {"steps": step, "timing": timing, "steps_per_s": round(step / max(timing["train_s"], 1e-9), 2),
               "run_dir": str(d), "library": meta["library"], "torch": torch.__version__,
               "note": "no evaluation during training; score with the harness"}
    write_json(summary, done)
    return summary


def _checkpoint(algo, d: Path, state: dict) -> None:
    """policy.pt (what acting loads), algo.pt (d3rlpy's save_model: resume) and state.json, each
    written to a temporary file and renamed; state.json last, so that it never names a newer step."""
    import torch

    torch.save(algo.impl.modules.policy.state_dict(), d / "policy.tmp.pt")
    os.replace(d / "policy.tmp.pt", d / "policy.pt")
    algo.save_model(str(d / "algo.tmp.pt"))
    os.replace(d / "algo.tmp.pt", d / "algo.pt")
    (d / "state.tmp.json").write_text(json.dumps(state))
    os.replace(d / "state.tmp.json", d / "state.json")


# ------------------------------------------------------------------------------------------ agent
def shipped_dir(env_id: str, seed: int, algo: str = "iql") -> Path:
    """Where the shipped checkpoint of `algo`, `env_id` and training seed `seed` lives."""
    return SHIPPED_ROOT / f"offline-{algo}" / f"{env_id.split('/')[-1].lower()}-seed{int(seed)}"


def load_policy(d: str | Path):
    """(config, meta, d3rlpy algorithm with the run's policy loaded) of run directory `d`."""
    import torch

    d = Path(d)
    if not (d / "config.json").is_file() or not (d / "policy.pt").is_file():
        raise FileNotFoundError(f"no offline_lib run at {d} (config.json, policy.pt): train one with "
                                "python -m refexp_baselines.families.offline_lib")
    meta = json.loads((d / "config.json").read_text())
    cfg = OfflineLibConfig(**meta["config"])
    algo = make_algo(cfg, meta["data"]["proprio_low"], meta["data"]["proprio_high"])
    algo.impl.modules.policy.load_state_dict(torch.load(d / "policy.pt", map_location="cpu", weights_only=True))
    return cfg, meta, algo


class OfflineIQLAgent:
    """A trained d3rlpy run behind the Agent protocol: the greedy action of the policy on the current
    observation only (Markov: no memory, no task inference; rewards and episode starts are ignored).

    `checkpoint`: a run directory; if omitted, the shipped one of `env_id` and training seed `seed`
    (`shipped_dir`), so that the harness can load
    `--agent refexp_baselines.families.offline_lib:OfflineIQLAgent --seeds S`."""

    ALGO = "iql"
    uses_task = False
    eligible = True
    uses_dataset = True

    def __init__(self, checkpoint: str | Path | None = None, env_id: str | None = None, seed: int = 0,
                 device: str = "cpu"):
        d = Path(checkpoint) if checkpoint is not None else shipped_dir(env_id or DEFAULT_ENV_ID, seed, self.ALGO)
        self.cfg, self.meta, self.algo = load_policy(d)
        self.trained_env_id = self.cfg.env
        self.dataset_id = self.cfg.dataset_id
        self.name = self.cfg.name
        self.version = files_version(d, ("config.json", "policy.pt"))

    def seed(self, seed: int) -> None:  # deterministic: nothing to seed
        pass

    def reset(self) -> None:
        pass

    def reset_batch(self, seeds) -> None:
        pass

    def act_batch(self, obs, rewards, episode_starts) -> np.ndarray:
        a = self.algo.predict(to_observation(obs))
        return np.clip(np.asarray(a, np.float32), -1.0, 1.0)

    def act(self, obs, reward: float, episode_start: bool) -> np.ndarray:
        return self.act_batch([obs], np.array([reward]), np.array([episode_start]))[0]


class OfflineCQLAgent(OfflineIQLAgent):
    """`OfflineIQLAgent` for runs trained with `--algo cql` (its shipped checkpoints)."""

    ALGO = "cql"


def ship(run_dir: str | Path, env_id: str, seed: int) -> Path:
    """Copy a finished run's policy.pt to `shipped_dir(env_id, seed, its algo)`, with its config.json
    extended by the run's gradient steps and training wall time (`steps`, `train_wall_s`: the families
    table's "time to train")."""
    import shutil

    from refexp_baselines.train import write_json

    src = Path(run_dir)
    cfg, meta, _ = load_policy(src)
    if not (src / "done.json").is_file():
        raise FileNotFoundError(f"{src} is not a finished offline_lib run (no done.json)")
    if cfg.env != env_id or cfg.seed != int(seed):
        raise ValueError(f"{src} is a run of {cfg.env} seed {cfg.seed}, not {env_id} seed {seed}")
    done = json.loads((src / "done.json").read_text())
    dst = shipped_dir(env_id, seed, cfg.algo)
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "policy.pt", dst / "policy.pt")
    write_json({**meta, "steps": done["steps"], "train_wall_s": round(done["timing"]["train_s"], 1),
                "torch": done["torch"]}, dst / "config.json")
    return dst


def main(argv: Sequence[str] | None = None) -> int:
    return run_train_command(OfflineLibConfig, argv, "python -m refexp_baselines.families.offline_lib",
                             __doc__.split("\n\n")[0], train, lambda cfg: cfg.run_dir / "algo.pt")


if __name__ == "__main__":
    sys.exit(main())
