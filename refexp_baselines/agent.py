"""A trained frame encoder + belief filter + actor behind the contract's `Agent` protocol.

    agent = load_pretrained("ours", "RefExp/TwoDrawer-v0")      # shipped weights, no training
    agent = load_pretrained("runs/.../agent.pt")                 # any bundle written by train.py
    agent.reset(); a = agent.act(obs, reward, episode_start)

The agent filters its belief online across the K episodes of a trial (memory cleared by `reset()`
only) and returns the actor's mean action (deterministic). It also runs B trials at once
(`reset_batch(seeds)`, `act_batch(obs, rewards, starts)`: one batched network call per step; `act`
is the same code with B = 1). The `oracle-task` variant is handed the true task through
`set_task(task)` (`uses_task = True`) and is not eligible for the leaderboard.

One checkpoint is one training run: `load_pretrained(name, env_id, seed=k)` loads training seed
k's shipped file and never another; a checkpoint is scored only on the env it was trained on (or,
for a test-time-shift env, on its training env's checkpoint) unless `allow_env_mismatch=True`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import torch

import refexp_envs

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
    dt = belief.dtype
    time = torch.stack([step.to(dt) / T, episode.clamp(max=K - 1).to(dt) / max(K - 1, 1)], -1)
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
        # float64 inference: a trial's actions then do not depend on which other trials share its batch
        # (float32 batched matrix products differ in the last bits, and a closed loop amplifies that)
        for m in (self.vae, self.filter, self.actor):
            m.to(self.device, torch.float64).eval()
        self.uses_task = bool(self.cfg.agent.oracle)
        self.eligible = bool(ELIGIBLE.get(self.name, False)) and not self.uses_task
        self.meta = bundle.get("meta", {})
        self.task = None
        self.reset()

    @property
    def trained_env_id(self) -> str:
        """The env this checkpoint was trained on (the harness scores it there by default)."""
        return self.env_id

    def reset(self) -> None:
        self.reset_batch([0])

    def reset_batch(self, seeds) -> None:
        """Start len(seeds) trials; the agent is deterministic, so the seeds are not used."""
        b = len(seeds)
        self.h, self.s = (x.double() for x in self.filter.initial(b, self.device))
        self.prev_action = torch.zeros(b, 4, device=self.device, dtype=torch.float64)
        self.step_in_ep = torch.zeros(b, dtype=torch.long, device=self.device)
        self.episode = torch.full((b,), -1, dtype=torch.long, device=self.device)

    def set_task(self, task: int) -> None:
        self.task = int(task)

    def act(self, obs, reward: float, episode_start: bool) -> np.ndarray:
        return self.act_batch([obs], np.array([reward]), np.array([episode_start]))[0]

    @torch.no_grad()
    def act_batch(self, obs, rewards, episode_starts) -> np.ndarray:
        """Actions `(B, 4)` for B observations of the B trials started by `reset_batch`."""
        dev = self.device
        b = len(obs)
        if b != self.h.shape[0]:
            raise ValueError(f"act_batch got {b} observations for {self.h.shape[0]} trials (reset_batch)")
        new_ep = torch.as_tensor(np.asarray(episode_starts, dtype=bool), device=dev) | (self.episode < 0)
        self.episode = self.episode + new_ep.long()
        self.step_in_ep = torch.where(new_ep, torch.zeros_like(self.step_in_ep), self.step_in_ep)
        pixels = torch.as_tensor(np.stack([np.asarray(o["pixels"]) for o in obs]), device=dev)
        latent = self.vae.encode(self.vae.preprocess(pixels).double())[0]
        proprio = torch.as_tensor(np.stack([np.asarray(o["proprio"], dtype=np.float64) for o in obs]), device=dev)
        start = (self.step_in_ep == 0).double()
        rew = torch.as_tensor(np.asarray(rewards, dtype=np.float64), device=dev)
        self.h, self.s, _, post = self.filter.step(self.h, self.s, latent, proprio, self.prev_action, rew, start,
                                                   sample=False)
        onehot = None
        if self.uses_task:
            if self.task is None:
                raise RuntimeError("the oracle-task agent needs set_task(task) before act()")
            onehot = torch.zeros(b, self.num_tasks, device=dev, dtype=torch.float64)
            onehot[:, self.task] = 1.0
        pn = (proprio - self.filter.obs_mean[-4:]) / self.filter.obs_std[-4:]
        feat = agent_features(self.filter.belief(self.h, post), pn, self.step_in_ep, self.episode, self.T, self.K, onehot)
        a, _ = self.actor(feat, deterministic=True)
        self.prev_action = a
        self.step_in_ep = self.step_in_ep + 1
        return a.cpu().numpy().astype(np.float32)


# What a bundle may hold besides tensors and plain containers: `torch.load(weights_only=True)` refuses
# every other global, so a crafted file cannot run code (the `meta` dict records torch.__version__).
BUNDLE_SAFE_GLOBALS = (torch.torch_version.TorchVersion,)


def load_bundle(path: str | Path, map_location="cpu") -> dict:
    """A bundle's dict, loaded as data (`weights_only=True` with `BUNDLE_SAFE_GLOBALS`): a truncated,
    foreign or crafted file is a one-line `ValueError`, and nothing in it runs."""
    try:
        with torch.serialization.safe_globals(list(BUNDLE_SAFE_GLOBALS)):
            bundle = torch.load(path, map_location=map_location, weights_only=True)
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        raise FileNotFoundError(f"cannot read agent bundle {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001  (torch raises UnpicklingError, RuntimeError, EOFError, ...)
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        why = next((line for line in lines if "GLOBAL" in line), None)  # the object a crafted pickle asked for
        why = why or (f"{type(exc).__name__}: {lines[0][:120]}" if lines else type(exc).__name__)
        raise ValueError(f"{path} is not a RefExp agent bundle loadable as data (truncated, foreign or "
                         f"crafted: {why})") from None
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"{path} is not a RefExp agent bundle (expected a dict with format {BUNDLE_FORMAT!r})")
    return bundle


def shipped_path(name: str, env_id: str, seed: int | None = None) -> Path:
    """The shipped file of training seed `seed` (seed 0 and None: the unsuffixed default file)."""
    suffix = f"-seed{seed}" if seed else ""
    return CHECKPOINT_DIR / f"{env_slug(env_id)}-{name}{suffix}.pt"


def training_env(env_id: str) -> str:
    """The env whose checkpoint scores `env_id`: an env whose agents train on another env's data
    (`EnvEntry.trains_on`: the test-time-shift envs) is a robustness study of the agent trained on
    that env (`trains_on` names it, of any version); every other env is its own."""
    entry = refexp_envs.ENVS.get(env_id)
    if entry is None or entry.trains_on is None:
        return env_id
    return entry.trains_on


def _shift_siblings(env_id: str, envs) -> list[str]:
    """The shift envs among `envs` that train on the same env as the shift env `env_id` (none if
    `env_id` is not a shift): an agent trained for one shift of TwoDrawer-v1 (TwoDrawerShift-v1) is
    scored on another (TwoDrawerSealedShift-v2) as it is; newest version first."""
    base = training_env(env_id)
    if base == env_id:
        return []
    return sorted((e for e in envs if e not in (env_id, base) and training_env(e) == base), key=_version, reverse=True)


def _family(env_id: str) -> str:
    return re.sub(r"-v\d+$", "", env_id)


def _version(env_id: str) -> int:
    m = re.search(r"-v(\d+)$", env_id)
    return int(m.group(1)) if m else -1


def shipped_envs(name: str) -> list[str]:
    """Env ids with a shipped checkpoint of `name` (from the files' metadata sidecars)."""
    import json

    out = set()
    for meta in CHECKPOINT_DIR.glob(f"*-{name}.json"):
        env = json.loads(meta.read_text()).get("config", {}).get("env_id")
        if env and meta.name == shipped_path(name, env).with_suffix(".json").name:
            out.add(env)
    return sorted(out)


def _shipped_seeds(name: str, env_id: str) -> list[int]:
    slug = f"{env_slug(env_id)}-{name}"
    seeds = [0] if (CHECKPOINT_DIR / f"{slug}.pt").exists() else []
    seeds += sorted(int(p.stem.rsplit("-seed", 1)[1]) for p in CHECKPOINT_DIR.glob(f"{slug}-seed*.pt"))
    return seeds


def default_env_for(name: str, default_env: str) -> str:
    """The env a shipped agent is scored on when none is named: `default_env` if `name` was trained
    on it, else the newest version of the same env that `name` was trained on (or, trained on another
    env only, that env at `default_env`'s version where there is one)."""
    envs = shipped_envs(name)
    if default_env in envs:
        return default_env
    same = ([e for e in envs if _family(e) == _family(default_env)]
            or [e for e in envs if _version(e) == _version(default_env)] or envs)
    if len({_family(e) for e in same}) != 1:
        raise FileNotFoundError(f"no shipped checkpoint of {name!r} for {default_env} or another version of it; "
                                f"shipped for: {envs}; pass --env")
    return max(same, key=_version)


def bundle_version(path: str | Path) -> str:
    """A bundle's identity on the leaderboard and in results files: its bytes' SHA-256, 12 hex digits."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def load_pretrained(name: str, env_id: str | None = None, device: str = "cpu", seed: int = 0,
                    allow_env_mismatch: bool = False):
    """The shipped agent `name` of training seed `seed` for `env_id`, or the bundle at path `name`.

    `env_id=None`: the env it was trained on (for a shipped name, `benchmark.protocol.DEFAULT_ENV_ID`
    or the newest version of it that was trained). A training seed without a shipped checkpoint, or
    a bundle trained with another seed, is an error (never another run's checkpoint); so is an env
    the checkpoint was not trained on, unless `allow_env_mismatch`."""
    from benchmark.protocol import DEFAULT_ENV_ID

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    seed = int(seed)
    have_envs: list[str] = []
    if name.endswith(".pt"):
        found = Path(name)
        if not found.is_file():
            raise FileNotFoundError(f"no agent bundle at {found}")
    else:
        if name not in ELIGIBLE:
            raise ValueError(f"unknown agent {name!r}; expected one of {list(ELIGIBLE)} or a .pt path")
        have_envs = shipped_envs(name)
        if env_id is None:
            want = default_env_for(name, DEFAULT_ENV_ID)
        else:
            want = next((e for e in (env_id, training_env(env_id), *_shift_siblings(env_id, have_envs)) if e in have_envs),
                        training_env(env_id))
            if want not in have_envs and allow_env_mismatch and have_envs:
                want = default_env_for(name, want)
        found = shipped_path(name, want, seed)
        if not found.exists():
            seeds = _shipped_seeds(name, want)
            if seeds:
                raise FileNotFoundError(
                    f"no shipped checkpoint of {name!r} for training seed {seed} on {want} (shipped training seeds: "
                    f"{seeds}); score those with --seeds {' '.join(map(str, seeds))}, or train seed {seed} with "
                    f"python -m refexp_baselines.train --agent {name} --env {want} --seed {seed}")
            raise FileNotFoundError(f"no shipped checkpoint of {name!r} trained on {want} (shipped for: "
                                    f"{have_envs or 'none'}); score it on the env it was trained on (omit --env), "
                                    f"pass --allow-env-mismatch, or train one with python -m refexp_baselines.train "
                                    f"--agent {name} --env {want}")
    agent = BeliefAgent(load_bundle(found), device)
    agent.version = bundle_version(found)
    if agent.cfg.seed != seed:
        raise ValueError(f"{found} is training seed {agent.cfg.seed}'s checkpoint, not seed {seed}'s; "
                         f"score it with --seeds {agent.cfg.seed}")
    if (env_id is not None and agent.env_id not in (env_id, training_env(env_id), *_shift_siblings(env_id, [agent.env_id]))
            and not allow_env_mismatch):
        raise ValueError(f"checkpoint {found.name} was trained on {agent.env_id}, not {env_id}: score it on "
                         f"{agent.env_id} (omit --env), or pass --allow-env-mismatch to score it on {env_id} anyway")
    return agent


class PretrainedAgent(BeliefAgent):
    """Entry point for the harness (`refexp_baselines.agent:PretrainedAgent`): a shipped agent by
    `name`, or a `checkpoint` path, for training seed `seed`."""

    def __init__(self, env_id: str | None = None, seed: int = 0, device: str = "cpu",
                 checkpoint: str | None = None, name: str = "ours", allow_env_mismatch: bool = False):
        a = load_pretrained(checkpoint or name, env_id, device, seed, allow_env_mismatch)
        self.__dict__.update(a.__dict__)
