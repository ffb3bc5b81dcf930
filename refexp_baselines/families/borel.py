"""BOReL-style offline VariBAD: a belief over the task learned from the offline data, then offline RL on
belief-augmented observations, with BOReL's reward relabelling across tasks (`borel`) or without it
(`borel-no-rr`).

    python -m refexp_baselines.families.borel --env RefExp/TwoDrawer-v1 --seed 0 --out runs/families/borel/twodrawer-v1-seed0
    python -m refexp_baselines.families.borel --no-relabel --seed 0 --out runs/families/borel-no-rr/twodrawer-v1-seed0

Data, as BOReL has it (Dorfman, Shenfeld and Tamar 2021): the offline data are per-task trajectories
(buffer i: the episodes of task i's behaviour policy). A meta-trajectory is K episodes of one buffer
(`MetaTrajectorySampler(naive=True)`), in the time layout of `refexp_baselines.meta_trajectories`.
Observations are the frozen frame-VAE codes of training's own `frames` stage plus proprio (pixels; the
stage directory is shared with the reference method) or a state dataset's drawers and handles
(`--obs-type state`), loaded by `dpt.load_codes`.

Belief (stage 1): the project's variational filter (`refexp_baselines.belief.BeliefFilter`, its ELBO with
reward reconstruction and the VariBAD-style reward decoder `dec_task_reward`, which predicts the reward
seen on arriving at any observation o of the meta-trajectory from the state at t). Its belief is the
filter's `[h, posterior mean, posterior std]`.

Reward relabelling (`relabel`, the one switch between the two variants). The task is identifiable from
the states of this data (buffer i's behaviour opens drawer i), so a belief trained on it can name the
task without looking at a reward, and fails when a trial's states and rewards disagree (BOReL's MDP
ambiguity). BOReL's remedy: give the trajectory of task i the rewards of task j, from the learned reward
model. Here: after `relabel_warmup` filter steps on the data as recorded, the filter is run on
`relabel_donors` meta-trajectories of each task j, and the final state of each (its belief that "task j
pays") is handed to the reward decoder with every observation of every episode:
`table[e, j, t] = 1[mean over donors of sigmoid(dec_task_reward([h, s]_donor, o_{e, t+1})) > 0.5]`
(`relabel_table`; env rewards are 0/1), except that an episode's own task keeps its recorded rewards.
The rest of the filter's training and the whole RL stage then draw meta-trajectories with the source
buffer i and the target task j drawn independently (`RelabelSampler`): K episodes of buffer i with the
rewards `table[., j]`, so states no longer give the task away. The RL stage uses the table of the
finished filter. Without relabelling both stages use the recorded data only (target = source).

RL (stage 2): `refexp_baselines.cql.CQL` on beliefs of the frozen filter (posterior means, as at test
time) over `pool_trajectories` meta-trajectories, precomputed once; input per step: the normalised
observation (frame code + proprio), the belief, the in-episode time and episode index
(`agent.agent_features`). Defaults: the agent stage of `ours-onestep` (in-sample n-step backup, the
advantage-weighted actor, `cql_alpha` 0); `--cql-alpha`, `--backup policy --actor-loss sac` give the
paper's CQL actor-critic.

Run directory `--out`: `config.json` (config and model dimensions), `vae.pt` (pixels), `belief.pt` and
`actor.pt` (plain state dicts: the filter without decoders is what the agent needs, the decoders are kept
for the probe), `relabel.npz` (`borel`: the RL stage's reward table), `belief_state.pt` and
`agent_state.pt` (resume: weights, optimiser, step, RNG states), `log.csv`, `done.json`. Every file
loads with `torch.load(weights_only=True)`.
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

import refexp_envs
from benchmark.protocol import ACTION_DIM, DEFAULT_ENV_ID, DEV_EVAL_SEED, DEV_SECRET
from refexp_baselines.families import files_version
from refexp_baselines.families.cli import field_help, run_train_command

OBS_TYPES = ("pixels", "state")
BACKUPS = ("data", "policy")
ACTOR_LOSSES = ("awr", "sac")
PROPRIO_DIM = 4


@dataclass(frozen=True)
class BOReLConfig:
    """One BOReL-style training run (each field is the train command's flag of the same name)."""

    env: str = field(default=DEFAULT_ENV_ID, metadata=field_help("RefExp env id to train for"))
    obs_type: str = field(default="pixels", metadata=field_help("pixels (frozen frame-VAE codes) or state"))
    dataset: str | None = field(default=None, metadata=field_help(
        "Minari id or local:<episodes per task> (if omitted: the env's expert set; state: its expert-state set)"))
    seed: int = field(default=0, metadata=field_help("training seed (the harness's --seeds)"))
    out: str | None = field(default=None, metadata=field_help(
        "run directory (if omitted: runs/families/<borel|borel-no-rr>/<env>-<obs>-seed<seed>)"))
    runs_dir: str = field(default="runs", metadata=field_help("root of the shared frames stage (pixels)"))
    frames_steps: int | None = field(default=None, metadata=field_help(
        "frame-VAE training steps (if omitted: the reference method's, whose frames stage is then shared)"))
    episodes: int | None = field(default=None, metadata=field_help("episodes K per meta-trajectory (if omitted: the env's K)"))
    relabel: bool = field(default=True, metadata=field_help(
        "BOReL's reward relabelling across tasks (borel); --no-relabel: the data's own rewards only (borel-no-rr)"))
    relabel_warmup: int = field(default=500, metadata=field_help(
        "filter steps on the recorded data before the relabelled meta-trajectories join (relabel only)"))
    relabel_donors: int = field(default=16, metadata=field_help(
        "meta-trajectories per task whose final beliefs the reward decoder relabels with (relabel only)"))
    deter: int = field(default=64, metadata=field_help("filter: deterministic (GRU) state size"))
    stoch: int = field(default=16, metadata=field_help("filter: stochastic state size"))
    hidden: int = field(default=64, metadata=field_help("filter: hidden layer width"))
    reward_beta: float = field(default=10.0, metadata=field_help("filter: weight of the reward log-likelihoods"))
    task_samples: int = field(default=4, metadata=field_help(
        "filter: VariBAD reward decoding at this many other steps per step (>= 1: the relabelling needs it)"))
    belief_steps: int = field(default=1000, metadata=field_help("filter gradient steps"))
    belief_batch: int = field(default=32, metadata=field_help("meta-trajectories per filter step"))
    belief_lr: float = field(default=1e-3, metadata=field_help("filter Adam step size"))
    cql_alpha: float = field(default=0.0, metadata=field_help("CQL(H) penalty weight of the RL stage (0: none)"))
    backup: str = field(default="data", metadata=field_help(
        "TD target action: data (a_{t+n} of the data, in-sample) or policy (a' ~ pi(b'))"))
    actor_loss: str = field(default="awr", metadata=field_help("awr (advantage-weighted regression) or sac (maximise Q)"))
    n_step: int = field(default=8, metadata=field_help("n-step TD targets along the meta-trajectory"))
    gamma: float = field(default=0.99, metadata=field_help("discount"))
    agent_hidden: int = field(default=128, metadata=field_help("actor and critic hidden width"))
    agent_steps: int = field(default=10000, metadata=field_help("RL gradient steps"))
    agent_batch: int = field(default=128, metadata=field_help("transitions per RL step"))
    agent_lr: float = field(default=3e-4, metadata=field_help("actor, critic and temperature Adam step size"))
    bc_steps: int = field(default=2000, metadata=field_help("actor warm-up steps by behaviour cloning"))
    awr_temperature: float = field(default=2.0, metadata=field_help("AWR advantage temperature"))
    pool_trajectories: int = field(default=3000, metadata=field_help(
        "meta-trajectories whose beliefs the RL stage precomputes once"))
    checkpoint_every: int = field(default=500, metadata=field_help("gradient steps between checkpoints (each stage)"))
    eval_every: int = field(default=0, metadata=field_help(
        "RL steps between harness evaluations on the development secret (0: none)"))
    eval_trials: int = field(default=10, metadata=field_help("trials of each task per evaluation (development secret)"))
    device: str = field(default="cpu", metadata=field_help("torch device"))
    threads: int = field(default=1, metadata=field_help("torch threads"))

    def __post_init__(self):
        refexp_envs.env_entry(self.env)
        if self.obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {self.obs_type!r}")
        if self.backup not in BACKUPS:
            raise ValueError(f"backup must be one of {BACKUPS}, got {self.backup!r}")
        if self.actor_loss not in ACTOR_LOSSES:
            raise ValueError(f"actor_loss must be one of {ACTOR_LOSSES}, got {self.actor_loss!r}")
        for name in ("relabel_donors", "deter", "stoch", "hidden", "belief_steps", "belief_batch", "n_step",
                     "agent_hidden", "agent_steps", "agent_batch", "pool_trajectories", "checkpoint_every",
                     "eval_trials", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("seed", "relabel_warmup", "bc_steps", "eval_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("belief_lr", "agent_lr", "awr_temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.reward_beta < 0 or self.cql_alpha < 0 or not 0 < self.gamma <= 1:
            raise ValueError("reward_beta and cql_alpha must be >= 0, gamma in (0, 1]")
        if self.episodes is not None and self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.frames_steps is not None and self.frames_steps < 1:
            raise ValueError(f"frames_steps must be >= 1, got {self.frames_steps}")
        if self.relabel and self.task_samples < 1:
            raise ValueError("relabel needs the reward decoder: task_samples must be >= 1")
        if self.relabel and self.relabel_warmup >= self.belief_steps:
            raise ValueError(f"relabel_warmup ({self.relabel_warmup}) must be below belief_steps ({self.belief_steps})")

    @property
    def name(self) -> str:
        return "borel" if self.relabel else "borel-no-rr"

    @property
    def k(self) -> int:
        return self.episodes if self.episodes is not None else refexp_envs.default_episodes(self.env)

    @property
    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        slug = self.env.split("/")[-1].lower()
        return Path("runs") / "families" / self.name / f"{slug}-{self.obs_type}-seed{self.seed}"

    @property
    def dataset_id(self) -> str:
        if self.dataset:
            return self.dataset
        entry = refexp_envs.env_entry(self.env)
        return entry.default_dataset if self.obs_type == "pixels" else entry.dataset("expert-state")

    def identity(self) -> dict:
        """The fields that decide the trained weights (a run directory holds one identity)."""
        d = dataclasses.asdict(self)
        for k in ("out", "runs_dir", "device", "threads", "eval_every", "eval_trials", "checkpoint_every"):
            d.pop(k)
        return d

    def agent_config(self):
        """The `configs.AgentConfig` that `cql.CQL` reads, from this config's RL fields."""
        from refexp_baselines.configs import AgentConfig

        return AgentConfig(cql_alpha=self.cql_alpha, gamma=self.gamma, hidden=self.agent_hidden,
                           batch=self.agent_batch, steps=self.agent_steps, lr_actor=self.agent_lr,
                           lr_critic=self.agent_lr, lr_alpha=self.agent_lr, n_step=self.n_step, backup=self.backup,
                           actor_loss=self.actor_loss, awr_temperature=self.awr_temperature,
                           bc_steps=self.bc_steps, pool_trajectories=self.pool_trajectories)


# The registered variants: name -> the fields they set on BOReLConfig's defaults (one switch apart).
VARIANTS: dict[str, dict] = {
    "borel": {"relabel": True},
    "borel-no-rr": {"relabel": False},
}


def variant(name: str, **overrides) -> BOReLConfig:
    """The config of variant `name` (`VARIANTS`), with `overrides` set on it."""
    if name not in VARIANTS:
        raise ValueError(f"unknown BOReL variant {name!r}; expected one of {list(VARIANTS)}")
    return BOReLConfig(**{**VARIANTS[name], **overrides})


# ------------------------------------------------------------------------------------- relabelling
class RelabelSampler:
    """BOReL's relabelled meta-trajectories: source buffer i and target task j drawn independently and
    uniformly; K episodes of buffer i, whose rewards are then `table[., j]` (`gather`)."""

    def __init__(self, index, k: int, seed: int | np.random.Generator = 0):
        from refexp_baselines.meta_trajectories import MetaTrajectory

        self._mt = MetaTrajectory
        self.k, self.num_tasks = int(k), int(index.num_tasks)
        self.ids = [np.asarray(index.episode_ids(t)) for t in range(self.num_tasks)]
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def sample(self):
        rng = self.rng
        source, target = int(rng.integers(self.num_tasks)), int(rng.integers(self.num_tasks))
        ids = self.ids[source][rng.integers(len(self.ids[source]), size=self.k)]
        return self._mt(ids, np.full(self.k, source), target, np.ones(self.k, np.float32))

    def sample_batch(self, n: int) -> list:
        return [self.sample() for _ in range(n)]


def gather(mts: list, codes: dict, table: np.ndarray | None = None) -> dict:
    """`meta_trajectories.gather_batch` of `mts` on `codes`; with a reward `table (E, N, T)` every
    meta-trajectory gets its target's rewards `table[episode, target]` (relabelled where the target is
    not the source)."""
    from refexp_baselines.meta_trajectories import gather_batch

    batch = gather_batch(mts, codes["latents"], codes["proprio"], codes["actions"], codes["rewards"])
    if table is None:
        return batch
    ids = np.stack([m.episode_ids for m in mts])  # (B, K)
    target = np.array([m.target for m in mts])
    rew = table[ids, target[:, None]].astype(np.float32)  # (B, K, T)
    prev = np.zeros_like(rew)
    prev[:, :, 1:] = rew[:, :, :-1]
    B = len(mts)
    batch["reward"], batch["prev_reward"] = rew.reshape(B, -1), prev.reshape(B, -1)
    return batch


@torch.no_grad()
def donor_features(filt, codes: dict, k: int, donors: int, seed: int, device="cpu") -> torch.Tensor:
    """`(N, donors, deter + stoch)`: the filter's final `[h, s]` (posterior means) on `donors` recorded
    meta-trajectories (K episodes of one buffer, own rewards) of each task."""
    from refexp_baselines.belief import to_tensors
    from refexp_baselines.meta_trajectories import MetaTrajectory

    rng = np.random.default_rng(seed)
    N = int(codes["num_tasks"])
    out = []
    was = filt.training
    filt.eval()
    for j in range(N):
        ids = np.flatnonzero(codes["tasks"] == j)
        mts = [MetaTrajectory(ids[rng.integers(len(ids), size=k)], np.full(k, j), j, np.ones(k, np.float32))
               for _ in range(donors)]
        h, s, _, _ = filt.rollout(to_tensors(gather(mts, codes), device), sample=False)
        out.append(torch.cat([h[:, -1], s[:, -1]], -1))
    filt.train(was)
    return torch.stack(out)


@torch.no_grad()
def decoded_rewards(filt, feat: torch.Tensor, latents: np.ndarray, proprio: np.ndarray, device="cpu",
                    chunk: int = 256) -> torch.Tensor:
    """Reward probabilities `(D, E, T)` of the reward decoder for beliefs `feat (D, deter + stoch)` at the
    observations `o_1..o_T` of episodes `(E, T+1, .)` (the reward of step t is seen on arriving at o_{t+1})."""
    out = []
    for i in range(0, len(latents), chunk):
        obs = torch.as_tensor(np.concatenate([latents[i:i + chunk], proprio[i:i + chunk]], -1)[:, 1:],
                              dtype=feat.dtype, device=device)
        obs = (obs - filt.obs_mean) / filt.obs_std  # (E, T, O)
        E, T, O = obs.shape
        per_donor = []
        for f in feat:  # one belief at a time: (E, T, F + O) stays small
            x = torch.cat([f.expand(E, T, f.shape[-1]), obs], -1)
            per_donor.append(torch.sigmoid(filt.dec_task_reward(x).squeeze(-1)))
        out.append(torch.stack(per_donor))
    return torch.cat(out, 1)


@torch.no_grad()
def relabel_table(filt, codes: dict, k: int, donors: int, seed: int, device="cpu") -> np.ndarray:
    """`(E, N, T)` 0/1 rewards of every episode under every task: an episode's own task keeps its recorded
    rewards; task j's are the reward decoder's, averaged over the final beliefs of `donors` recorded
    meta-trajectories of task j (`donor_features`) and thresholded at 0.5."""
    feats = donor_features(filt, codes, k, donors, seed, device)  # (N, donors, F)
    E, T = codes["rewards"].shape
    N = int(codes["num_tasks"])
    table = np.zeros((E, N, T), np.float32)
    for j in range(N):
        p = decoded_rewards(filt, feats[j], codes["latents"], codes["proprio"], device).mean(0)  # (E, T)
        table[:, j] = (p > 0.5).float().cpu().numpy()
    own = np.asarray(codes["tasks"])
    table[np.arange(E), own] = codes["rewards"]
    return table


# ------------------------------------------------------------------------------------------- probe
@torch.no_grad()
def episode_end_beliefs(filt, codes: dict, k: int, trajectories: int = 200, seed: int = 0, zero_rewards: bool = False,
                        device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The filter's beliefs `[h, mean, std]` at the last step of each of the K episodes of `trajectories`
    recorded meta-trajectories of `codes` (K episodes of one buffer i), `(B, K, belief_dim)`, and their
    labels i `(B,)`; `zero_rewards`: every reward the filter sees zeroed."""
    from refexp_baselines.belief import to_tensors
    from refexp_baselines.meta_trajectories import MetaTrajectorySampler
    from refexp_baselines.train import RowIndex

    N, T = int(codes["num_tasks"]), codes["actions"].shape[1]
    mts = MetaTrajectorySampler(RowIndex(codes["tasks"], N), k, naive=True, seed=seed).sample_batch(trajectories)
    batch = gather(mts, codes)
    if zero_rewards:
        batch["reward"] = np.zeros_like(batch["reward"])
        batch["prev_reward"] = np.zeros_like(batch["prev_reward"])
    was = filt.training
    filt.eval()
    h, _, _, post = filt.rollout(to_tensors(batch, device), sample=False)
    filt.train(was)
    ends = [(ep + 1) * T - 1 for ep in range(k)]
    return filt.belief(h, post)[:, ends], torch.as_tensor(batch["target"], device=device)


def fit_linear_readout(feats: torch.Tensor, labels: torch.Tensor, num_tasks: int, l2: float = 1e-3, iters: int = 200):
    """A multinomial logistic regression from beliefs `(M, F)` to tasks `(M,)` (standardised inputs,
    L-BFGS, L2 `l2`): a callable beliefs -> predicted task."""
    feats = feats.detach().double()
    mu, sd = feats.mean(0), feats.std(0).clamp_min(1e-6)
    x = (feats - mu) / sd
    W = torch.zeros(x.shape[1], num_tasks, dtype=x.dtype, requires_grad=True)
    b = torch.zeros(num_tasks, dtype=x.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(x @ W + b, labels) + l2 * (W ** 2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    W, b = W.detach(), b.detach()
    return lambda f: (((f.double() - mu) / sd) @ W + b).argmax(-1)


@torch.no_grad()
def task_accuracy(filt, codes: dict, k: int, trajectories: int = 200, seed: int = 0, zero_rewards: bool = False,
                  device="cpu", readout: str = "decoder", fit_codes: dict | None = None) -> list[float]:
    """Belief task accuracy at the end of each of the K episodes of recorded meta-trajectories of `codes`
    (K episodes of one buffer i; the label is i), with the rewards as recorded or all zeroed.

    `readout="decoder"`: the reward decoder reads the belief (VariBAD's own semantics): task j's score is
    its mean predicted reward at the rewarded observations of task j's episodes in `codes`; the predicted
    task is the argmax. A decoder that ignores the belief names one task for every belief (accuracy = that
    task's share). `readout="linear"`: a logistic regression from the belief `[h, mean, std]` to the task,
    fitted on the episode-end beliefs of recorded meta-trajectories of `fit_codes` (other episodes, rewards
    as recorded): is the task in the belief at all. Rewards zeroed, a belief that follows the rewards stops
    naming i (accuracy falls), one that reads the task from the states still names it (stays near 1)."""
    N = int(codes["num_tasks"])
    beliefs, labels = episode_end_beliefs(filt, codes, k, trajectories, seed, zero_rewards, device)
    if readout == "linear":
        if fit_codes is None:
            raise ValueError("readout='linear' needs fit_codes (episodes to fit the readout on)")
        fb, fl = episode_end_beliefs(filt, fit_codes, k, trajectories, seed + 1, False, device)
        predict = fit_linear_readout(fb.reshape(-1, fb.shape[-1]), fl.repeat_interleave(k), N)
        return [float((predict(beliefs[:, ep]) == labels).float().mean()) for ep in range(k)]
    if readout != "decoder":
        raise ValueError(f"readout must be 'decoder' or 'linear', got {readout!r}")
    refs = []
    for j in range(N):  # observations o_{t+1} at which task j's episodes were rewarded
        e, t = np.nonzero((codes["rewards"] > 0) & (codes["tasks"] == j)[:, None])
        if len(e) == 0:
            raise ValueError(f"task {j} has no rewarded step in the probe's data")
        sel = np.random.default_rng(seed).choice(len(e), size=min(256, len(e)), replace=False)
        o = np.concatenate([codes["latents"][e[sel], t[sel] + 1], codes["proprio"][e[sel], t[sel] + 1]], -1)
        refs.append((torch.as_tensor(o, dtype=beliefs.dtype, device=device) - filt.obs_mean) / filt.obs_std)
    acc = []
    for ep in range(k):
        f = beliefs[:, ep, : filt.deter + filt.stoch]  # [h, posterior mean]: the decoder's input
        scores = []
        for j in range(N):
            R = refs[j].shape[0]
            x = torch.cat([f[:, None].expand(-1, R, -1), refs[j][None].expand(f.shape[0], -1, -1)], -1)
            scores.append(torch.sigmoid(filt.dec_task_reward(x).squeeze(-1)).mean(-1))
        acc.append(float((torch.stack(scores, -1).argmax(-1) == labels).float().mean()))
    return acc


# ------------------------------------------------------------------------------------------ models
def make_filter(cfg: BOReLConfig, code_dim: int):
    from refexp_baselines.belief import BeliefFilter

    return BeliefFilter(code_dim, PROPRIO_DIM, ACTION_DIM, cfg.deter, cfg.stoch, cfg.hidden, reward_input=True)


def feature_dim(filt) -> int:
    """Actor input: normalised observation (code + proprio), belief [h, mean, std], time (2)."""
    return filt.latent + filt.proprio + filt.belief_dim + 2


def features(filt, h, post, latent, proprio, step, episode, T: int, K: int) -> torch.Tensor:
    """The belief-augmented observation the RL stage and the agent see (`feature_dim`)."""
    from refexp_baselines.agent import agent_features

    obs = (torch.cat([latent, proprio], -1) - filt.obs_mean) / filt.obs_std
    return agent_features(filt.belief(h, post), obs, step, episode, T, K)


# ------------------------------------------------------------------------------------------ agent
SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "checkpoints" / "families"


def shipped_dir(env_id: str, seed: int, name: str = "borel") -> Path:
    """Where the shipped checkpoint of variant `name`, `env_id` and training seed `seed` lives."""
    return SHIPPED_ROOT / name / f"{env_id.split('/')[-1].lower()}-seed{int(seed)}"


def run_version(run_dir: str | Path) -> str:
    """The agent version of a run directory: SHA-256 (12 hex digits) over what the agent loads."""
    return files_version(run_dir, ("config.json", "vae.pt", "belief.pt", "actor.pt"))


class BOReLAgent:
    """A trained BOReL-style run behind the Agent protocol: the filter's belief is updated every step
    with the observation, the previous action and reward, carried across the K episodes of a trial and
    cleared by `reset()` / `reset_batch()`; the actor's mean action on the belief-augmented observation.

    `checkpoint`: a run directory; if omitted, the shipped one of `env_id` and training seed `seed`
    (`shipped_dir`), so that the harness can load `--agent refexp_baselines.families.borel:BOReLAgent
    --seeds S` (`BOReLNoRRAgent`: the variant without relabelling). Batched: slot b is trial b. Inference
    in float64, as `refexp_baselines.agent.BeliefAgent` (a trial's actions do not depend on its batch).
    """

    variant_name = "borel"
    uses_task = False
    eligible = True
    uses_dataset = True

    def __init__(self, checkpoint: str | Path | None = None, env_id: str | None = None, seed: int = 0,
                 device: str = "cpu"):
        d = Path(checkpoint) if checkpoint is not None else shipped_dir(env_id or DEFAULT_ENV_ID, seed,
                                                                         self.variant_name)
        if not all((d / f).is_file() for f in ("config.json", "belief.pt", "actor.pt")):
            raise FileNotFoundError(f"no BOReL run at {d} (config.json, belief.pt, actor.pt): train one with "
                                    "python -m refexp_baselines.families.borel")
        from refexp_baselines.cql import TanhGaussianActor

        meta = json.loads((d / "config.json").read_text())
        self.cfg = BOReLConfig(**meta["config"])
        self.name, self.trained_env_id = self.cfg.name, self.cfg.env
        self.T, self.K = int(meta["horizon"]), self.cfg.k
        self.device = torch.device(device)
        self.filter = make_filter(self.cfg, meta["code_dim"])
        self.filter.load_state_dict(torch.load(d / "belief.pt", map_location="cpu", weights_only=True))
        self.actor = TanhGaussianActor(feature_dim(self.filter), ACTION_DIM, self.cfg.agent_hidden)
        self.actor.load_state_dict(torch.load(d / "actor.pt", map_location="cpu", weights_only=True))
        mods = [self.filter, self.actor]
        self.vae = None
        if self.cfg.obs_type == "pixels":
            from refexp_baselines.frames import FrameVAE

            self.vae = FrameVAE(meta["vae_latent"], meta["vae_channels"])
            self.vae.load_state_dict(torch.load(d / "vae.pt", map_location="cpu", weights_only=True))
            mods.append(self.vae)
        for m in mods:
            m.to(self.device, torch.float64).eval()
        self.version = run_version(d)
        self.reset()

    def reset(self) -> None:
        self.reset_batch([None])

    def reset_batch(self, seeds) -> None:
        """Start len(seeds) trials; the agent is deterministic, so the seeds are not used."""
        b = len(seeds)
        self.h, self.s = (x.double() for x in self.filter.initial(b, self.device))
        self.prev_action = torch.zeros(b, ACTION_DIM, device=self.device, dtype=torch.float64)
        self.step_in_ep = torch.zeros(b, dtype=torch.long, device=self.device)
        self.episode = torch.full((b,), -1, dtype=torch.long, device=self.device)

    def _codes(self, obs: Sequence) -> torch.Tensor:
        if self.vae is not None:
            px = torch.as_tensor(np.stack([np.asarray(o["pixels"]) for o in obs]), device=self.device)
            return self.vae.encode(self.vae.preprocess(px).double())[0]
        from refexp_baselines.families.dpt import state_features

        return torch.as_tensor(np.stack([state_features(o) for o in obs]), dtype=torch.float64, device=self.device)

    @torch.no_grad()
    def act_batch(self, obs, rewards, episode_starts) -> np.ndarray:
        dev, b = self.device, len(obs)
        if b != self.h.shape[0]:
            raise ValueError(f"act_batch got {b} observations for {self.h.shape[0]} trials (reset_batch)")
        new_ep = torch.as_tensor(np.asarray(episode_starts, dtype=bool), device=dev) | (self.episode < 0)
        self.episode = self.episode + new_ep.long()
        self.step_in_ep = torch.where(new_ep, torch.zeros_like(self.step_in_ep), self.step_in_ep)
        code = self._codes(obs)
        proprio = torch.as_tensor(np.stack([np.asarray(o["proprio"], dtype=np.float64) for o in obs]), device=dev)
        start = (self.step_in_ep == 0).double()
        rew = torch.as_tensor(np.asarray(rewards, dtype=np.float64), device=dev)
        self.h, self.s, _, post = self.filter.step(self.h, self.s, code, proprio, self.prev_action, rew, start,
                                                   sample=False)
        feat = features(self.filter, self.h, post, code, proprio, self.step_in_ep, self.episode, self.T, self.K)
        a, _ = self.actor(feat, deterministic=True)
        self.prev_action = a
        self.step_in_ep = self.step_in_ep + 1
        return a.cpu().numpy().astype(np.float32)

    def act(self, obs, reward: float, episode_start: bool) -> np.ndarray:
        return self.act_batch([obs], np.array([reward]), np.array([episode_start]))[0]


class BOReLNoRRAgent(BOReLAgent):
    """`BOReLAgent` of the variant without reward relabelling (its shipped checkpoints by env and seed)."""

    variant_name = "borel-no-rr"


# --------------------------------------------------------------------------------------- training
def _rng_state() -> dict:
    return {"torch": torch.get_rng_state()}


def _check_run_dir(cfg: BOReLConfig, log) -> dict | None:
    """The finished run's summary, None to (re)start; another config in the directory is an error."""
    d = cfg.run_dir
    if (d / "config.json").exists():
        have = json.loads((d / "config.json").read_text())["config"]
        if BOReLConfig(**have).identity() != cfg.identity():
            raise ValueError(f"{d} holds a run of another config: have {have}")
        if (d / "done.json").exists():
            log(f"{cfg.name}: {d} is finished; nothing to do")
            return json.loads((d / "done.json").read_text())
    return None


def train_belief(cfg: BOReLConfig, codes: dict, log=print):
    """Stage 1: the filter (and, with `relabel`, the reward table), resumable from `belief_state.pt`."""
    from refexp_baselines.belief import to_tensors
    from refexp_baselines.meta_trajectories import MetaTrajectorySampler
    from refexp_baselines.train import CsvLog, RowIndex, atomic_save

    d, dev = cfg.run_dir, torch.device(cfg.device)
    code_dim = codes["latents"].shape[-1]
    torch.manual_seed(cfg.seed + 1)
    filt = make_filter(cfg, code_dim).to(dev)
    if (d / "belief.pt").exists():
        filt.load_state_dict(torch.load(d / "belief.pt", map_location=dev, weights_only=True))
        return filt
    obs = np.concatenate([codes["latents"], codes["proprio"]], -1).reshape(-1, code_dim + PROPRIO_DIM)
    filt.set_normalization(torch.as_tensor(obs.mean(0)), torch.as_tensor(obs.std(0)))
    index = RowIndex(codes["tasks"], int(codes["num_tasks"]))
    recorded = MetaTrajectorySampler(index, cfg.k, naive=True, seed=cfg.seed + 2)
    relabelled = RelabelSampler(index, cfg.k, cfg.seed + 3)
    opt = torch.optim.Adam(filt.parameters(), cfg.belief_lr)
    step, wall, table = 0, 0.0, None
    path = d / "belief_state.pt"
    if path.exists():
        st = torch.load(path, map_location=dev, weights_only=True)
        filt.load_state_dict(st["model"]), opt.load_state_dict(st["opt"])
        step, wall = int(st["step"]), float(st["wall"])
        recorded.rng.bit_generator.state = json.loads(st["rng"])
        relabelled.rng.bit_generator.state = json.loads(st["rng_relabel"])
        torch.set_rng_state(st["torch_rng"])
        if "table" in st:
            table = st["table"].numpy()
        log(f"{cfg.name}: belief resumed at step {step}")
    csvlog, t0, agg = CsvLog(d / "log.csv"), time.time(), {}
    while step < cfg.belief_steps:
        if cfg.relabel and table is None and step >= cfg.relabel_warmup:
            table = relabel_table(filt, codes, cfg.k, cfg.relabel_donors, cfg.seed + 6, dev)
            log(f"{cfg.name}: relabelled rewards from step {step}: {relabel_summary(table, codes)}")
        if table is None:
            batch = gather(recorded.sample_batch(cfg.belief_batch), codes)
        else:
            batch = gather(relabelled.sample_batch(cfg.belief_batch), codes, table)
        loss, info = filt.loss(to_tensors(batch, dev), cfg.reward_beta, task_samples=cfg.task_samples)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(filt.parameters(), 100.0)
        opt.step()
        step += 1
        for k, v in info.items():
            agg[k] = agg.get(k, 0.0) + v
        agg["n"] = agg.get("n", 0) + 1
        if step % cfg.checkpoint_every == 0 or step == cfg.belief_steps:
            wall += time.time() - t0
            n = agg.pop("n")
            row = {"stage": "belief", "step": step, "train_wall_s": round(wall, 1), "relabelled": int(table is not None),
                   **{k: v / n for k, v in agg.items()}}
            agg = {}
            st = {"model": filt.state_dict(), "opt": opt.state_dict(), "step": step, "wall": wall,
                  "rng": json.dumps(recorded.rng.bit_generator.state),
                  "rng_relabel": json.dumps(relabelled.rng.bit_generator.state), "torch_rng": torch.get_rng_state()}
            if table is not None:
                st["table"] = torch.as_tensor(table)
            atomic_save(st, path)
            csvlog.write(row)
            log(f"{cfg.name} belief " + " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                 for k, v in row.items()))
            t0 = time.time()
    torch.save(filt.state_dict(), d / "belief.tmp.pt")
    os.replace(d / "belief.tmp.pt", d / "belief.pt")
    return filt


def relabel_summary(table: np.ndarray, codes: dict) -> dict:
    """How the relabelled rewards compare with the recorded ones: the rewarded fraction of steps under the
    own task and under the other tasks, and the fraction of the other tasks' steps whose reward differs from
    the recorded one (near 0: the decoder ignores the belief and the relabelling changes nothing)."""
    E, N, _ = table.shape
    own = np.zeros((E, N), bool)
    own[np.arange(E), np.asarray(codes["tasks"])] = True
    recorded = np.broadcast_to(np.asarray(codes["rewards"])[:, None], table.shape)
    return {"own_rewarded": round(float(table[own].mean()), 4),
            "other_rewarded": round(float(table[~own].mean()), 4) if N > 1 else None,
            "other_changed": round(float((table[~own] != recorded[~own]).mean()), 4) if N > 1 else None}


@torch.no_grad()
def belief_pool(cfg: BOReLConfig, filt, codes: dict, table: np.ndarray | None, device) -> dict:
    """Belief-augmented observations of the frozen filter over `pool_trajectories` meta-trajectories
    (relabelled ones with `table`, else the recorded ones), with their actions and rewards."""
    from refexp_baselines.belief import to_tensors
    from refexp_baselines.meta_trajectories import MetaTrajectorySampler
    from refexp_baselines.train import RowIndex

    index = RowIndex(codes["tasks"], int(codes["num_tasks"]))
    sampler = (RelabelSampler(index, cfg.k, cfg.seed + 7) if table is not None
               else MetaTrajectorySampler(index, cfg.k, naive=True, seed=cfg.seed + 7))
    T = codes["actions"].shape[1]
    feats, acts, rews = [], [], []
    filt.eval()
    for i in range(0, cfg.pool_trajectories, 500):
        batch = gather(sampler.sample_batch(min(500, cfg.pool_trajectories - i)), codes, table)
        tb = to_tensors(batch, device)
        h, _, _, post = filt.rollout(tb, sample=False)
        B, L = h.shape[:2]
        step = torch.arange(L, device=device).remainder(T).expand(B, L)
        feats.append(features(filt, h, post, tb["latent"], tb["proprio"], step, tb["episode_index"], T, cfg.k).cpu())
        acts.append(tb["action"].cpu()), rews.append(tb["reward"].cpu())
    return {"feat": torch.cat(feats), "action": torch.cat(acts), "reward": torch.cat(rews)}


def train(cfg: BOReLConfig, log=print, codes: dict | None = None, vae=None) -> dict:
    """Train (or resume, or return at once when done) the run `cfg` describes. `codes`: per-episode arrays
    in the frames stage's layout (tests pass tiny ones); if omitted, `dpt.load_codes(cfg)`."""
    from refexp_baselines.cql import CQL
    from refexp_baselines.train import CsvLog, atomic_save, write_json

    d = cfg.run_dir
    d.mkdir(parents=True, exist_ok=True)
    finished = _check_run_dir(cfg, log)
    if finished is not None:
        return finished
    torch.set_num_threads(cfg.threads)
    if codes is None:
        from refexp_baselines.families.dpt import load_codes

        codes, vae = load_codes(cfg, log)
    if int(codes["num_tasks"]) < 2 and cfg.relabel:
        raise ValueError("reward relabelling needs at least two tasks")
    dev = torch.device(cfg.device)
    T = int(codes["actions"].shape[1])
    meta = {"config": dataclasses.asdict(cfg), "variant": cfg.name, "code_dim": int(codes["latents"].shape[-1]),
            "horizon": T, "num_tasks": int(codes["num_tasks"]), "torch": torch.__version__}
    if vae is not None:
        meta.update(vae_latent=vae.latent, vae_channels=vae.c)
        torch.save(vae.state_dict(), d / "vae.pt")
    write_json(meta, d / "config.json")

    filt = train_belief(cfg, codes, log)
    for p in filt.parameters():
        p.requires_grad_(False)
    table = None
    if cfg.relabel:
        if (d / "relabel.npz").exists():
            table = np.load(d / "relabel.npz")["table"]
        else:
            table = relabel_table(filt, codes, cfg.k, cfg.relabel_donors, cfg.seed + 6, dev)
            np.savez(d / "relabel.tmp.npz", table=table)
            os.replace(d / "relabel.tmp.npz", d / "relabel.npz")
        log(f"{cfg.name}: the RL stage's relabelled rewards: {relabel_summary(table, codes)}")

    # stage 2: offline RL on belief-augmented observations
    t_pool = time.time()
    pool = belief_pool(cfg, filt, codes, table, dev)
    pool_s = time.time() - t_pool
    feat, action, reward = (pool[k].to(dev) for k in ("feat", "action", "reward"))
    P, L, D = feat.shape
    n = cfg.n_step
    ret = torch.zeros_like(reward)
    for i in range(n):  # n-step returns along each meta-trajectory (its end is terminal)
        ret[:, : L - i] += (cfg.gamma ** i) * reward[:, i:]
    ar = torch.arange(L, device=dev)
    next_idx, done_at = (ar + n).clamp(max=L - 1), (ar + n >= L).float()
    torch.manual_seed(cfg.seed + 4)
    algo = CQL(D, ACTION_DIM, cfg.agent_config()).to(dev)
    algo.make_optimizers()
    gen = torch.Generator().manual_seed(cfg.seed + 5)
    step, timing = 0, {"agent_train_s": 0.0, "pool_s": pool_s, "eval_s": 0.0}
    path = d / "agent_state.pt"
    if path.exists():
        st = torch.load(path, map_location=dev, weights_only=True)
        algo.load_state_dict(st["model"]), algo.load_optim_state(st["optim"])
        step, timing = int(st["step"]), {**st["timing"], "pool_s": pool_s}
        gen.set_state(st["gen"]), torch.set_rng_state(st["torch_rng"])
        log(f"{cfg.name}: agent resumed at step {step}")
    csvlog, t0, agg, row = CsvLog(d / "log.csv"), time.time(), {}, {}
    while step < cfg.agent_steps:
        m = torch.randint(P, (cfg.agent_batch,), generator=gen).to(dev)
        t = torch.randint(L, (cfg.agent_batch,), generator=gen).to(dev)
        info = algo.update(feat[m, t], action[m, t], ret[m, t], feat[m, next_idx[t]], done_at[t],
                           bc=step < cfg.bc_steps, discount=cfg.gamma ** n, a_next_data=action[m, next_idx[t]])
        step += 1
        for k, v in info.items():
            agg[k] = agg.get(k, 0.0) + v
        agg["n"] = agg.get("n", 0) + 1
        if step % cfg.checkpoint_every == 0 or step == cfg.agent_steps:
            timing["agent_train_s"] += time.time() - t0
            cnt = agg.pop("n")
            row = {"stage": "agent", "step": step, "train_wall_s": round(timing["agent_train_s"], 1),
                   **{k: v / cnt for k, v in agg.items()}}
            agg = {}
            torch.save(algo.actor.state_dict(), d / "actor.tmp.pt")
            os.replace(d / "actor.tmp.pt", d / "actor.pt")
            if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.agent_steps):
                te = time.time()
                res = evaluate_run(d, cfg, cfg.eval_trials)
                timing["eval_s"] += time.time() - te
                row.update({f"success_ep{i + 1}": s for i, s in enumerate(res["success_rate"])})
                row["exploration_score"] = res["exploration_score"]
            atomic_save({"model": algo.state_dict(), "optim": algo.optim_state(), "step": step, "timing": timing,
                         "gen": gen.get_state(), "torch_rng": torch.get_rng_state()}, path)
            csvlog.write(row)
            log(f"{cfg.name} agent " + " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                for k, v in row.items()))
            t0 = time.time()
    summary = {"variant": cfg.name, "belief_steps": cfg.belief_steps, "agent_steps": step, "timing": timing,
               "run_dir": str(d), "torch": torch.__version__}
    if table is not None:
        summary["relabelled_rewards"] = relabel_summary(table, codes)
    if cfg.eval_every == 0:
        summary["note"] = "no evaluation during training; score with the harness"
    else:
        summary["last_dev_eval"] = {k: v for k, v in row.items() if k.startswith(("success", "exploration"))}
    write_json(summary, d / "done.json")
    return summary


def evaluate_run(run_dir: str | Path, cfg: BOReLConfig, trials_per_task: int, eval_seed: int = DEV_EVAL_SEED) -> dict:
    """The harness's results dict for the run's current `actor.pt` (in this process) on the development secret."""
    from benchmark.run import evaluate

    with torch.random.fork_rng():
        agent = BOReLAgent(run_dir, cfg.env, cfg.seed, cfg.device)
        return evaluate(agent, cfg.env, episodes=cfg.k, trials_per_task=trials_per_task, training_seeds=(cfg.seed,),
                        eval_seed=eval_seed, secret=DEV_SECRET, workers=1, progress=False, obs_type=cfg.obs_type)


def main(argv: Sequence[str] | None = None) -> int:
    return run_train_command(BOReLConfig, argv, "python -m refexp_baselines.families.borel", __doc__.split("\n\n")[0],
                             train, lambda cfg: cfg.run_dir / ("agent_state.pt" if (cfg.run_dir / "belief.pt").exists()
                                                               else "belief_state.pt"))


if __name__ == "__main__":
    sys.exit(main())
