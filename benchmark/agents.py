"""The built-in reference agents, the Stable-Baselines3 adapter, and the loader of any agent by name.

* The `Agent` protocol itself lives in `benchmark.protocol` (re-exported here).
* Built-ins: `random`, `always-first`, `scripted-explorer` (Bayes-optimal from rewards alone),
  `oracle` (knows the task, never eligible).
* The reference method and its ablations (`ours`, `no-expl`, ...) are resolved by the string entry
  point in `REFERENCE_AGENTS`, as is any `PATH.pt` bundle written by `refexp_baselines.train`: the
  harness never imports the method's package by name, and imports it only when asked for.
* `SB3Agent` scores a saved Stable-Baselines3 model; `PrevRewardWrapper` gives a training env the
  same extra observation keys (`prev_reward`, `episode_start`) that the adapter feeds the model, so
  a memory-based model (RecurrentPPO) can infer the task from rewards. `TrialWrapper` makes one
  gym episode out of a K-episode trial, for training such a model with the memory kept across
  episodes.
* `check_agent_spec(spec)` refuses a bad name without importing anything heavy;
  `load_agent(spec, env_id, seed, device)` builds the agent (`seed` = the training seed).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from benchmark.protocol import ACTION_DIM, DEFAULT_ENV_ID, Agent, BatchAgent  # noqa: F401  (re-exported)

# The reference method's agents, by entry point (`module:callable`, called with name=...).
REFERENCE_ENTRY_POINT = "refexp_baselines.agent:PretrainedAgent"
REFERENCE_AGENTS = ("ours", "no-expl", "no-cql", "ours-aug", "ours-onestep", "ours-onestep-no-expl", "ours-onestep-no-reward-belief",
                    "ours-onestep-oracle-task", "ours-onestep-cql5", "ours-onestep-cql5-aug", "ours-onestep-randlook", "ours-onestep-randtex")
ACTION_SHAPE = (ACTION_DIM,)


# ----------------------------------------------------------------------------------- built-ins
class RandomAgent:
    """Uniform random actions in [-1, 1]^4. Almost never pulls a drawer out far enough: ~0 success."""

    name = "random"
    version = "1"
    eligible = True
    uses_task = False
    uses_dataset = False

    def __init__(self, env_id: str = DEFAULT_ENV_ID, seed: int = 0):
        self._rng = np.random.default_rng(seed)

    def seed(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self, obs, reward: float, episode_start: bool) -> np.ndarray:
        return self._rng.uniform(-1.0, 1.0, size=ACTION_SHAPE).astype(np.float32)


class _ScriptedDrawers:
    """Noiseless scripted policies, one per drawer (policy i opens drawer i), for the reference agents.

    A scripted policy steers to a drawer's handle, and from v1 on the cabinet moves with the reset
    seed, so these agents declare `uses_layout = True`: after every env reset the harness calls
    `set_layout(handles)` with the handles' positions `(N, 3)`. That is privileged knowledge of the
    scene's geometry (what a state-based Metaworld script reads), never of the task: the layout is
    drawn from the reset seed alone and is the same for every task. On `RefExp/Desk-v2` the layout is
    the desk's (`DeskEnv.layout()`: each slot's kind and where the hand works it) and policy i works
    the mechanism in slot i (`ScriptedMechanismPolicy`); there are M = `num_choices` policies.
    """

    uses_layout = True

    def __init__(self, env_id: str):
        import refexp_envs
        from refexp_envs.policies import behaviour_version

        self._n = refexp_envs.num_choices(env_id)
        self._version = behaviour_version(env_id)
        self._desk = refexp_envs.env_entry(env_id).entry_point == refexp_envs.DESK_ENTRY_POINT
        if not self._desk:
            self.set_layout(None)

    def set_layout(self, handles) -> None:
        """`handles`: `(N, 3)` handle positions of this episode (None: v0's fixed layout), or a desk's
        layout `{"kinds": (M,), "targets": (M, 3)}`."""
        from refexp_envs.policies import ScriptedDrawerPolicy, ScriptedMechanismPolicy

        if isinstance(handles, dict):
            self._policies = [ScriptedMechanismPolicy(kind, target)
                              for kind, target in zip(handles["kinds"], handles["targets"])]
            return
        self._policies = [ScriptedDrawerPolicy(i, self._n, handle=None if handles is None else handles[i],
                                               version=self._version) for i in range(self._n)]


class AlwaysFirstAgent(_ScriptedDrawers):
    """Always opens drawer 0: succeeds in every episode of task 0 and never otherwise (1/N)."""

    name = "always-first"
    version = "1"
    eligible = True
    uses_task = False
    uses_dataset = False

    def __init__(self, env_id: str = DEFAULT_ENV_ID):
        super().__init__(env_id)

    def reset(self) -> None:
        pass

    def act(self, obs, reward: float, episode_start: bool) -> np.ndarray:
        return self._policies[0](obs)


class ScriptedExplorerAgent(_ScriptedDrawers):
    """Opens untried drawers in turn (0, 1, ...) until one pays, then repeats it.

    Uses only rewards, so it is Bayes-optimal: P(success in episode k) = min(1, k/N). A drawer
    pays within ~17 steps of a 50-step episode, so the reward is always seen before the episode ends.
    """

    name = "scripted-explorer"
    version = "1"
    eligible = True
    uses_task = False
    uses_dataset = False

    def __init__(self, env_id: str = DEFAULT_ENV_ID):
        super().__init__(env_id)
        self.reset()

    def reset(self) -> None:
        self._next = 0  # the next untried drawer
        self._current = 0  # the drawer tried in this episode
        self._found: int | None = None

    def act(self, obs, reward: float, episode_start: bool) -> np.ndarray:
        if episode_start:
            if self._found is not None:
                self._current = self._found
            else:
                # After trying all N without a reward (impossible with the scripted policy) start over.
                self._current = self._next % self._n
                self._next += 1
        elif reward > 0 and self._found is None:
            self._found = self._current
        return self._policies[self._current](obs)


class OracleAgent(_ScriptedDrawers):
    """Knows the hidden task and opens that drawer: a sanity bound, never eligible."""

    name = "oracle"
    version = "1"
    eligible = False
    uses_task = True
    uses_dataset = False

    def __init__(self, env_id: str = DEFAULT_ENV_ID):
        super().__init__(env_id)
        self._task: int | None = None

    def set_task(self, task: int) -> None:
        self._task = int(task)

    def reset(self) -> None:
        pass

    def act(self, obs, reward: float, episode_start: bool) -> np.ndarray:
        if self._task is None:
            raise RuntimeError("OracleAgent.act before set_task: the harness must set the task first")
        return self._policies[self._task % self._n](obs)  # the paying drawer (Desk-v2: slot task % M)


BUILTIN_AGENTS: dict[str, type] = {
    "random": RandomAgent,
    "always-first": AlwaysFirstAgent,
    "scripted-explorer": ScriptedExplorerAgent,
    "oracle": OracleAgent,
}


# ------------------------------------------------------------------------ SB3: wrapper, adapter
def augment_observation(obs: dict, reward: float, episode_start: bool) -> dict:
    """The env's dict observation plus `prev_reward` and `episode_start`, both `float32 (1,)`.

    The one definition shared by `PrevRewardWrapper` (training) and `SB3Agent` (scoring), so a
    model sees the same inputs in both.
    """
    if not isinstance(obs, dict):
        raise TypeError(f"expected a dict observation, got {type(obs).__name__}")
    out = dict(obs)
    out["prev_reward"] = np.array([reward], dtype=np.float32)
    out["episode_start"] = np.array([1.0 if episode_start else 0.0], dtype=np.float32)
    return out


def augmented_space(space: spaces.Dict) -> spaces.Dict:
    """`space` plus the two keys that `augment_observation` adds."""
    extra = {
        "prev_reward": spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32),
        "episode_start": spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32),
    }
    return spaces.Dict({**dict(space.spaces), **extra})


class PrevRewardWrapper(gym.Wrapper):
    """Adds the previous step's reward and an episode-start flag to a RefExp dict observation."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.observation_space = augmented_space(env.observation_space)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return augment_observation(obs, 0.0, True), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return augment_observation(obs, float(reward), False), reward, terminated, truncated, info


class TrialWrapper(gym.Wrapper):
    """One gym episode = one trial: K episodes of one hidden task, for training memory-based agents.

    `reset()` draws a task (or takes `options={"task": t}`) and the inner episodes are reset with
    it; observations carry `prev_reward` and `episode_start` as the harness's adapter feeds them, so
    an LSTM kept across the whole trial learns to explore then exploit. `info["trial_episode"]` is the
    index of the inner episode (not `"episode"`, which SB3's Monitor owns).
    """

    def __init__(self, env: gym.Env, episodes: int | None = None):
        super().__init__(env)
        if episodes is None:  # the env's K from the registry
            import refexp_envs

            episodes = refexp_envs.default_episodes(env.spec.id)
        if episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {episodes}")
        self.episodes = int(episodes)
        self.observation_space = augmented_space(env.observation_space)
        self._task = 0
        self._episode = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        options = dict(options or {})
        obs, info = self.env.reset(seed=seed, options=options or None)
        self._task = int(self.env.unwrapped.task)  # drawn by the env when not given
        self._episode = 0
        return augment_observation(obs, 0.0, True), {**info, "trial_episode": 0}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not (terminated or truncated):
            return augment_observation(obs, float(reward), False), reward, False, False, {**info, "trial_episode": self._episode}
        self._episode += 1
        if self._episode >= self.episodes:
            return augment_observation(obs, float(reward), False), reward, terminated, truncated, {**info, "trial_episode": self._episode - 1}
        obs, _ = self.env.reset(options={"task": self._task})
        return augment_observation(obs, 0.0, True), reward, False, False, {**info, "trial_episode": self._episode}


# Policy-class module prefix -> (package, algorithm class) able to load and run it. On-policy
# actor-critic models (PPO, A2C, TRPO) share a policy class and predict the same way, so PPO loads them.
_SB3_ALGOS: tuple[tuple[str, str, str], ...] = (
    ("sb3_contrib.common.recurrent", "sb3_contrib", "RecurrentPPO"),
    ("sb3_contrib.common.maskable", "sb3_contrib", "MaskablePPO"),
    ("sb3_contrib.tqc", "sb3_contrib", "TQC"),
    ("sb3_contrib.qrdqn", "sb3_contrib", "QRDQN"),
    ("stable_baselines3.sac", "stable_baselines3", "SAC"),
    ("stable_baselines3.td3", "stable_baselines3", "TD3"),
    ("stable_baselines3.dqn", "stable_baselines3", "DQN"),
    ("stable_baselines3.common.policies", "stable_baselines3", "PPO"),
)


def sb3_algorithm(path: str | Path):
    """The SB3 algorithm class that can load the model saved at `path` (read from its policy class)."""
    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("data"))
        module = data["policy_class"]["__module__"]
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path} is not a Stable-Baselines3 model zip (no readable policy class)") from exc
    for prefix, package, cls_name in _SB3_ALGOS:
        if module.startswith(prefix):
            try:
                return getattr(importlib.import_module(package), cls_name)
            except ImportError as exc:
                raise ImportError(
                    f"{path} was saved by {package}.{cls_name}; install it: pip install sb3-contrib"
                ) from exc
    raise ValueError(f"{path}: cannot tell which SB3 algorithm saved a policy from {module!r}")


class SB3Agent:
    """Scores a saved Stable-Baselines3 model through the Agent protocol.

    The model sees `augment_observation(obs, reward, episode_start)` (train it on
    `PrevRewardWrapper`/`TrialWrapper` envs). A recurrent model's state is kept across the K
    episodes of a trial and reset only at the trial's first step (`episode_start=True` is passed to
    `predict` then and only then), as the contract's memory rule says. Deterministic actions by default.
    """

    uses_task = False
    eligible = True
    uses_dataset = False  # an SB3 model trained online; the --dataset flag says otherwise

    def __init__(
        self, path: str | Path, env_id: str = DEFAULT_ENV_ID, seed: int = 0, device: str = "cpu",
        deterministic: bool = True,
    ):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no Stable-Baselines3 model at {path}")
        algo = sb3_algorithm(path)
        self.model = algo.load(str(path), device=device)
        self.deterministic = bool(deterministic)
        self.name = f"sb3-{algo.__name__}-{path.stem}"
        self.version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        self._state = None
        self._trial_start = True
        self._uses_extra_keys = isinstance(self.model.observation_space, spaces.Dict) and (
            "prev_reward" in self.model.observation_space.spaces
        )
        self.seed(seed)

    def seed(self, seed: int) -> None:
        import torch

        torch.manual_seed(seed)
        self.model.set_random_seed(seed)

    def reset(self) -> None:
        self._state = None
        self._trial_start = True

    def act(self, obs, reward: float, episode_start: bool) -> np.ndarray:
        model_obs = augment_observation(obs, reward, episode_start) if self._uses_extra_keys else obs
        action, self._state = self.model.predict(
            model_obs,
            state=self._state,
            episode_start=np.array([self._trial_start]),
            deterministic=self.deterministic,
        )
        self._trial_start = False
        return np.clip(np.asarray(action, dtype=np.float32).reshape(ACTION_SHAPE), -1.0, 1.0)


# ----------------------------------------------------------------------------------- resolving
def _import_class(spec: str):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"agent import path must be 'package.module:Class', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"cannot import module {module_name!r} for agent {spec!r}: {exc}") from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AttributeError(f"module {module_name!r} has no attribute {attr!r} (agent {spec!r})")
        obj = getattr(obj, part)
    return obj


def _instantiate(factory, **kwargs):
    """Call `factory` with those of `kwargs` its signature accepts (all of them for **kwargs)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return factory()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return factory(**kwargs)
    return factory(**{k: v for k, v in kwargs.items() if k in params})


def _check_agent(agent, spec: str):
    for method in ("reset", "act"):
        if not callable(getattr(agent, method, None)):
            raise TypeError(f"agent {spec!r} has no {method}() method; see benchmark.agents.Agent")
    if getattr(agent, "uses_task", False) and not callable(getattr(agent, "set_task", None)):
        raise TypeError(f"agent {spec!r} sets uses_task but has no set_task(task) method")
    return agent


def valid_agent_names() -> list[str]:
    return sorted(BUILTIN_AGENTS) + list(REFERENCE_AGENTS)


def check_agent_spec(spec: Any) -> str:
    """`spec` stripped, or a ValueError naming the valid forms; imports nothing."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"agent spec must be a non-empty string; valid names: {valid_agent_names()}")
    spec = spec.strip()
    if spec in BUILTIN_AGENTS or spec in REFERENCE_AGENTS:
        return spec
    if spec.endswith((".zip", ".pt")):
        if not Path(spec).is_file():
            kind = "Stable-Baselines3 model" if spec.endswith(".zip") else "agent bundle (train.py's agent.pt)"
            raise ValueError(f"no {kind} at {spec}")
        return spec
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise ValueError(f"agent import path must be 'package.module:Class', got {spec!r}")
        return spec
    raise ValueError(
        f"unknown agent {spec!r}; valid names: {valid_agent_names()}, or 'package.module:Class', or the path of "
        "an agent bundle written by refexp_baselines.train (.pt) or of a Stable-Baselines3 model (.zip)"
    )


def load_agent(spec: str, env_id: str | None = None, seed: int = 0, device: str = "cpu",
               allow_env_mismatch: bool = False) -> Agent:
    """Build the agent named by `spec` for `env_id`; `seed` is the training seed.

    `spec` is a built-in name, a reference-method name (its checkpoint for training seed `seed`:
    a seed with no shipped checkpoint is an error), a `PATH.pt` agent bundle, a `PATH.zip`
    Stable-Baselines3 model, or `package.module:Class` (called with whichever of env_id, seed,
    device its __init__ accepts). `env_id=None` means the env the agent was trained on, or
    `DEFAULT_ENV_ID` for agents that do not say. A checkpoint is scored on an env it was not
    trained on only with `allow_env_mismatch=True`.
    """
    spec = check_agent_spec(spec)
    if spec in BUILTIN_AGENTS:
        return _check_agent(_instantiate(BUILTIN_AGENTS[spec], env_id=env_id or DEFAULT_ENV_ID, seed=seed), spec)
    if spec in REFERENCE_AGENTS or spec.endswith(".pt"):
        factory = _import_class(REFERENCE_ENTRY_POINT)
        kw = {"name": spec} if spec in REFERENCE_AGENTS else {"checkpoint": spec}
        agent = factory(env_id=env_id, seed=seed, device=device, allow_env_mismatch=allow_env_mismatch, **kw)
        return _check_agent(agent, spec)
    if spec.endswith(".zip"):
        return _check_agent(SB3Agent(spec, env_id=env_id or DEFAULT_ENV_ID, seed=seed, device=device), spec)
    factory = _import_class(spec)
    if not callable(factory):
        raise TypeError(f"{spec!r} is not a class or factory")
    return _check_agent(_instantiate(factory, env_id=env_id or DEFAULT_ENV_ID, seed=seed, device=device), spec)


def agent_metadata(agent, spec: str) -> dict[str, Any]:
    """Name, version, eligibility and whether the agent used offline data, for the results file."""
    uses_task = bool(getattr(agent, "uses_task", False))
    if spec in BUILTIN_AGENTS or spec in REFERENCE_AGENTS:
        default_name = spec
    elif spec.endswith((".zip", ".pt")):
        default_name = Path(spec).stem
    else:
        default_name = spec
    return {
        "name": str(getattr(agent, "name", None) or default_name),
        "version": str(getattr(agent, "version", None) or "unversioned"),
        "eligible": bool(getattr(agent, "eligible", True)) and not uses_task,
        "uses_task": uses_task,
        "uses_layout": bool(getattr(agent, "uses_layout", False)),
        "uses_dataset": bool(getattr(agent, "uses_dataset", True)),
        "trained_env_id": getattr(agent, "trained_env_id", None),
        "online_steps": online_steps(agent),
    }


def online_steps(agent) -> int | None:
    """The online env steps the agent says it trained on (its `online_steps`), or None where it does not say."""
    x = getattr(agent, "online_steps", None)
    return int(x) if isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 0 else None
