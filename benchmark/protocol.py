"""The evaluation protocol: the Agent interface, the trial specification, and running trials.

numpy only (the env is passed in), so that this file is the whole contract between an agent and
the harness. It is the only code in the project that runs a trial: the harness's workers, the
training loop's evaluations and `benchmark/eval_speed.py` all call `run_trial` / `run_trials`.

Three inputs, kept apart (docs/benchmark.md):

* a **training seed** picks the agent (one checkpoint per training run); intervals are over these;
* the **evaluation seed** drives everything the agent and the env draw: the env reset seeds and the
  agent's per-trial seed come from `SeedSequence([eval_seed, training_seed, trial])` alone;
* the **evaluation secret** orders the tasks: each training seed scores every task
  `trials_per_task` times, in an order shuffled by a generator keyed by a hash of the secret. The
  agent-visible seeds never depend on the secret or the task, so two runs with different secrets
  show the agent the same seeds and first observations in a different task order.

A trial resets the agent once, then runs K episodes of one hidden task. At every step the agent gets
`act(obs, reward, episode_start)` (the previous step's reward, 0.0 at an episode start); an episode
succeeds when `info["success"]` is true at any of its steps.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

# The documented public secret for self-reported runs: anyone can reproduce their task order, so
# a leaderboard that must not be gamed scores submissions with its own secret (REFEXP_EVAL_SECRET).
PUBLIC_SECRET = "refexp-public-v1"
SECRET_ENV_VAR = "REFEXP_EVAL_SECRET"
# The development secret: what training's own evaluations and every choice of hyperparameters use
# (with evaluation seeds >= DEV_EVAL_SEED), so that reported numbers (public secret, eval seed 0)
# come from a task order and rollouts that no choice was made on.
DEV_SECRET = "refexp-dev-v1"
DEV_EVAL_SEED = 1000
# The env scored, and trained on, by default for agents that do not name the env they were trained
# on (built-ins, import paths, SB3 models). The one place to flip when a new env version is default.
DEFAULT_ENV_ID = "RefExp/TwoDrawer-v1"
MAX_EPISODE_STEPS = 10_000  # a guard against an env that never truncates
ACTION_DIM = 4


@runtime_checkable
class Agent(Protocol):
    """What the harness calls (contract section 3).

    Optional hooks used when present: `seed(int)` before `reset()` at every trial (a per-trial
    seed from the evaluation seed, never from the task); `set_task(task)` for agents with
    `uses_task = True` (never eligible); `set_layout(handles)` after every env reset for agents
    with `uses_layout = True` (the scripted reference agents: the handles' positions `(N, 3)`, drawn
    from the reset seed, never the task; on Desk-v2 the desk's `{"kinds", "targets"}` from
    `DeskEnv.layout()`); `reset_batch(seeds)` + `act_batch(obs, rewards, episode_starts)` to step
    several trials at once (see `BatchAgent`). Optional attributes: `name`,
    `version`, `eligible`, `uses_dataset`, `trained_env_id`, `online_steps` (env steps of online training).
    """

    def reset(self) -> None:
        """A new trial: forget all memory."""

    def act(self, obs: Any, reward: float, episode_start: bool) -> np.ndarray:
        """The action (float32, (4,)) for `obs`; `reward` is the previous step's (0.0 at an episode start)."""


@runtime_checkable
class BatchAgent(Protocol):
    """An agent that runs B trials at once, each with its own memory (slot b is trial b)."""

    def reset_batch(self, seeds: Sequence[int]) -> None:
        """Start len(seeds) trials (forget all memory); `seeds[b]` is trial b's per-trial seed."""

    def act_batch(self, obs: Sequence[Any], rewards: np.ndarray, episode_starts: np.ndarray) -> np.ndarray:
        """Actions `(B, 4)` for B observations; `rewards` `(B,)` float, `episode_starts` `(B,)` bool."""


def supports_batch(agent) -> bool:
    """Whether `agent` offers the batched hooks (task- and layout-aware agents run one trial at a time)."""
    return (callable(getattr(agent, "act_batch", None)) and callable(getattr(agent, "reset_batch", None))
            and not getattr(agent, "uses_task", False) and not getattr(agent, "uses_layout", False))


# The secrets that may be named on a command line or in the environment (both readable through /proc
# by other processes): every other secret is read from a file or stdin (`--eval-secret-file`).
NAMED_SECRETS = (PUBLIC_SECRET, DEV_SECRET)


def resolve_secret(secret: str | None, environ: dict | None = None) -> str:
    """The evaluation secret: `secret` if given, else `$REFEXP_EVAL_SECRET` (a named secret only: an
    environment is readable through /proc/<pid>/environ), else the public one."""
    if secret is None:
        import os

        secret = (environ if environ is not None else os.environ).get(SECRET_ENV_VAR) or PUBLIC_SECRET
        if secret not in NAMED_SECRETS:
            raise ValueError(f"${SECRET_ENV_VAR} may name only the public or the development secret "
                             f"{list(NAMED_SECRETS)}: pass a private secret with --eval-secret-file PATH (or - for stdin)")
    if not isinstance(secret, str):
        raise ValueError(f"the evaluation secret must be a string, got {type(secret).__name__}")
    if not secret:
        raise ValueError("the evaluation secret must be a non-empty string")
    return secret


def read_secret_file(path: str) -> str:
    """The secret on the first line of file `path` (`-`: stdin), without its newline; `ValueError` if empty."""
    try:
        if path == "-":
            try:
                line = input()  # stdin's first line
            except EOFError:
                line = ""
        else:
            with open(path) as fh:
                line = fh.readline()
    except OSError as exc:
        raise ValueError(f"cannot read the evaluation secret from {path}: {exc.strerror or exc}") from None
    secret = line.rstrip("\r\n")
    if not secret:
        raise ValueError(f"no evaluation secret in {'stdin' if path == '-' else path} (its first line is empty)")
    return secret


def secret_id(secret: str) -> str:
    """The public id of a secret (recorded in results; the secret itself never is): 16 hex digits."""
    if not isinstance(secret, str):
        raise ValueError(f"the evaluation secret must be a string, got {type(secret).__name__}")
    return hashlib.sha256(b"refexp-eval-secret-id:" + secret.encode()).hexdigest()[:16]


def _secret_entropy(secret: str) -> int:
    return int.from_bytes(hashlib.sha256(b"refexp-task-order:" + secret.encode()).digest()[:16], "big")


# ------------------------------------------------------------------------------------------ trials
@dataclass(frozen=True)
class TrialSpec:
    """Everything one trial needs. Workers receive these (task ids), never the secret."""

    training_seed: int
    trial: int
    task: int
    reset_seeds: tuple[int, ...]
    agent_seed: int
    look: int | None = None  # a sealed-shift env's look seed (from the secret; given to the env, never the agent)


def _reset_options(spec: TrialSpec) -> dict:
    """The env's reset options of a trial's episodes: its task and, for a sealed-shift env, its look."""
    return {"task": spec.task} if spec.look is None else {"task": spec.task, "look": spec.look}


@dataclass(frozen=True)
class TrialResult:
    """One finished trial: success and return per episode, and a digest of its action sequence
    (`failed:<why>` for a trial the agent failed: crashed, timed out, or broke the protocol)."""

    training_seed: int
    trial: int
    task: int
    successes: tuple[int, ...]
    returns: tuple[float, ...]
    rollout: str  # hex digest of the actions rounded to 1e-5: equal digests = the same rollout


FAILED_PREFIX = "failed:"


def failed_result(spec: TrialSpec, why: str) -> TrialResult:
    """A trial the agent failed (`why`: crash, timeout, protocol): no success, no return, recorded as such."""
    k = len(spec.reset_seeds)
    return TrialResult(spec.training_seed, spec.trial, spec.task, (0,) * k, (0.0,) * k, FAILED_PREFIX + why)


def check_count(name: str, value: Any) -> int:
    """A positive integer count, or a ValueError that says so."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def agent_visible_seeds(eval_seed: int, training_seed: int, trial: int, episodes: int) -> tuple[tuple[int, ...], int]:
    """Env reset seeds (one per episode) and the agent's seed of a trial: no secret, no task."""
    rng = np.random.default_rng(np.random.SeedSequence([int(eval_seed), int(training_seed), int(trial)]))
    reset_seeds = tuple(int(x) for x in rng.integers(0, 2**31 - 1, size=episodes))
    return reset_seeds, int(rng.integers(0, 2**31 - 1))


def task_order(secret: str, eval_seed: int, training_seed: int, num_tasks: int, trials_per_task: int) -> np.ndarray:
    """Tasks of a training seed's trials: each of `range(num_tasks)` `trials_per_task` times, shuffled
    by a generator keyed by the secret (and the two seeds). Shape `(num_tasks * trials_per_task,)`."""
    secret = resolve_secret(secret)
    check_count("num_tasks", num_tasks)
    check_count("trials_per_task", trials_per_task)
    rng = np.random.default_rng(np.random.SeedSequence([_secret_entropy(secret), int(eval_seed), int(training_seed)]))
    return rng.permutation(np.repeat(np.arange(num_tasks), trials_per_task))


def trial_specs(training_seed: int, *, eval_seed: int, secret: str, num_tasks: int, trials_per_task: int,
                episodes: int, looks: bool = False) -> list[TrialSpec]:
    """The `num_tasks * trials_per_task` trials of one training seed, task-balanced. `looks`: the env
    is a sealed shift, and each trial gets the look seed of (secret, eval seed, trial index)
    (`look_seed`: the same for every training seed)."""
    episodes = check_count("episodes", episodes)
    secret = resolve_secret(secret)
    tasks = task_order(secret, eval_seed, training_seed, num_tasks, trials_per_task)
    out = []
    for i, task in enumerate(tasks):
        reset_seeds, agent_seed = agent_visible_seeds(eval_seed, training_seed, i, episodes)
        look = look_seed(secret, eval_seed, i) if looks else None
        out.append(TrialSpec(int(training_seed), i, int(task), reset_seeds, agent_seed, look))
    return out


def look_seed(secret: str, eval_seed: int, trial: int) -> int:
    """The sealed-shift look seed of trial `trial` (a training seed's trial index) under `secret`, in
    [0, 2**63): a one-way hash, so it never reveals the secret; the same for every training seed
    (paired looks). The env turns it into a look (`refexp_envs.looks.draw_look`)."""
    if not isinstance(secret, str) or not secret:
        raise ValueError(f"the evaluation secret must be a non-empty string, got {type(secret).__name__}")
    for name, value in (("eval_seed", eval_seed), ("trial", trial)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    digest = hashlib.sha256(f"refexp-sealed-look:{int(eval_seed)}:{int(trial)}:".encode() + secret.encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


# --------------------------------------------------------------------------------------- running
class _Rollout:
    """Per-trial bookkeeping: episode index, success, return, and the action digest."""

    def __init__(self, spec: TrialSpec):
        self.spec = spec
        self.episode = 0
        self.successes: list[int] = []
        self.returns: list[float] = []
        self.success, self.ret, self.steps = False, 0.0, 0
        self.digest = hashlib.sha256()

    def record(self, action: np.ndarray, reward: float, info: dict) -> None:
        self.digest.update(np.round(np.asarray(action, dtype=np.float64), 5).tobytes())
        self.success |= bool(info.get("success", False))
        self.ret += reward
        self.steps += 1
        if self.steps > MAX_EPISODE_STEPS:
            raise RuntimeError(f"episode did not end within {MAX_EPISODE_STEPS} steps")

    def end_episode(self) -> None:
        self.successes.append(int(self.success))
        self.returns.append(float(self.ret))
        self.success, self.ret, self.steps = False, 0.0, 0
        self.episode += 1

    @property
    def done(self) -> bool:
        return self.episode >= len(self.spec.reset_seeds)

    def result(self) -> TrialResult:
        s = self.spec
        return TrialResult(s.training_seed, s.trial, s.task, tuple(self.successes), tuple(self.returns),
                           self.digest.hexdigest()[:16])


def _check_action(action, where: str) -> np.ndarray:
    a = np.asarray(action, dtype=np.float32)
    if a.shape != (ACTION_DIM,):
        raise ValueError(f"{where} returned an action of shape {a.shape}; expected ({ACTION_DIM},)")
    return a


def run_trial(env, agent, spec: TrialSpec) -> TrialResult:
    """Run one trial of `agent` on `env`: seed and reset the agent once, then K episodes of `spec.task`."""
    seed_hook = getattr(agent, "seed", None)
    if callable(seed_hook):
        seed_hook(spec.agent_seed)
    if getattr(agent, "uses_task", False):
        agent.set_task(spec.task)
    agent.reset()
    ro = _Rollout(spec)
    for reset_seed in spec.reset_seeds:
        obs, _ = env.reset(seed=reset_seed, options=_reset_options(spec))
        if getattr(agent, "uses_layout", False):
            base = env.unwrapped  # a desk's layout is its slots' kinds and targets (DeskEnv.layout)
            agent.set_layout(base.layout() if hasattr(base, "layout") else base.handle_positions())
        reward, start = 0.0, True
        while True:
            action = _check_action(agent.act(obs, reward, start), "agent.act")
            obs, reward, terminated, truncated, info = env.step(action)
            reward, start = float(reward), False
            ro.record(action, reward, info)
            if terminated or truncated:
                break
        ro.end_episode()
    return ro.result()


def run_trials(envs: Sequence, agent, specs: Sequence[TrialSpec]) -> list[TrialResult]:
    """Run `specs` at once, trial b on `envs[b]`, with one `act_batch` call per step.

    Every trial keeps its own episode clock (an episode that ends early resets only its own env);
    the actions of finished trials are discarded. Same results as `run_trial` on each spec, up to
    the last bits of the agent's batched arithmetic.
    """
    if len(envs) < len(specs):
        raise ValueError(f"need one env per trial: {len(envs)} envs for {len(specs)} trials")
    if not supports_batch(agent):
        raise TypeError("run_trials needs an agent with reset_batch() and act_batch() (and no uses_task)")
    b = len(specs)
    if b == 0:
        return []
    agent.reset_batch([s.agent_seed for s in specs])
    ros = [_Rollout(s) for s in specs]
    obs = [env.reset(seed=s.reset_seeds[0], options=_reset_options(s))[0] for env, s in zip(envs, specs)]
    rewards, starts = np.zeros(b), np.ones(b, dtype=bool)
    while not all(ro.done for ro in ros):
        actions = np.asarray(agent.act_batch(obs, rewards.copy(), starts.copy()), dtype=np.float32)
        if actions.shape != (b, ACTION_DIM):
            raise ValueError(f"agent.act_batch returned shape {actions.shape} for {b} trials; expected ({b}, {ACTION_DIM})")
        for i, (env, ro) in enumerate(zip(envs, ros)):
            if ro.done:
                continue
            o, r, terminated, truncated, info = env.step(actions[i])
            ro.record(actions[i], float(r), info)
            obs[i], rewards[i], starts[i] = o, float(r), False
            if terminated or truncated:
                ro.end_episode()
                if not ro.done:
                    obs[i], _ = env.reset(seed=ro.spec.reset_seeds[ro.episode], options=_reset_options(ro.spec))
                    rewards[i], starts[i] = 0.0, True
    return [ro.result() for ro in ros]
