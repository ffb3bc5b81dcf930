"""An in-context causal transformer (DPT-style), trained offline, acting in context at test time.

    python -m refexp_baselines.families.dpt --env RefExp/TwoDrawer-v1 --seed 0 --out runs/families/dpt/two-drawer-seed0

Data: the meta-trajectories of `refexp_baselines.meta_trajectories` (M^K: K episodes drawn from
random task buffers, a target task i*, the rewards of the other tasks' episodes zeroed), gathered by
`gather_batch` from per-episode arrays. Pixels are the frozen frame-VAE codes of training's own
`frames` stage (`refexp_baselines.train.run(..., until="frames")`: the same stage directory, shared
with the reference method); `--obs-type state` uses the drawers' openings and handle positions of a
state dataset (`refexp/<env>/expert-state-v1`).

Model: one token per step `x_t = [o_t, proprio_t, a_{t-1}, r_{t-1}, episode_start_t]` (the time
layout of meta_trajectories.py), a learned position embedding over the K*T steps, a causal
`nn.TransformerEncoder`, and a Gaussian head over the 4-d action. Target: the *target task's
behaviour action*. The dataset holds it exactly at the steps of episodes drawn from buffer i* (their
action is i*'s behaviour policy's); the loss is the Gaussian NLL there and nothing elsewhere, so
position t learns E[behaviour of i* | everything before t], the in-context prediction DPT trains for
(Lee et al. 2023), with the query at every step of a target episode instead of one query per context.
At test time the agent feeds its own trial the same way and takes the predicted mean (or a sample).

Run directory `--out`: `config.json` (the config and the model's dimensions), `model.pt` (plain state
dict), `vae.pt` (pixels: the frozen frame VAE's state dict), `state.pt` (resume: weights, optimiser,
step, sampler state; all loadable with `torch.load(weights_only=True)`), `log.csv` (loss per 100
steps, and success per episode on the development secret every `--eval-every` steps).
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
PROPRIO_DIM = 4


@dataclass(frozen=True)
class DPTConfig:
    """One DPT training run (each field is the train command's flag of the same name)."""

    env: str = field(default=DEFAULT_ENV_ID, metadata=field_help("RefExp env id to train for"))
    obs_type: str = field(default="pixels", metadata=field_help("pixels (frozen frame-VAE codes) or state"))
    dataset: str | None = field(default=None, metadata=field_help(
        "Minari id or local:<episodes per task> (if omitted: the env's expert set; state: its expert-state set)"))
    seed: int = field(default=0, metadata=field_help("training seed (the harness's --seeds)"))
    out: str | None = field(default=None, metadata=field_help(
        "run directory (if omitted: runs/families/dpt/<env>-<obs>-seed<seed>)"))
    runs_dir: str = field(default="runs", metadata=field_help("root of the shared frames stage (pixels)"))
    frames_steps: int | None = field(default=None, metadata=field_help(
        "frame-VAE training steps (if omitted: the reference method's, whose frames stage is then shared)"))
    episodes: int | None = field(default=None, metadata=field_help("episodes K per meta-trajectory (if omitted: the env's K)"))
    naive: bool = field(default=False, metadata=field_help("all K episodes from the target's buffer (no synthetic exploration)"))
    d_model: int = field(default=64, metadata=field_help("transformer width"))
    layers: int = field(default=2, metadata=field_help("transformer layers"))
    heads: int = field(default=4, metadata=field_help("attention heads"))
    dropout: float = field(default=0.0, metadata=field_help("dropout in the transformer"))
    steps: int = field(default=5000, metadata=field_help("gradient steps"))
    batch: int = field(default=16, metadata=field_help("meta-trajectories per gradient step"))
    lr: float = field(default=3e-4, metadata=field_help("Adam step size"))
    grad_clip: float = field(default=1.0, metadata=field_help("gradient norm clip"))
    sample: bool = field(default=False, metadata=field_help("act by sampling the predicted Gaussian (else its mean)"))
    checkpoint_every: int = field(default=500, metadata=field_help("gradient steps between checkpoints"))
    eval_every: int = field(default=0, metadata=field_help("gradient steps between harness evaluations (0: none)"))
    eval_trials: int = field(default=10, metadata=field_help("trials of each task per evaluation (development secret)"))
    device: str = field(default="cpu", metadata=field_help("torch device"))
    threads: int = field(default=1, metadata=field_help("torch threads"))

    def __post_init__(self):
        refexp_envs.env_entry(self.env)
        if self.obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {self.obs_type!r}")
        for name in ("d_model", "layers", "heads", "steps", "batch", "checkpoint_every", "threads", "eval_trials"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
        if self.episodes is not None and self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.frames_steps is not None and self.frames_steps < 1:
            raise ValueError(f"frames_steps must be >= 1, got {self.frames_steps}")
        if self.seed < 0 or self.eval_every < 0 or not 0 <= self.dropout < 1:
            raise ValueError("seed and eval_every must be >= 0, dropout in [0, 1)")

    @property
    def k(self) -> int:
        return self.episodes if self.episodes is not None else refexp_envs.default_episodes(self.env)

    @property
    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        slug = self.env.split("/")[-1].lower()
        return Path("runs") / "families" / "dpt" / f"{slug}-{self.obs_type}-seed{self.seed}"

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


# ------------------------------------------------------------------------------------------ model
class DPTModel(nn.Module):
    """Causal transformer: tokens `(B, L, obs_dim + 4 + 1 + 1)` -> Gaussian over a_t, mean and log std `(B, L, 4)`.

    A token is `[obs (obs_dim: frame code or state, then proprio), prev_action (4), prev_reward (1),
    episode_start (1)]`; `obs` is normalised by buffers set from the training data. Output t depends
    on tokens 0..t only.
    """

    def __init__(self, obs_dim: int, max_len: int, d_model: int = 64, layers: int = 2, heads: int = 4,
                 dropout: float = 0.0):
        super().__init__()
        self.obs_dim, self.max_len = obs_dim, max_len
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.embed = nn.Linear(obs_dim + ACTION_DIM + 2, d_model)
        self.pos = nn.Parameter(torch.zeros(max_len, d_model))
        nn.init.normal_(self.pos, std=0.02)
        block = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 2 * ACTION_DIM)

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.obs_mean.copy_(mean)
        self.obs_std.copy_(std.clamp_min(1e-3))

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        L = tokens.shape[1]
        if L > self.max_len:
            raise ValueError(f"{L} steps exceed the model's context of {self.max_len}")
        obs = (tokens[..., : self.obs_dim] - self.obs_mean) / self.obs_std
        x = self.embed(torch.cat([obs, tokens[..., self.obs_dim:]], -1)) + self.pos[:L]
        mask = nn.Transformer.generate_square_subsequent_mask(L, device=tokens.device, dtype=x.dtype)
        h = self.norm(self.body(x, mask=mask, is_causal=True))
        mean, log_std = self.head(h).chunk(2, -1)
        return torch.tanh(mean), log_std.clamp(-5.0, 1.0)

    def loss(self, tokens: torch.Tensor, actions: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Gaussian NLL of `actions (B, L, 4)` where `weight (B, L)` is 1 (the target's behaviour), mean over those."""
        mean, log_std = self(tokens)
        nll = (0.5 * ((actions - mean) / log_std.exp()) ** 2 + log_std).sum(-1)
        n = weight.sum().clamp_min(1.0)
        loss = (nll * weight).sum() / n
        mse = (((actions - mean) ** 2).mean(-1) * weight).sum() / n
        return loss, {"nll": loss.item(), "mse": mse.item(), "labelled": float(weight.mean())}


def tokens_from_batch(batch: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`gather_batch`'s arrays -> tokens `(B, L, D)`, actions `(B, L, 4)`, loss weight `(B, L)`:
    1 at the steps of episodes drawn from the target task's buffer."""
    tokens = np.concatenate([batch["latent"], batch["proprio"], batch["prev_action"], batch["prev_reward"][..., None],
                             batch["start"][..., None]], -1).astype(np.float32)
    B, L = tokens.shape[:2]
    K = batch["tasks"].shape[1]
    own = (batch["tasks"] == batch["target"][:, None]).astype(np.float32)  # (B, K)
    weight = np.repeat(own, L // K, axis=1)
    return tokens, batch["action"].astype(np.float32), weight


# ------------------------------------------------------------------------------------------- data
def state_codes(buffers) -> dict:
    """Per-episode arrays of a state dataset, in the frames stage's layout (`latents`: drawers + handles)."""
    from refexp_baselines.train import episode_list

    ids = episode_list(buffers)
    lat, pro, act, rew, tasks = [], [], [], [], []
    for e in ids:
        ep = buffers.load_episode(int(e))
        if ep.state is None:
            raise ValueError("--obs-type state needs a state dataset (refexp/<env>/expert-state-v1)")
        st = [ep.state["drawers"]] + ([ep.state["handles"].reshape(len(ep.proprio), -1)] if "handles" in ep.state else [])
        lat.append(np.concatenate(st, -1)), pro.append(ep.proprio), act.append(ep.actions), rew.append(ep.rewards)
        tasks.append(ep.task)
    return {"latents": np.stack(lat).astype(np.float32), "proprio": np.stack(pro).astype(np.float32),
            "actions": np.stack(act).astype(np.float32), "rewards": np.stack(rew).astype(np.float32),
            "tasks": np.array(tasks), "num_tasks": buffers.num_tasks}


def state_features(obs: dict) -> np.ndarray:
    """A state observation's features in `state_codes`' order: drawers, then handles (if any)."""
    parts = [np.asarray(obs["drawers"], np.float32).ravel()]
    if "handles" in obs:
        parts.append(np.asarray(obs["handles"], np.float32).ravel())
    return np.concatenate(parts)


def load_codes(cfg: DPTConfig, log=print):
    """(per-episode arrays, frame VAE or None): the frames stage's codes (pixels) or a state dataset's arrays."""
    from refexp_baselines import configs as C
    from refexp_baselines import train as T

    if cfg.obs_type == "state":
        from refexp_baselines.data import open_buffers

        return state_codes(open_buffers(cfg.env, cfg.dataset_id)), None
    rcfg = C.variant("ours", env_id=cfg.env, dataset=cfg.dataset, seed=cfg.seed)
    if cfg.frames_steps is not None:
        rcfg = dataclasses.replace(rcfg, frames=dataclasses.replace(rcfg.frames, steps=cfg.frames_steps))
    res = T.run(rcfg, runs_dir=cfg.runs_dir, device=cfg.device, progress=False, until="frames")
    stage = Path(res["run_dir"])
    from refexp_baselines.frames import FrameVAE

    vae = FrameVAE(rcfg.frames.latent, rcfg.frames.channels)
    vae.load_state_dict(torch.load(stage / "model.pt", map_location="cpu", weights_only=True))
    log(f"dpt: frame codes from the shared frames stage {stage}")
    return dict(np.load(stage / "codes.npz")), vae


# ------------------------------------------------------------------------------------------ agent
SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "checkpoints" / "families" / "dpt"


def shipped_dir(env_id: str, seed: int) -> Path:
    """Where the shipped DPT checkpoint of `env_id` and training seed `seed` lives."""
    return SHIPPED_ROOT / f"{env_id.split('/')[-1].lower()}-seed{int(seed)}"


def ship(run_dir: str | Path, env_id: str, seed: int) -> Path:
    """Copy a finished run's config.json, model.pt (and vae.pt) to `shipped_dir(env_id, seed)`."""
    import shutil

    src, dst = Path(run_dir), shipped_dir(env_id, seed)
    if not (src / "done.json").is_file():
        raise FileNotFoundError(f"{src} is not a finished DPT run (no done.json)")
    DPTAgent(src, env_id, seed)  # loads: refuses a broken run before anything is copied
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.pt", "vae.pt"):
        if (src / name).exists():
            shutil.copyfile(src / name, dst / name)
    return dst


class DPTAgent:
    """A trained DPT run behind the Agent protocol: the trial so far is the context; acts per step.

    `checkpoint`: a run directory (config.json, model.pt, and vae.pt for pixels); if omitted, the
    shipped one of `env_id` and training seed `seed` (`shipped_dir`), so that the harness can load
    `--agent refexp_baselines.families.dpt:DPTAgent --seeds S`. Memory: the tokens
    of the current trial(s), cleared by `reset()` / `reset_batch()`. Batched: slot b is trial b; all
    slots step together (the harness calls `act_batch` once per step for every slot).
    """

    uses_task = False
    eligible = True
    uses_dataset = True

    def __init__(self, checkpoint: str | Path | None = None, env_id: str | None = None, seed: int = 0,
                 device: str = "cpu"):
        d = Path(checkpoint) if checkpoint is not None else shipped_dir(env_id or DEFAULT_ENV_ID, seed)
        if not (d / "config.json").is_file():
            raise FileNotFoundError(f"no DPT run at {d} (config.json, model.pt): train one with "
                                    "python -m refexp_baselines.families.dpt")
        meta = json.loads((d / "config.json").read_text())
        self.cfg = DPTConfig(**meta["config"])
        self.trained_env_id = self.cfg.env
        self.device = torch.device(device)
        self.model = DPTModel(meta["obs_dim"], meta["max_len"], self.cfg.d_model, self.cfg.layers, self.cfg.heads)
        self.model.load_state_dict(torch.load(d / "model.pt", map_location="cpu", weights_only=True))
        self.model.to(self.device).eval()
        self.vae = None
        if self.cfg.obs_type == "pixels":
            from refexp_baselines.frames import FrameVAE

            self.vae = FrameVAE(meta["vae_latent"], meta["vae_channels"])
            self.vae.load_state_dict(torch.load(d / "vae.pt", map_location="cpu", weights_only=True))
            self.vae.to(self.device).eval()
        self.name = "dpt"
        self.version = files_version(d, ("config.json", "model.pt", "vae.pt"))  # what it loads
        self._gen = torch.Generator().manual_seed(seed)
        self.reset()

    def seed(self, seed: int) -> None:
        self._gen = torch.Generator().manual_seed(int(seed))

    def reset(self) -> None:
        self.reset_batch([None])

    def reset_batch(self, seeds) -> None:
        self._tokens: list[torch.Tensor] = []  # one (B, D) token per step
        self._prev_action = torch.zeros(len(seeds), ACTION_DIM)
        if seeds and seeds[0] is not None:
            self._gen = torch.Generator().manual_seed(int(seeds[0]))

    def _obs_features(self, obs: Sequence) -> torch.Tensor:
        pro = torch.as_tensor(np.stack([o["proprio"] for o in obs]), dtype=torch.float32)
        if self.vae is not None:
            px = np.stack([o["pixels"] for o in obs])
            code = self.vae.encode_pixels(px, self.device)
        else:
            code = torch.as_tensor(np.stack([state_features(o) for o in obs]))
        return torch.cat([code, pro], -1)

    @torch.no_grad()
    def act_batch(self, obs, rewards, episode_starts) -> np.ndarray:
        starts = torch.as_tensor(np.asarray(episode_starts, dtype=np.float32))[:, None]
        prev_a = self._prev_action * (1 - starts)
        rew = torch.as_tensor(np.asarray(rewards, dtype=np.float32))[:, None] * (1 - starts)
        self._tokens.append(torch.cat([self._obs_features(obs), prev_a, rew, starts], -1))
        if len(self._tokens) > self.model.max_len:  # a longer trial than trained on: keep the latest steps
            self._tokens.pop(0)
        x = torch.stack(self._tokens, 1).to(self.device)
        mean, log_std = self.model(x)
        mean, log_std = mean[:, -1].cpu(), log_std[:, -1].cpu()
        a = mean
        if self.cfg.sample:
            a = (mean + log_std.exp() * torch.randn(mean.shape, generator=self._gen)).clamp(-1, 1)
        self._prev_action = a
        return a.numpy().astype(np.float32)

    def act(self, obs, reward: float, episode_start: bool) -> np.ndarray:
        return self.act_batch([obs], np.array([reward]), np.array([episode_start]))[0]


# --------------------------------------------------------------------------------------- training
def train(cfg: DPTConfig, log=print, codes: dict | None = None, vae=None) -> dict:
    """Train (or resume, or return at once when done) the run `cfg` describes. `codes`: per-episode
    arrays in the frames stage's layout (tests pass tiny ones); if omitted, `load_codes(cfg)`."""
    from refexp_baselines.meta_trajectories import MetaTrajectorySampler, gather_batch
    from refexp_baselines.train import CsvLog, RowIndex, atomic_save, write_json

    d = cfg.run_dir
    d.mkdir(parents=True, exist_ok=True)
    done = d / "done.json"
    if (d / "config.json").exists():
        have = json.loads((d / "config.json").read_text())["config"]
        if DPTConfig(**have).identity() != cfg.identity():
            raise ValueError(f"{d} holds a run of another config: have {have}")
        if done.exists():
            log(f"dpt: {d} is finished; nothing to do")
            return json.loads(done.read_text())
    torch.set_num_threads(cfg.threads)
    if codes is None:
        codes, vae = load_codes(cfg, log)
    T = int(codes["actions"].shape[1])
    obs = np.concatenate([codes["latents"], codes["proprio"]], -1)[:, :T]
    obs_dim = obs.shape[-1]
    torch.manual_seed(cfg.seed)
    model = DPTModel(obs_dim, cfg.k * T, cfg.d_model, cfg.layers, cfg.heads, cfg.dropout).to(cfg.device)
    flat = torch.as_tensor(obs.reshape(-1, obs_dim))
    model.set_normalization(flat.mean(0), flat.std(0))
    meta = {"config": dataclasses.asdict(cfg), "obs_dim": obs_dim, "max_len": cfg.k * T, "horizon": T}
    if vae is not None:
        meta.update(vae_latent=vae.latent, vae_channels=vae.c)
        torch.save(vae.state_dict(), d / "vae.pt")
    write_json(meta, d / "config.json")
    sampler = MetaTrajectorySampler(RowIndex(codes["tasks"], int(codes["num_tasks"])), cfg.k, cfg.naive, cfg.seed + 1,
                                    choices=refexp_envs.num_choices(cfg.env))  # Desk-v2: within one desk
    opt = torch.optim.Adam(model.parameters(), cfg.lr)
    step, timing = 0, {"train_s": 0.0, "eval_s": 0.0}
    state_path = d / "state.pt"
    if state_path.exists():
        st = torch.load(state_path, map_location=cfg.device, weights_only=True)
        model.load_state_dict(st["model"]), opt.load_state_dict(st["opt"])
        step, timing = int(st["step"]), dict(st["timing"])
        sampler.rng.bit_generator.state = json.loads(st["rng"])
        log(f"dpt: resumed at step {step}")
    csvlog = CsvLog(d / "log.csv")
    t0, agg, row = time.time(), {}, {}
    while step < cfg.steps:
        batch = gather_batch(sampler.sample_batch(cfg.batch), codes["latents"], codes["proprio"], codes["actions"],
                             codes["rewards"])
        tokens, actions, weight = (torch.as_tensor(x, device=cfg.device) for x in tokens_from_batch(batch))
        loss, info = model.loss(tokens, actions, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
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
                    res = evaluate_run(d, cfg, cfg.eval_trials)
                    timing["eval_s"] += time.time() - te
                    row.update({f"success_ep{i + 1}": s for i, s in enumerate(res["success_rate"])})
                    row["exploration_score"] = res["exploration_score"]
                atomic_save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "timing": timing,
                             "rng": json.dumps(sampler.rng.bit_generator.state)}, state_path)
            csvlog.write(row)
            log("dpt " + " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
            t0 = time.time()
    summary = {"steps": step, "timing": timing, "run_dir": str(d), "torch": torch.__version__}
    if cfg.eval_every == 0:
        summary["note"] = "no evaluation during training; score with the harness"
    else:
        summary["last_dev_eval"] = {k: v for k, v in row.items() if k.startswith(("success", "exploration"))}
    write_json(summary, done)
    return summary


def evaluate_run(run_dir: str | Path, cfg: DPTConfig, trials_per_task: int, eval_seed: int = DEV_EVAL_SEED) -> dict:
    """The harness's results dict for the run's current `model.pt` (in this process) on the development secret."""
    from benchmark.run import evaluate

    with torch.random.fork_rng():
        agent = DPTAgent(run_dir, cfg.env, cfg.seed, cfg.device)
        return evaluate(agent, cfg.env, episodes=cfg.k, trials_per_task=trials_per_task, training_seeds=(cfg.seed,),
                        eval_seed=eval_seed, secret=DEV_SECRET, workers=1, progress=False, obs_type=cfg.obs_type)


def main(argv: Sequence[str] | None = None) -> int:
    return run_train_command(DPTConfig, argv, "python -m refexp_baselines.families.dpt", __doc__.split("\n\n")[0],
                             train, lambda cfg: cfg.run_dir / "state.pt")


if __name__ == "__main__":
    sys.exit(main())
