"""PEARL-style posterior sampling, offline: a permutation-invariant task posterior and a task-conditioned
offline actor-critic, Thompson sampling at the start of each episode.

    python -m refexp_baselines.families.pearl --env RefExp/TwoDrawer-v1 --seed 0 --out runs/families/pearl/twodrawer-v1-seed0

Data: the per-episode arrays of training's own `frames` stage (pixels: frozen frame-VAE codes, the
stage directory shared with the reference method, as in `refexp_baselines.families.dpt`) or of a state
dataset (`--obs-type state`). A *transition* is `x = [o_t, proprio_t, a_t, r_t, o_{t+1}, proprio_{t+1}]`.

Context encoder (PEARL, Rakelly et al. 2019): a per-transition MLP gives Gaussian factors
`N(mu_n, sigma_n^2)` over a task latent z (`--z-dim`); the posterior is their product with the prior
N(0, I): precision `1 + sum_n 1/sigma_n^2`, mean `sum_n mu_n/sigma_n^2 / precision`. It does not depend
on the order of the transitions, an empty context gives the prior, and every transition can only add
precision (the posterior narrows as the context grows). Training context for a target task i: up to
`--context` transitions (a random prefix length per sample, 0 included) from task i's buffer, a fraction
`--mix-other` of them from the other tasks' buffers with their rewards zeroed (under task i, opening
another drawer pays nothing: these are correctly relabelled transitions, and they stop the encoder from
reading the task from which drawer moved). Deviation from PEARL: the encoder is trained by reward
prediction (a decoder `p(r | o, proprio, a, o', z)` on the target task's query transitions, Bernoulli
likelihood) plus `--kl-weight` x KL(posterior || prior), not by the critic's Bellman error; the critic
and actor see z detached. (PEARL's paper names reconstruction as the alternative it did not pick.)

Actor-critic: the project's offline actor-critic (`refexp_baselines.cql.CQL`) on `[o_t, proprio_t, z]`:
twin critics with in-sample n-step targets (`a_{t+n}` of the data), the CQL(H) penalty
(`--cql-alpha`), and `--actor-loss` sac (maximise Q) or awr (advantage-weighted regression onto the
data actions). Its query transitions for target task i are drawn like the context (task i's buffer,
`--mix-other` of them from the other buffers with rewards zeroed), z a posterior sample given a
context of task i.

Acting (`PEARLAgent`): at the start of each episode z is drawn from the posterior given every
transition the agent has seen in this trial (the prior in episode 1), with the trial's own generator
(seeded by the harness's per-trial agent seed); within the episode z is fixed and the actor's mean
action is taken. This is PEARL's posterior sampling with the posterior updated between episodes.

Run directory `--out`: `config.json` (config and dimensions), `model.pt` (encoder, actor,
normalisation: a plain state dict), `vae.pt` (pixels: the frozen frame VAE), `state.pt` (resume: every
weight, optimiser, step and the random streams; all load with `torch.load(weights_only=True)`),
`log.csv` (losses every 100 steps; success per episode and exploration score on the development
secret every `--eval-every` steps) and `done.json`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import refexp_envs
from benchmark.protocol import ACTION_DIM, DEFAULT_ENV_ID, DEV_EVAL_SEED, DEV_SECRET
from refexp_baselines import nets
from refexp_baselines.families.cli import field_help, run_train_command

OBS_TYPES = ("pixels", "state")
ACTOR_LOSSES = ("sac", "awr")
PROPRIO_DIM = 4


@dataclass(frozen=True)
class PEARLConfig:
    """One PEARL training run (each field is the train command's flag of the same name)."""

    env: str = field(default=DEFAULT_ENV_ID, metadata=field_help("RefExp env id to train for"))
    obs_type: str = field(default="pixels", metadata=field_help("pixels (frozen frame-VAE codes) or state"))
    dataset: str | None = field(default=None, metadata=field_help(
        "Minari id or local:<episodes per task> (if omitted: the env's expert set; state: its expert-state set)"))
    seed: int = field(default=0, metadata=field_help("training seed (the harness's --seeds)"))
    out: str | None = field(default=None, metadata=field_help(
        "run directory (if omitted: runs/families/pearl/<env>-<obs>-seed<seed>)"))
    runs_dir: str = field(default="runs", metadata=field_help("root of the shared frames stage (pixels)"))
    frames_steps: int | None = field(default=None, metadata=field_help(
        "frame-VAE training steps (if omitted: the reference method's, whose frames stage is then shared)"))
    episodes: int | None = field(default=None, metadata=field_help("episodes K per trial at evaluation (if omitted: the env's K)"))
    z_dim: int = field(default=8, metadata=field_help("task latent z dimensions"))
    enc_hidden: int = field(default=64, metadata=field_help("context encoder and reward decoder width"))
    context: int = field(default=64, metadata=field_help("most transitions in a training context (a random prefix is used)"))
    mix_other: float = field(default=0.0, metadata=field_help(
        "fraction of context and query transitions from other tasks' data, rewards zeroed"))
    kl_weight: float = field(default=0.01, metadata=field_help("weight of KL(posterior || prior) in the encoder loss"))
    tasks_per_batch: int = field(default=16, metadata=field_help("target tasks (contexts) per gradient step"))
    query: int = field(default=16, metadata=field_help("query transitions per context (RL and decoder batch = tasks x query)"))
    actor_loss: str = field(default="sac", metadata=field_help("sac (maximise Q) or awr (advantage-weighted regression)"))
    cql_alpha: float = field(default=5.0, metadata=field_help("CQL(H) penalty weight (0: none)"))
    hidden: int = field(default=128, metadata=field_help("actor and critic width"))
    n_step: int = field(default=8, metadata=field_help("n-step TD targets within an episode"))
    gamma: float = field(default=0.99, metadata=field_help("discount"))
    bc_steps: int = field(default=1000, metadata=field_help("actor warm-up steps by behaviour cloning"))
    steps: int = field(default=10000, metadata=field_help("gradient steps"))
    lr: float = field(default=3e-4, metadata=field_help("Adam step size (encoder, decoder, actor, critic)"))
    checkpoint_every: int = field(default=1000, metadata=field_help("gradient steps between checkpoints"))
    eval_every: int = field(default=0, metadata=field_help("gradient steps between harness evaluations (0: none)"))
    eval_trials: int = field(default=20, metadata=field_help("trials of each task per evaluation (development secret)"))
    device: str = field(default="cpu", metadata=field_help("torch device"))
    threads: int = field(default=1, metadata=field_help("torch threads"))

    def __post_init__(self):
        refexp_envs.env_entry(self.env)
        if self.obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {self.obs_type!r}")
        if self.actor_loss not in ACTOR_LOSSES:
            raise ValueError(f"actor_loss must be one of {ACTOR_LOSSES}, got {self.actor_loss!r}")
        for name in ("z_dim", "enc_hidden", "context", "tasks_per_batch", "query", "hidden", "n_step", "steps",
                     "checkpoint_every", "eval_trials", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.mix_other < 1.0:
            raise ValueError(f"mix_other must be in [0, 1), got {self.mix_other}")
        if self.episodes is not None and self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.frames_steps is not None and self.frames_steps < 1:
            raise ValueError(f"frames_steps must be >= 1, got {self.frames_steps}")
        if self.seed < 0 or self.eval_every < 0 or self.bc_steps < 0 or self.kl_weight < 0 or self.cql_alpha < 0:
            raise ValueError("seed, eval_every, bc_steps, kl_weight and cql_alpha must be >= 0")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")

    @property
    def k(self) -> int:
        return self.episodes if self.episodes is not None else refexp_envs.default_episodes(self.env)

    @property
    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        slug = self.env.split("/")[-1].lower()
        return Path("runs") / "families" / "pearl" / f"{slug}-{self.obs_type}-seed{self.seed}"

    @property
    def dataset_id(self) -> str:
        if self.dataset:
            return self.dataset
        entry = refexp_envs.env_entry(self.env)
        return entry.default_dataset if self.obs_type == "pixels" else entry.dataset("expert-state")

    def identity(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("out", "runs_dir", "device", "threads", "eval_every", "eval_trials", "checkpoint_every"):
            d.pop(k)
        return d

    def agent_config(self):
        """The project's AgentConfig for `cql.CQL` with this run's actor-critic settings."""
        from refexp_baselines.configs import AgentConfig

        return AgentConfig(cql_alpha=self.cql_alpha, gamma=self.gamma, hidden=self.hidden, n_step=self.n_step,
                           backup="data", actor_loss=self.actor_loss, bc_steps=self.bc_steps, lr_actor=self.lr,
                           lr_critic=self.lr, lr_alpha=self.lr, target_entropy=-float(ACTION_DIM))


# ------------------------------------------------------------------------------------------ model
class ContextEncoder(nn.Module):
    """Per-transition MLP -> Gaussian factors; posterior = their product with the prior N(0, I).

    `posterior(x (B, N, D), mask (B, N))` -> mean, variance `(B, z)`; masked-out transitions (mask 0)
    contribute nothing. Invariant to the order of the N transitions by construction (a masked sum)."""

    def __init__(self, trans_dim: int, z_dim: int = 8, hidden: int = 64):
        super().__init__()
        self.trans_dim, self.z_dim = trans_dim, z_dim
        self.net = nets.mlp(trans_dim, hidden, 2 * z_dim, layers=3)

    def factors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_var = self.net(x).chunk(2, -1)
        return mu, log_var.clamp(-8.0, 8.0)

    def posterior(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-1] != self.trans_dim:
            raise ValueError(f"transitions of {x.shape[-1]} features; the encoder takes {self.trans_dim}")
        if x.shape[1] == 0:
            z = torch.zeros(x.shape[0], self.z_dim, device=x.device)
            return z, torch.ones_like(z)
        mu, log_var = self.factors(x)
        prec = torch.exp(-log_var)
        if mask is not None:
            prec = prec * mask.unsqueeze(-1)
        precision = 1.0 + prec.sum(1)
        mean = (prec * mu).sum(1) / precision
        return mean, 1.0 / precision


class PEARLModel(nn.Module):
    """What acting needs: observation normalisation, the context encoder and the actor on [obs, z].

    `obs` is `[frame code (or state), proprio]`; a transition is `[obs_t, a_t, r_t, obs_{t+1}]`
    (normalised obs)."""

    def __init__(self, obs_dim: int, z_dim: int = 8, enc_hidden: int = 64, hidden: int = 128):
        super().__init__()
        from refexp_baselines.cql import TanhGaussianActor

        self.obs_dim, self.z_dim = obs_dim, z_dim
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.encoder = ContextEncoder(2 * obs_dim + ACTION_DIM + 1, z_dim, enc_hidden)
        self.actor = TanhGaussianActor(obs_dim + z_dim, ACTION_DIM, hidden)

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.obs_mean.copy_(mean)
        self.obs_std.copy_(std.clamp_min(1e-3))

    def norm(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.obs_mean) / self.obs_std

    def transitions(self, obs, act, rew, next_obs) -> torch.Tensor:
        return torch.cat([self.norm(obs), act, rew.unsqueeze(-1), self.norm(next_obs)], -1)


def kl_to_prior(mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, var) || N(0, I)) per row, summed over dims."""
    return 0.5 * (var + mean ** 2 - 1.0 - var.log()).sum(-1)


# ------------------------------------------------------------------------------------------- data
class TransitionSampler:
    """Draws contexts and query transitions for target tasks from per-episode arrays.

    obs `(E, T+1, D)`, actions `(E, T, 4)`, rewards `(E, T)`, tasks `(E,)`. A draw for target task i:
    each transition is from task i's buffer with probability 1 - mix_other (rewards as recorded), else
    from another task's buffer (rewards zeroed). `returns(n, gamma)` precomputes n-step returns."""

    def __init__(self, obs, actions, rewards, tasks, num_tasks: int, mix_other: float, seed: int):
        self.obs, self.actions, self.rewards = obs, actions, rewards
        self.tasks = np.asarray(tasks)
        self.num_tasks = int(num_tasks)
        self.E, self.T = actions.shape[:2]
        self.ids = [np.flatnonzero(self.tasks == t) for t in range(self.num_tasks)]
        if any(len(i) == 0 for i in self.ids):
            raise ValueError("every task needs at least one episode")
        self.mix_other = float(mix_other) if self.num_tasks > 1 else 0.0
        self.rng = np.random.default_rng(seed)

    def draw(self, targets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(episode ids (B, n), step indices (B, n), reward mask (B, n)) for targets (B,)."""
        rng, B = self.rng, len(targets)
        other = rng.random((B, n)) < self.mix_other
        src = np.where(other, (targets[:, None] + rng.integers(1, max(self.num_tasks, 2), (B, n))) % self.num_tasks,
                       targets[:, None])
        sizes = np.array([len(i) for i in self.ids])
        pick = (rng.random((B, n)) * sizes[src]).astype(np.int64)
        eps = np.empty((B, n), np.int64)
        for t in range(self.num_tasks):
            m = src == t
            eps[m] = self.ids[t][pick[m]]
        steps = rng.integers(self.T, size=(B, n))
        return eps, steps, (src == targets[:, None]).astype(np.float32)


def nstep_targets(rewards: np.ndarray, n: int, gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per step t of each episode: sum_{k<n} gamma^k r_{t+k} (within the episode), the index of
    the bootstrap step t+n (clamped to T-1), and `done` = 1 where t+n runs past the episode (no bootstrap)."""
    T = rewards.shape[1]
    ret = np.zeros_like(rewards)
    for k in range(n):
        ret[:, : T - k] += (gamma ** k) * rewards[:, k:]
    idx = np.minimum(np.arange(T) + n, T - 1)
    done = (np.arange(T) + n >= T).astype(np.float32)
    return ret.astype(np.float32), idx, done


# ------------------------------------------------------------------------------------------ agent
SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "checkpoints" / "families" / "pearl"


def shipped_dir(env_id: str, seed: int) -> Path:
    """Where the shipped PEARL checkpoint of `env_id` and training seed `seed` lives."""
    return SHIPPED_ROOT / f"{env_id.split('/')[-1].lower()}-seed{int(seed)}"


def load_model(d: str | Path) -> tuple[PEARLConfig, dict, PEARLModel]:
    d = Path(d)
    if not (d / "config.json").is_file() or not (d / "model.pt").is_file():
        raise FileNotFoundError(f"no PEARL run at {d} (config.json, model.pt): train one with "
                                "python -m refexp_baselines.families.pearl")
    meta = json.loads((d / "config.json").read_text())
    cfg = PEARLConfig(**meta["config"])
    model = PEARLModel(meta["obs_dim"], cfg.z_dim, cfg.enc_hidden, cfg.hidden)
    model.load_state_dict(torch.load(d / "model.pt", map_location="cpu", weights_only=True))
    return cfg, meta, model.eval()


def config_version(cfg: PEARLConfig) -> str:
    """The agent's version: a hash of its training config less the seed (the same for every training seed)."""
    import hashlib

    ident = {k: v for k, v in cfg.identity().items() if k != "seed"}
    return "cfg-" + hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:10]


class PEARLAgent:
    """A trained PEARL run behind the Agent protocol: Thompson sampling of z at each episode start.

    `checkpoint`: a run directory (config.json, model.pt, and vae.pt for pixels); if omitted, the
    shipped one of `env_id` and training seed `seed` (`shipped_dir`), so that the harness can load
    `--agent refexp_baselines.families.pearl:PEARLAgent --seeds S`. Memory per trial: the transitions
    seen so far (the context), the episode's z, the previous observation and action. Batched: slot b is
    trial b, with its own generator seeded by the harness's per-trial seed."""

    uses_task = False
    eligible = True
    uses_dataset = True

    def __init__(self, checkpoint: str | Path | None = None, env_id: str | None = None, seed: int = 0,
                 device: str = "cpu"):
        d = Path(checkpoint) if checkpoint is not None else shipped_dir(env_id or DEFAULT_ENV_ID, seed)
        self.cfg, meta, self.model = load_model(d)
        self.trained_env_id = self.cfg.env
        self.device = torch.device(device)
        self.model.to(self.device)
        self.vae = None
        if self.cfg.obs_type == "pixels":
            from refexp_baselines.frames import FrameVAE

            self.vae = FrameVAE(meta["vae_latent"], meta["vae_channels"])
            self.vae.load_state_dict(torch.load(d / "vae.pt", map_location="cpu", weights_only=True))
            self.vae.to(self.device).eval()
        self.name = "pearl"
        self.version = config_version(self.cfg)
        self._base_seed = int(seed)
        self.reset()

    def seed(self, seed: int) -> None:
        self._base_seed = int(seed)

    def reset(self) -> None:
        self.reset_batch([self._base_seed])

    def reset_batch(self, seeds) -> None:
        b = len(seeds)
        self._gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self._context: list[list[torch.Tensor]] = [[] for _ in range(b)]
        self._prev_obs = torch.zeros(b, self.model.obs_dim)
        self._prev_action = torch.zeros(b, ACTION_DIM)
        self._z = torch.zeros(b, self.model.z_dim)
        self.last_posterior: list[tuple[torch.Tensor, torch.Tensor]] = [None] * b  # (mean, var) at the last draw

    def _obs_features(self, obs: Sequence) -> torch.Tensor:
        from refexp_baselines.families.dpt import state_features

        pro = torch.as_tensor(np.stack([o["proprio"] for o in obs]), dtype=torch.float32)
        if self.vae is not None:
            code = self.vae.encode_pixels(np.stack([o["pixels"] for o in obs]), self.device)
        else:
            code = torch.as_tensor(np.stack([state_features(o) for o in obs]))
        return torch.cat([code, pro], -1)

    @torch.no_grad()
    def posterior(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Slot b's posterior (mean, variance) given its context so far."""
        ctx = self._context[b]
        x = torch.stack(ctx)[None] if ctx else torch.zeros(1, 0, self.model.encoder.trans_dim)
        mean, var = self.model.encoder.posterior(x.to(self.device))
        return mean[0].cpu(), var[0].cpu()

    @torch.no_grad()
    def act_batch(self, obs, rewards, episode_starts) -> np.ndarray:
        starts = np.asarray(episode_starts, dtype=bool)
        rewards = np.asarray(rewards, dtype=np.float32)
        if len(starts) != len(self._context):
            raise ValueError(f"{len(starts)} observations for {len(self._context)} trials (call reset_batch first)")
        feat = self._obs_features(obs)
        for b in range(len(starts)):
            if not starts[b]:
                x = self.model.transitions(self._prev_obs[b], self._prev_action[b], torch.tensor(rewards[b]), feat[b])
                self._context[b].append(x)
            else:
                mean, var = self.posterior(b)
                self.last_posterior[b] = (mean, var)
                self._z[b] = mean + var.sqrt() * torch.randn(mean.shape, generator=self._gens[b])
        inp = torch.cat([self.model.norm(feat), self._z], -1).to(self.device)
        a, _ = self.model.actor(inp, deterministic=True)
        a = a.cpu()
        self._prev_obs, self._prev_action = feat, a
        return a.numpy().astype(np.float32)

    def act(self, obs, reward: float, episode_start: bool) -> np.ndarray:
        return self.act_batch([obs], np.array([reward]), np.array([episode_start]))[0]


# --------------------------------------------------------------------------------------- training
def train(cfg: PEARLConfig, log=print, codes: dict | None = None, vae=None) -> dict:
    """Train (or resume, or return at once when done) the run `cfg` describes. `codes`: per-episode
    arrays in the frames stage's layout (tests pass tiny ones); if omitted, the frames stage's
    (pixels) or the state dataset's (`dpt.load_codes`)."""
    from refexp_baselines.cql import CQL
    from refexp_baselines.train import CsvLog, atomic_save, write_json

    d = cfg.run_dir
    d.mkdir(parents=True, exist_ok=True)
    done = d / "done.json"
    if (d / "config.json").exists():
        have = json.loads((d / "config.json").read_text())["config"]
        if PEARLConfig(**have).identity() != cfg.identity():
            raise ValueError(f"{d} holds a run of another config: have {have}")
        if done.exists():
            log(f"pearl: {d} is finished; nothing to do")
            return json.loads(done.read_text())
    torch.set_num_threads(cfg.threads)
    if codes is None:
        from refexp_baselines.families.dpt import load_codes

        codes, vae = load_codes(cfg, log)
    T = int(codes["actions"].shape[1])
    obs_np = np.concatenate([codes["latents"], codes["proprio"]], -1)[:, : T + 1].astype(np.float32)
    if obs_np.shape[1] != T + 1:
        raise ValueError(f"observations need T+1 = {T + 1} frames per episode, got {obs_np.shape[1]}")
    obs_dim = obs_np.shape[-1]
    num_tasks = int(codes["num_tasks"])
    dev = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = PEARLModel(obs_dim, cfg.z_dim, cfg.enc_hidden, cfg.hidden).to(dev)
    flat = torch.as_tensor(obs_np.reshape(-1, obs_dim))
    model.set_normalization(flat.mean(0), flat.std(0))
    decoder = nets.mlp(2 * obs_dim + ACTION_DIM + cfg.z_dim, cfg.enc_hidden, 1, layers=3).to(dev)
    algo = CQL(obs_dim + cfg.z_dim, ACTION_DIM, cfg.agent_config()).to(dev)
    algo.actor = model.actor  # one actor: the shipped model's
    algo.make_optimizers()
    opt_enc = torch.optim.Adam(list(model.encoder.parameters()) + list(decoder.parameters()), cfg.lr)
    meta = {"config": dataclasses.asdict(cfg), "obs_dim": obs_dim, "horizon": T, "num_tasks": num_tasks}
    if vae is not None:
        meta.update(vae_latent=vae.latent, vae_channels=vae.c)
        torch.save(vae.state_dict(), d / "vae.pt")
    write_json(meta, d / "config.json")

    obs = torch.as_tensor(obs_np, device=dev)
    actions = torch.as_tensor(codes["actions"], dtype=torch.float32, device=dev)
    rewards = torch.as_tensor(codes["rewards"], dtype=torch.float32, device=dev)
    ret_np, next_idx_np, done_np = nstep_targets(codes["rewards"].astype(np.float32), cfg.n_step, cfg.gamma)
    ret, next_idx = torch.as_tensor(ret_np, device=dev), torch.as_tensor(next_idx_np, device=dev)
    done_at = torch.as_tensor(done_np, device=dev)
    sampler = TransitionSampler(obs_np, codes["actions"], codes["rewards"], codes["tasks"], num_tasks, cfg.mix_other,
                                cfg.seed + 1)
    step, timing = 0, {"train_s": 0.0, "eval_s": 0.0}
    state_path = d / "state.pt"
    if state_path.exists():
        st = torch.load(state_path, map_location=dev, weights_only=True)
        model.load_state_dict(st["model"]), decoder.load_state_dict(st["decoder"])
        algo.load_state_dict(st["algo"]), algo.load_optim_state(st["algo_optim"]), opt_enc.load_state_dict(st["opt_enc"])
        step, timing = int(st["step"]), dict(st["timing"])
        sampler.rng.bit_generator.state = json.loads(st["rng"])
        torch.set_rng_state(st["torch_rng"])
        log(f"pearl: resumed at step {step}")
    csvlog = CsvLog(d / "log.csv")
    M, Q, C = cfg.tasks_per_batch, cfg.query, cfg.context
    t0, agg, row = time.time(), {}, {}

    def gather(eps, steps, mask):
        e, s = torch.as_tensor(eps, device=dev), torch.as_tensor(steps, device=dev)
        return obs[e, s], actions[e, s], rewards[e, s] * torch.as_tensor(mask, device=dev), obs[e, s + 1], e, s

    while step < cfg.steps:
        targets = sampler.rng.integers(num_tasks, size=M)
        # context: a random prefix length in 0..C per target
        ce, cs, cm = sampler.draw(targets, C)
        co, ca, cr, cn, _, _ = gather(ce, cs, cm)
        n_ctx = torch.as_tensor(sampler.rng.integers(0, C + 1, size=M), device=dev)
        cmask = (torch.arange(C, device=dev)[None] < n_ctx[:, None]).float()
        mean, var = model.encoder.posterior(model.transitions(co, ca, cr, cn), cmask)
        z = mean + var.sqrt() * torch.randn_like(mean)
        # query transitions (decoder and actor-critic)
        qe, qs, qm = sampler.draw(targets, Q)
        qo, qa, qr, qn, e, s = gather(qe, qs, qm)
        zq = z.unsqueeze(1).expand(M, Q, cfg.z_dim)
        logits = decoder(torch.cat([model.norm(qo), qa, model.norm(qn), zq], -1)).squeeze(-1)
        rec = F.binary_cross_entropy_with_logits(logits, qr.clamp(0, 1))
        kl = kl_to_prior(mean, var).mean()
        enc_loss = Q * rec + cfg.kl_weight * kl  # per context: the likelihood of its Q query rewards, one KL
        opt_enc.zero_grad(set_to_none=True)
        enc_loss.backward()
        opt_enc.step()
        # actor-critic on [obs, z] (z detached), n-step in-sample targets, relabelled rewards
        qmask = torch.as_tensor(qm, device=dev)
        zf = zq.detach().reshape(M * Q, -1)
        nidx = next_idx[s]
        k_ret = ret[e, s] * qmask
        b_now = torch.cat([model.norm(qo).reshape(M * Q, -1), zf], -1)
        b_next = torch.cat([model.norm(obs[e, nidx]).reshape(M * Q, -1), zf], -1)
        info = algo.update(b_now, qa.reshape(M * Q, -1), k_ret.reshape(-1), b_next, done_at[s].reshape(-1),
                           bc=step < cfg.bc_steps, discount=cfg.gamma ** cfg.n_step,
                           a_next_data=actions[e, nidx].reshape(M * Q, -1))
        step += 1
        info.update(rec=rec.item(), kl=kl.item(), post_var=var.mean().item())
        for k, v in info.items():
            agg[k] = agg.get(k, 0.0) + v
        agg["n"] = agg.get("n", 0) + 1
        if step % 100 == 0 or step % cfg.checkpoint_every == 0 or step == cfg.steps:
            timing["train_s"] += time.time() - t0
            n = agg.pop("n")
            row = {"step": step, "train_wall_s": round(timing["train_s"], 1), **{k: v / n for k, v in agg.items()}}
            agg = {}
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                torch.save(model.state_dict(), d / "model.tmp.pt")
                os.replace(d / "model.tmp.pt", d / "model.pt")
                if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
                    te = time.time()
                    with torch.random.fork_rng():
                        res = evaluate_run(d, cfg, cfg.eval_trials)
                    timing["eval_s"] += time.time() - te
                    row.update({f"success_ep{i + 1}": x for i, x in enumerate(res["success_rate"])})
                    row["exploration_score"] = res["exploration_score"]
                atomic_save({"model": model.state_dict(), "decoder": decoder.state_dict(), "algo": algo.state_dict(),
                             "algo_optim": algo.optim_state(), "opt_enc": opt_enc.state_dict(), "step": step,
                             "timing": timing, "rng": json.dumps(sampler.rng.bit_generator.state),
                             "torch_rng": torch.get_rng_state()}, state_path)
            csvlog.write(row)
            log("pearl " + " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
            t0 = time.time()
    summary = {"steps": step, "timing": timing, "run_dir": str(d), "torch": torch.__version__}
    if cfg.eval_every == 0:
        summary["note"] = "no evaluation during training; score with the harness"
    else:
        summary["last_dev_eval"] = {k: v for k, v in row.items() if k.startswith(("success", "exploration"))}
    write_json(summary, done)
    return summary


def evaluate_run(run_dir: str | Path, cfg: PEARLConfig, trials_per_task: int, eval_seed: int = DEV_EVAL_SEED) -> dict:
    """The harness's results dict for the run's current `model.pt` (in this process) on the development secret."""
    from benchmark.run import evaluate

    agent = PEARLAgent(run_dir, cfg.env, cfg.seed, cfg.device)
    return evaluate(agent, cfg.env, episodes=cfg.k, trials_per_task=trials_per_task, training_seeds=(cfg.seed,),
                    eval_seed=eval_seed, secret=DEV_SECRET, workers=1, progress=False, obs_type=cfg.obs_type)


def ship(run_dir: str | Path, env_id: str, seed: int) -> Path:
    """Copy a finished run's config.json, model.pt (and vae.pt) to `shipped_dir(env_id, seed)`."""
    import shutil

    src, dst = Path(run_dir), shipped_dir(env_id, seed)
    load_model(src)
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.pt", "vae.pt"):
        if (src / name).exists():
            shutil.copyfile(src / name, dst / name)
    return dst


def main(argv: Sequence[str] | None = None) -> int:
    return run_train_command(PEARLConfig, argv, "python -m refexp_baselines.families.pearl", __doc__.split("\n\n")[0],
                             train, lambda cfg: cfg.run_dir / "state.pt")


if __name__ == "__main__":
    sys.exit(main())
