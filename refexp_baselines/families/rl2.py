"""RL^2, online: sb3-contrib's RecurrentPPO on K-episode trials, scored through the harness.

    python -m refexp_baselines.families.rl2 --env RefExp/TwoDrawer-v1 --obs-type state --steps 1000000 \\
        --seed 0 --out runs/families/rl2/two-drawer-state-seed0

A trial of K episodes of one hidden task is one recurrent episode (`benchmark.agents.TrialWrapper`):
the LSTM state is carried across the K episodes and reset only at the trial's start, and the
observation carries the previous reward and the episode-start flag (`augment_observation`, the one
definition the harness's `SB3Agent` also feeds the model). Env copies run in spawned workers
(`refexp_envs.make_vector_env(..., wrappers=[TrialWrapper])`), seen by SB3 through `sb3_vec_env`.

Run directory `--out`: `config.json`; `model.zip` (the SB3 model, the file the harness scores:
`python -m benchmark.run --agent OUT/model.zip`; its `policy.pth` is a plain state dict, loadable with
`torch.load(weights_only=True)`); `curve.csv` (the learning curve: success per episode and exploration
score on the development secret against online env steps); `timing.json`; `done.json` when finished.
A checkpoint is written at a rollout boundary every `--checkpoint-every` env steps; rerunning the
same command resumes from it (weights, optimiser, step count; the env copies are reseeded as at the
run's start, so a resumed run is not bit-identical to an uninterrupted one).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np

import refexp_envs
from benchmark.agents import SB3Agent, TrialWrapper
from benchmark.protocol import DEFAULT_ENV_ID, DEV_EVAL_SEED, DEV_SECRET
from refexp_baselines.families.cli import field_help, run_train_command

OBS_TYPES = ("pixels", "state")


@dataclass(frozen=True)
class RL2Config:
    """One RL^2 training run (each field is the train command's flag of the same name)."""

    env: str = field(default=DEFAULT_ENV_ID, metadata=field_help("RefExp env id to train on"))
    obs_type: str = field(default="pixels", metadata=field_help("pixels (ranked rows) or state (reported apart)"))
    steps: int = field(default=1_000_000, metadata=field_help("online env steps to train for (the budget)"))
    seed: int = field(default=0, metadata=field_help("training seed (the harness's --seeds)"))
    out: str | None = field(default=None, metadata=field_help(
        "run directory (if omitted: runs/families/rl2/<env>-<obs>-seed<seed>)"))
    episodes: int | None = field(default=None, metadata=field_help("episodes K per trial (if omitted: the env's K)"))
    n_envs: int = field(default=1, metadata=field_help("env copies, each in a spawned worker process"))
    lstm_hidden: int = field(default=64, metadata=field_help("LSTM units of the actor and of the critic"))
    n_steps: int = field(default=600, metadata=field_help("env steps per copy per rollout (4 trials of K=3 x 50)"))
    batch_size: int = field(default=150, metadata=field_help("minibatch size in steps"))
    n_epochs: int = field(default=4, metadata=field_help("PPO epochs per rollout"))
    learning_rate: float = field(default=3e-4, metadata=field_help("Adam step size"))
    gamma: float = field(default=0.99, metadata=field_help("discount, across the K episodes of a trial"))
    gae_lambda: float = field(default=0.95, metadata=field_help("GAE lambda"))
    ent_coef: float = field(default=0.0, metadata=field_help("entropy bonus weight"))
    eval_every: int = field(default=20_000, metadata=field_help("env steps between learning-curve evaluations (0: none)"))
    eval_trials: int = field(default=10, metadata=field_help("trials of each task per evaluation (development secret)"))
    checkpoint_every: int = field(default=10_000, metadata=field_help("env steps between checkpoints"))
    device: str = field(default="cpu", metadata=field_help("torch device (cpu, cuda)"))
    threads: int = field(default=1, metadata=field_help("torch threads"))
    progress: bool = field(default=True, metadata=field_help("show a progress bar"))

    def __post_init__(self):
        refexp_envs.env_entry(self.env)  # a ValueError naming the known ids
        if self.obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {self.obs_type!r}")
        for name in ("steps", "n_envs", "lstm_hidden", "n_steps", "batch_size", "n_epochs", "checkpoint_every",
                     "threads", "eval_trials"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.episodes is not None and self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.seed < 0 or self.eval_every < 0:
            raise ValueError("seed and eval_every must be >= 0")

    @property
    def k(self) -> int:
        """Episodes per trial."""
        return self.episodes if self.episodes is not None else refexp_envs.default_episodes(self.env)

    @property
    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        slug = self.env.split("/")[-1].lower()
        return Path("runs") / "families" / "rl2" / f"{slug}-{self.obs_type}-seed{self.seed}"

    def identity(self) -> dict:
        """What a resumed run must agree on (everything but where and how it runs)."""
        d = dataclasses.asdict(self)
        for k in ("out", "device", "threads", "progress"):
            d.pop(k)
        return d


# ------------------------------------------------------------------------------------ vector env
def _vec_env_class():
    from stable_baselines3.common.vec_env import VecEnv

    class GymVecEnv(VecEnv):
        """A Gymnasium vector env (autoreset "SameStep") seen as an SB3 `VecEnv`.

        Observations: the dict of batched arrays `(n_envs, ...)` per key, as SB3 expects; a finished
        copy's last observation goes to `infos[i]["terminal_observation"]`, its reset one to `obs`.
        """

        def __init__(self, venv):
            if venv.metadata.get("autoreset_mode") != gym.vector.AutoresetMode.SAME_STEP:
                raise ValueError("GymVecEnv needs a vector env made with autoreset_mode='SameStep'")
            self.venv = venv  # before VecEnv.__init__, which reads the copies' render_mode
            super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
            self._actions = None

        def reset(self):
            seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
            obs, info = self.venv.reset(seed=seeds)
            self.reset_infos = self._split(info)
            self._reset_seeds()
            self._reset_options()
            return obs

        def step_async(self, actions: np.ndarray) -> None:
            self._actions = actions

        def step_wait(self):
            obs, rew, term, trunc, info = self.venv.step(self._actions)
            infos = self._split({k: v for k, v in info.items() if k not in ("final_obs", "final_info")})
            dones = np.logical_or(term, trunc)
            for i in np.flatnonzero(dones):
                final = info["final_info"]
                infos[i] = {k: v[i] for k, v in final.items() if not k.startswith("_") and final.get("_" + k, [True] * self.num_envs)[i]}
                infos[i]["terminal_observation"] = info["final_obs"][i]
                infos[i]["TimeLimit.truncated"] = bool(trunc[i] and not term[i])
            return obs, np.asarray(rew, dtype=np.float32), dones, infos

        def _split(self, info: dict) -> list[dict]:
            out: list[dict] = [{} for _ in range(self.num_envs)]
            for k, v in info.items():
                if k.startswith("_"):
                    continue
                mask = info.get("_" + k, np.ones(self.num_envs, bool))
                for i in range(self.num_envs):
                    if mask[i]:
                        out[i][k] = v[i]
            return out

        def close(self) -> None:
            self.venv.close()

        def get_attr(self, attr_name, indices=None):
            values = self.venv.get_attr(attr_name)
            return [values[i] for i in self._get_indices(indices)]

        def set_attr(self, attr_name, value, indices=None):
            if indices is not None and list(self._get_indices(indices)) != list(range(self.num_envs)):
                raise ValueError("GymVecEnv.set_attr sets an attribute on every env copy, not on some")
            self.venv.set_attr(attr_name, value)

        def env_method(self, method_name, *args, indices=None, **kwargs):
            values = self.venv.call(method_name, *args, **kwargs)
            return [values[i] for i in self._get_indices(indices)]

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False for _ in self._get_indices(indices)]

    return GymVecEnv


def sb3_vec_env(venv):
    """The Gymnasium vector env `venv` (made with autoreset_mode="SameStep") as an SB3 `VecEnv`."""
    return _vec_env_class()(venv)


def make_training_env(cfg: RL2Config):
    """`cfg.n_envs` trial envs in spawned workers, as an SB3 `VecEnv` with episode statistics (trials)."""
    from stable_baselines3.common.vec_env import VecMonitor

    venv = refexp_envs.make_vector_env(cfg.env, cfg.n_envs, wrappers=[functools.partial(TrialWrapper, episodes=cfg.k)],
                                       autoreset_mode="SameStep", obs_type=cfg.obs_type)
    env = VecMonitor(sb3_vec_env(venv))
    env.seed(cfg.seed)
    return env


# ------------------------------------------------------------------------------------ evaluation
@contextmanager
def _rng_untouched(device: str):
    """Keep the global RNGs (python, numpy, torch) as they were: an evaluation must not shift training's stream."""
    import torch

    py, npy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[device] if str(device).startswith("cuda") else []):
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


def evaluate_model(path: Path, cfg: RL2Config, trials_per_task: int, eval_seed: int = DEV_EVAL_SEED) -> dict:
    """The harness's results dict for the SB3 model at `path` (through `SB3Agent`, in this process) on
    the development secret: what `python -m benchmark.run --agent PATH --seeds <seed> --eval-seed
    <eval_seed> --eval-secret refexp-dev-v1 --obs-type <obs>` gives."""
    from benchmark.run import evaluate

    with _rng_untouched(cfg.device):
        agent = SB3Agent(path, env_id=cfg.env, seed=cfg.seed, device=cfg.device)
        return evaluate(agent, cfg.env, episodes=cfg.k, trials_per_task=trials_per_task, training_seeds=(cfg.seed,),
                        eval_seed=eval_seed, secret=DEV_SECRET, workers=1, progress=False, obs_type=cfg.obs_type)


def curve_row(res: dict, env_steps: int, wall_s: float) -> dict:
    """One learning-curve row: online env steps, training wall time and the evaluation's numbers."""
    row: dict[str, Any] = {"env_steps": env_steps, "train_wall_s": round(wall_s, 1)}
    row.update({f"success_ep{i + 1}": s for i, s in enumerate(res["success_rate"])})
    row.update({"exploration_score": res["exploration_score"], "trials_per_task": res["trials_per_task"],
                "eval_seed": res["eval_seed"], "secret_id": res["secret_id"],
                "distinct_rollouts": sum(c["distinct"] for c in res["distinct_rollouts"])})
    return row


def read_curve(run_dir: str | Path) -> list[dict]:
    """The learning-curve rows of a run (`curve.csv`), values as floats where numeric."""
    import csv

    p = Path(run_dir) / "curve.csv"
    if not p.exists():
        return []
    with open(p, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        d = {}
        for k, v in r.items():
            try:
                d[k] = float(v)
            except (TypeError, ValueError):
                d[k] = v
        out.append(d)
    return out


# ------------------------------------------------------------------------------------- training
def _callback_class():
    from stable_baselines3.common.callbacks import BaseCallback

    class CheckpointAndCurve(BaseCallback):
        """At rollout boundaries (weights updated with every step counted so far): a checkpoint every
        `checkpoint_every` env steps, a harness evaluation every `eval_every` into `curve.csv`."""

        def __init__(self, trainer: "RL2Trainer"):
            super().__init__()
            self.t = trainer

        def _on_rollout_start(self) -> None:
            self.t.at_boundary(self.model)

        def _on_step(self) -> bool:
            return True

    return CheckpointAndCurve


class RL2Trainer:
    """Trains, checkpoints, evaluates and resumes one RL^2 run (see the module docstring)."""

    def __init__(self, cfg: RL2Config, log=print):
        from refexp_baselines.train import CsvLog

        self.cfg, self.log = cfg, log
        self.dir = cfg.run_dir
        self.model_path = self.dir / "model.zip"
        self.curve = CsvLog(self.dir / "curve.csv")
        self.timing = {"train_s": 0.0, "eval_s": 0.0}
        self.next_ckpt = 0
        self.next_eval = 0
        self._t0 = time.time()

    def check_dir(self) -> None:
        """A run directory holds one config: another one there is an error, not a silent resume."""
        from refexp_baselines.train import write_json

        p = self.dir / "config.json"
        if p.exists():
            have = json.loads(p.read_text())
            if have != self.cfg.identity():
                raise ValueError(f"{self.dir} holds a run of another config: have {have}, want {self.cfg.identity()}")
        else:
            self.dir.mkdir(parents=True, exist_ok=True)
            write_json(self.cfg.identity(), p)

    def _train_elapsed(self) -> float:
        return self.timing["train_s"] + (time.time() - self._t0)

    def save(self, model) -> None:
        """Atomic checkpoint: the model (weights, optimiser, step count) and the timing so far."""
        from refexp_baselines.train import write_json

        self.timing["train_s"] = self._train_elapsed()
        self._t0 = time.time()
        tmp = self.dir / "model.tmp.zip"
        model.save(tmp)
        os.replace(tmp, self.model_path)
        write_json({**self.timing, "env_steps": int(model.num_timesteps)}, self.dir / "timing.json")

    def evaluate(self, model) -> dict:
        """Score the checkpoint just saved (the model file, as the harness does) and log a curve row."""
        wall = self._train_elapsed()
        te = time.time()
        res = evaluate_model(self.model_path, self.cfg, self.cfg.eval_trials)
        self.timing["eval_s"] += time.time() - te
        self.timing["train_s"] = wall
        row = curve_row(res, int(model.num_timesteps), wall)
        self.curve.write(row)
        self.log(f"rl2 step {row['env_steps']}: success per episode {res['success_rate']}, "
                 f"exploration score {res['exploration_score']}")
        self._t0 = time.time()  # evaluation time is not training time
        return row

    def at_boundary(self, model) -> None:
        steps = int(model.num_timesteps)
        evaluate = self.cfg.eval_every and steps >= self.next_eval
        if steps >= self.next_ckpt or evaluate:
            self.save(model)
            self.next_ckpt = (steps // self.cfg.checkpoint_every + 1) * self.cfg.checkpoint_every
        if evaluate:
            self.evaluate(model)
            self.next_eval = (steps // self.cfg.eval_every + 1) * self.cfg.eval_every

    def build(self, env):
        """A new model, or the checkpoint in the run directory (resumed)."""
        from sb3_contrib import RecurrentPPO

        cfg = self.cfg
        if self.model_path.exists():
            model = RecurrentPPO.load(self.model_path, env=env, device=cfg.device)
            st = json.loads((self.dir / "timing.json").read_text())
            self.timing = {"train_s": st["train_s"], "eval_s": st["eval_s"]}
            steps = int(model.num_timesteps)
            logged = {int(r["env_steps"]) for r in read_curve(self.dir)}
            self.next_ckpt = steps + cfg.checkpoint_every
            if cfg.eval_every:  # the checkpoint's own evaluation, unless it was logged before the interruption
                self.next_eval = steps if steps not in logged else (steps // cfg.eval_every + 1) * cfg.eval_every
            self.log(f"rl2: resumed from {self.model_path} at env step {steps}")
            return model
        policy_kwargs = {"lstm_hidden_size": cfg.lstm_hidden, "enable_critic_lstm": True}
        return RecurrentPPO("MultiInputLstmPolicy", env, n_steps=cfg.n_steps, batch_size=cfg.batch_size,
                            n_epochs=cfg.n_epochs, learning_rate=cfg.learning_rate, gamma=cfg.gamma,
                            gae_lambda=cfg.gae_lambda, ent_coef=cfg.ent_coef, policy_kwargs=policy_kwargs,
                            seed=cfg.seed, device=cfg.device, verbose=0)

    def run(self) -> dict:
        """Train to `cfg.steps` env steps (or resume, or return at once when done). Returns the summary."""
        import torch

        from refexp_baselines.train import write_json

        cfg = self.cfg
        self.check_dir()
        done = self.dir / "done.json"
        if done.exists():
            self.log(f"rl2: {self.dir} is finished; nothing to do")
            return json.loads(done.read_text())
        torch.set_num_threads(cfg.threads)
        env = make_training_env(cfg)
        try:
            model = self.build(env)
            self._t0 = time.time()
            remaining = cfg.steps - int(model.num_timesteps)
            if remaining > 0:
                model.learn(remaining, callback=_callback_class()(self), reset_num_timesteps=False,
                            progress_bar=cfg.progress)
            self.save(model)
            if cfg.eval_every and int(model.num_timesteps) not in {int(r["env_steps"]) for r in read_curve(self.dir)}:
                self.evaluate(model)
        finally:
            env.close()
        steps = int(model.num_timesteps)
        summary = {"env_steps": steps, "timing": self.timing,
                   "env_steps_per_s": steps / max(self.timing["train_s"], 1e-9), "model": str(self.model_path),
                   "curve": str(self.dir / "curve.csv"), "torch": torch.__version__}
        write_json(summary, done)
        return summary


def train(cfg: RL2Config, log=print) -> dict:
    """Train (or resume) the run `cfg` describes; see `RL2Trainer`."""
    return RL2Trainer(cfg, log).run()


# ------------------------------------------------------------------------------------ shipping
SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "checkpoints" / "families"


def agent_name(obs_type: str) -> str:
    """The scored agent's name: `rl2` (pixels, ranked) or `rl2-state` (state, reported apart)."""
    if obs_type not in OBS_TYPES:
        raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {obs_type!r}")
    return "rl2" if obs_type == "pixels" else "rl2-state"


def shipped_dir(env_id: str, seed: int, obs_type: str = "pixels") -> Path:
    """Where the shipped RL^2 model of `env_id`, training seed `seed` and `obs_type` lives."""
    return SHIPPED_ROOT / agent_name(obs_type) / f"{env_id.split('/')[-1].lower()}-seed{int(seed)}"


def scoring_copy(src: Path, dst: Path) -> None:
    """The SB3 model file `src` as a small file for scoring: the policy's floating-point weights rounded to
    fp16 (cast back to fp32 on load; the learning curve scored the fp32 weights, the public score this copy),
    the optimiser's moments dropped (its empty state loads; training resumes only from the run directory),
    entries deflated."""
    import io
    import zipfile

    import torch

    def save(obj) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    tmp = dst.with_suffix(".tmp")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "policy.pth":
                sd = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
                halves: dict = {}  # tensors that share storage (a shared feature extractor) stay shared
                data = save({k: halves.setdefault((v.data_ptr(), v.shape, v.stride()), v.half())
                             if v.is_floating_point() else v for k, v in sd.items()})
            elif name == "policy.optimizer.pth":
                opt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
                data = save({"state": {}, "param_groups": opt["param_groups"]})
            zout.writestr(name, data)
    os.replace(tmp, dst)


def ship(run_dir: str | Path) -> Path:
    """Copy a finished run's learning curve and its final model (`scoring_copy`: fp16 weights) to
    `shipped_dir`, with a config.json that records the run's config, its online env steps and its
    training wall time (evaluations excluded)."""
    import shutil

    from refexp_baselines.train import write_json

    src = Path(run_dir)
    if not (src / "done.json").is_file():
        raise FileNotFoundError(f"{src} is not a finished RL^2 run (no done.json)")
    identity = json.loads((src / "config.json").read_text())
    cfg = RL2Config(**identity, progress=False)
    done = json.loads((src / "done.json").read_text())
    dst = shipped_dir(cfg.env, cfg.seed, cfg.obs_type)
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "curve.csv", dst / "curve.csv")
    scoring_copy(src / "model.zip", dst / "model.zip")
    write_json({"config": identity, "env_steps": done["env_steps"], "train_wall_s": round(done["timing"]["train_s"], 1),
                "eval_wall_s": round(done["timing"]["eval_s"], 1), "torch": done["torch"]}, dst / "config.json")
    (RL2Agent if cfg.obs_type == "pixels" else RL2StateAgent)(env_id=cfg.env, seed=cfg.seed, checkpoint=dst)  # a broken copy fails here
    return dst


class RL2Agent(SB3Agent):
    """A shipped RL^2 pixels model (`shipped_dir`) behind the harness's SB3 path, loaded per training seed,
    so that `--agent refexp_baselines.families.rl2:RL2Agent --seeds 0 1 2 3 4` scores five runs.
    `checkpoint`: a shipped directory to load instead."""

    obs_type = "pixels"  # the observations its model was trained on
    uses_dataset = False  # trained online

    def __init__(self, env_id: str | None = None, seed: int = 0, device: str = "cpu",
                 checkpoint: str | Path | None = None):
        from refexp_baselines.families import files_version

        d = Path(checkpoint) if checkpoint is not None else shipped_dir(env_id or DEFAULT_ENV_ID, seed, self.obs_type)
        if not (d / "config.json").is_file() or not (d / "model.zip").is_file():
            raise FileNotFoundError(f"no shipped RL^2 model at {d} (config.json, model.zip): train one with "
                                    "python -m refexp_baselines.families.rl2, then rl2.ship(RUN_DIR)")
        meta = json.loads((d / "config.json").read_text())
        if meta["config"]["obs_type"] != self.obs_type:
            raise ValueError(f"{d} holds a {meta['config']['obs_type']} model; {type(self).__name__} scores "
                             f"{self.obs_type} models")
        super().__init__(d / "model.zip", env_id=env_id or meta["config"]["env"], seed=seed, device=device)
        self.name = agent_name(self.obs_type)
        self.version = files_version(d, ("config.json", "model.zip"))  # what it loads
        self.trained_env_id = meta["config"]["env"]
        self.online_steps = int(meta["env_steps"])


class RL2StateAgent(RL2Agent):
    """`RL2Agent` for the models trained on state observations (`--obs-type state`; reported apart)."""

    obs_type = "state"


def _score_hint(cfg: RL2Config, summary: dict) -> str:
    return (f"score it with the harness:\n  python -m benchmark.run --agent {summary['model']} --env {cfg.env} "
            f"--obs-type {cfg.obs_type} --seeds {cfg.seed}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_train_command(RL2Config, argv, "python -m refexp_baselines.families.rl2", __doc__.split("\n\n")[0],
                             train, lambda cfg: cfg.run_dir / "model.zip", _score_hint)


if __name__ == "__main__":
    sys.exit(main())
