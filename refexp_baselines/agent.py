"""A trained frame encoder + belief filter + actor behind the contract's `Agent` protocol.

    agent = load_pretrained("ours", "RefExp/TwoDrawer-v0")      # shipped weights, no training
    agent = load_pretrained("runs/.../agent.pt", env_id)        # any bundle written by train.py
    agent.reset(); a = agent.act(obs, reward, episode_start)

The agent filters its belief online across the K episodes of a trial (memory cleared by `reset()`
only) and returns the actor's mean action (deterministic). The `oracle-task` variant is handed the
true task through `set_task(task)` (`uses_task = True`) and is not eligible for the leaderboard.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from refexp_baselines.belief import BeliefFilter
from refexp_baselines.configs import ELIGIBLE, RunConfig, from_dict
from refexp_baselines.cql import TanhGaussianActor
from refexp_baselines.frames import FrameVAE

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
BUNDLE_FORMAT = "refexp-belief-agent-v1"


def env_slug(env_id: str) -> str:
    """RefExp/TwoDrawer-v0 -> two-drawer-v0"""
    name = env_id.split("/")[-1]
    out = "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")
    return out


def agent_features(belief: torch.Tensor, proprio_norm: torch.Tensor, step: torch.Tensor, episode: torch.Tensor,
                   T: int, K: int, task_onehot: torch.Tensor | None = None) -> torch.Tensor:
    """Agent input: belief [h, mean, std], normalised proprio, in-episode time, episode index (+ task)."""
    time = torch.stack([step.float() / T, episode.clamp(max=K - 1).float() / max(K - 1, 1)], -1)
    parts = [belief, proprio_norm, time]
    if task_onehot is not None:
        parts.append(task_onehot)
    return torch.cat(parts, -1)


def feature_dim(filt: BeliefFilter, num_tasks: int, oracle: bool) -> int:
    return filt.belief_dim + filt.proprio + 2 + (num_tasks if oracle else 0)


def build_modules(cfg: RunConfig, num_tasks: int):
    vae = FrameVAE(cfg.frames.latent, cfg.frames.channels)
    b = cfg.belief
    filt = BeliefFilter(cfg.frames.latent, 4, 4, b.deter, b.stoch, b.hidden, b.reward_input)
    actor = TanhGaussianActor(feature_dim(filt, num_tasks, cfg.agent.oracle), 4, cfg.agent.hidden)
    return vae, filt, actor


def make_bundle(cfg: RunConfig, num_tasks: int, T: int, vae, filt, actor, meta: dict | None = None,
                half: bool = False) -> dict:
    """A self-contained agent checkpoint; only the inference parts (no decoders, no critics)."""
    def sd(m, drop=()):
        out = {k: v.detach().cpu() for k, v in m.state_dict().items() if not k.startswith(drop)}
        if half:
            out = {k: (v.half() if v.is_floating_point() else v) for k, v in out.items()}
        return out

    return {
        "format": BUNDLE_FORMAT, "config": __import__("dataclasses").asdict(cfg), "num_tasks": num_tasks, "T": T,
        "frames": sd(vae, ("dec",)), "belief": sd(filt, ("dec_",)), "actor": sd(actor), "meta": meta or {},
    }


class BeliefAgent:
    """`Agent`: reset() / act(obs, reward, episode_start) -> float32 (4,) action."""

    def __init__(self, bundle: dict, device: str | torch.device = "cpu"):
        if bundle.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"not a RefExp belief-agent checkpoint (format {bundle.get('format')!r})")
        self.cfg = from_dict(bundle["config"])
        self.name = self.cfg.agent_name
        self.env_id = self.cfg.env_id
        self.num_tasks, self.T, self.K = int(bundle["num_tasks"]), int(bundle["T"]), self.cfg.belief.k
        self.device = torch.device(device)
        self.vae, self.filter, self.actor = build_modules(self.cfg, self.num_tasks)
        f32 = lambda d: {k: (v.float() if v.is_floating_point() else v) for k, v in d.items()}  # noqa: E731
        self.vae.load_state_dict(f32(bundle["frames"]), strict=False)
        self.filter.load_state_dict(f32(bundle["belief"]), strict=False)
        self.actor.load_state_dict(f32(bundle["actor"]))
        for m in (self.vae, self.filter, self.actor):
            m.to(self.device).eval()
        self.uses_task = bool(self.cfg.agent.oracle)
        self.eligible = bool(ELIGIBLE.get(self.name, False)) and not self.uses_task
        self.meta = bundle.get("meta", {})
        self.task = None
        self.reset()

    def reset(self) -> None:
        self.h, self.s = self.filter.initial(1, self.device)
        self.prev_action = torch.zeros(1, 4, device=self.device)
        self.step_in_ep, self.episode = 0, -1

    def set_task(self, task: int) -> None:
        self.task = int(task)

    @torch.no_grad()
    def act(self, obs, reward: float, episode_start: bool) -> np.ndarray:
        dev = self.device
        if episode_start or self.episode < 0:
            self.episode += 1
            self.step_in_ep = 0
        pixels = torch.as_tensor(np.asarray(obs["pixels"]), device=dev).unsqueeze(0)
        latent = self.vae.encode(self.vae.preprocess(pixels))[0]
        proprio = torch.as_tensor(np.asarray(obs["proprio"], dtype=np.float32), device=dev).unsqueeze(0)
        start = torch.tensor([1.0 if self.step_in_ep == 0 else 0.0], device=dev)
        rew = torch.tensor([float(reward)], device=dev)
        self.h, self.s, _, post = self.filter.step(self.h, self.s, latent, proprio, self.prev_action, rew, start,
                                                   sample=False)
        onehot = None
        if self.uses_task:
            if self.task is None:
                raise RuntimeError("the oracle-task agent needs set_task(task) before act()")
            onehot = torch.zeros(1, self.num_tasks, device=dev)
            onehot[0, self.task] = 1.0
        pn = (proprio - self.filter.obs_mean[-4:]) / self.filter.obs_std[-4:]
        feat = agent_features(self.filter.belief(self.h, post), pn, torch.tensor([self.step_in_ep], device=dev),
                              torch.tensor([self.episode], device=dev), self.T, self.K, onehot)
        a, _ = self.actor(feat, deterministic=True)
        self.prev_action = a
        self.step_in_ep += 1
        return a[0].cpu().numpy().astype(np.float32)


def load_bundle(path: str | Path, map_location="cpu") -> dict:
    return torch.load(path, map_location=map_location, weights_only=False)


def shipped_path(name: str, env_id: str, seed: int | None = None) -> Path:
    suffix = f"-seed{seed}" if seed is not None else ""
    return CHECKPOINT_DIR / f"{env_slug(env_id)}-{name}{suffix}.pt"


# A test-time-shift env is scored with the agent trained on its unshifted env (robustness study).
TRAINED_ON = {"RefExp/TwoDrawerShift-v0": "RefExp/TwoDrawer-v0"}


def load_pretrained(name: str, env_id: str = "RefExp/TwoDrawer-v0", device: str = "cpu", seed: int = 0):
    """The shipped agent `name` for `env_id` (or a bundle at path `name`). `seed` picks a per-seed
    file `<env>-<name>-seed<k>.pt` when one is shipped, else the default `<env>-<name>.pt`; a shift
    env without its own checkpoint falls back to its training env's (`TRAINED_ON`)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    p = Path(name)
    if p.suffix == ".pt" and p.exists():
        found = p
    else:
        if name not in ELIGIBLE:
            raise ValueError(f"unknown agent {name!r}; expected one of {list(ELIGIBLE)} or a .pt path")
        envs = [env_id] + ([TRAINED_ON[env_id]] if env_id in TRAINED_ON else [])
        cands = [shipped_path(name, e, s) for e in envs for s in (seed, None)]
        found = next((c for c in cands if c.exists()), None)
        if found is None:
            have = sorted(x.name for x in CHECKPOINT_DIR.glob("*.pt"))
            raise FileNotFoundError(f"no shipped checkpoint for {name!r} on {env_id} (looked for "
                                    f"{[c.name for c in cands]}; shipped: {have}); train one with "
                                    f"python -m refexp_baselines.train --agent {name} --env {env_id}")
    agent = BeliefAgent(load_bundle(found), device)
    agent.version = hashlib.sha256(found.read_bytes()).hexdigest()[:12]  # leaderboard identity
    if agent.env_id != env_id and not (env_id.startswith("RefExp/TwoDrawer") and agent.env_id.startswith("RefExp/TwoDrawer")):
        raise ValueError(f"checkpoint {name!r} was trained on {agent.env_id}, not {env_id}")
    return agent


class PretrainedAgent(BeliefAgent):
    """Import-path form for harnesses: `refexp_baselines.agent:PretrainedAgent`."""

    def __init__(self, env_id: str = "RefExp/TwoDrawer-v0", seed: int = 0, device: str = "cpu",
                 checkpoint: str | None = None, name: str = "ours"):
        a = load_pretrained(checkpoint or name, env_id, device, seed)
        self.__dict__.update(a.__dict__)
