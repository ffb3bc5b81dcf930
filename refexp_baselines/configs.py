"""Typed configs: the paper's method, `ours`, and every other agent as switches on a parent (`VARIANTS`).

Stages and what they depend on (a stage's directory is named by the hash of its own config and of
every upstream config, so variants that agree upstream share the trained stage):

    frames  (frame VAE)          <- dataset, seed, FramesConfig
    belief  (variational filter) <- frames, BeliefConfig (naive meta-trajectories? reward input?)
    agent   (actor-critic on beliefs) <- belief, AgentConfig (backup, actor loss, cql_alpha, oracle task)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from benchmark.protocol import DEFAULT_ENV_ID


@dataclass(frozen=True)
class FramesConfig:
    """Conv VAE over single 64x64 frames, trained on i.i.d. frames, then used frozen."""

    latent: int = 32
    channels: int = 16
    steps: int = 1000
    batch: int = 32
    lr: float = 1e-3
    kl_weight: float = 1.0
    augment: bool = False  # encode colour/light/position-perturbed frames, reconstruct clean ones


@dataclass(frozen=True)
class BeliefConfig:
    """Recurrent variational filter (RSSM-style) over K-episode meta-trajectories."""

    k: int = 3  # episodes per meta-trajectory; `variant` sets the env's K (refexp_envs.default_episodes)
    naive: bool = False  # True ("no-expl"): all K episodes from one buffer, own rewards
    reward_input: bool = True  # False ("ours-onestep-no-reward-belief"): the posterior does not see rewards
    deter: int = 64
    stoch: int = 16
    hidden: int = 64
    reward_beta: float = 10.0  # weight of the reward log-likelihood (the paper's beta)
    task_samples: int = 4  # VariBAD-style reward decoding at random other steps (0: the paper's terms only)
    free_nats: float = 0.5  # per step, summed over latent dims
    kl_balance: float = 0.8
    steps: int = 1000
    batch: int = 32
    lr: float = 1e-3
    grad_clip: float = 100.0


@dataclass(frozen=True)
class AgentConfig:
    """An offline actor-critic on belief states: twin critics, a tanh-Gaussian actor, an optional
    CQL(H) penalty (`cql_alpha`), and an in-sample backup with an advantage-weighted actor."""

    cql_alpha: float = 0.0  # CQL(H) weight (the paper's beta); `ours` sets PAPER_CQL_ALPHA (configs.VARIANTS)
    cql_form: str = "H"  # "H": logsumexp over uniform + policy actions (CQL(H)); "rho": over policy actions only (CQL(rho))
    cql_target_gap: float = 0.0  # > 0: Lagrangian form, the weight cql_alpha * alpha' adapts so the gap settles here
    oracle: bool = False  # True ("ours-onestep-oracle-task"): the true task one-hot is appended to the belief
    gamma: float = 0.99
    tau: float = 0.02
    hidden: int = 128
    batch: int = 128
    steps: int = 10000
    lr_actor: float = 3e-4
    lr_critic: float = 3e-4
    lr_alpha: float = 3e-4
    n_actions: int = 4  # sampled actions per state for the logsumexp
    target_entropy: float = -4.0
    backup_entropy: bool = False  # soft (entropy) term in the TD target
    n_step: int = 8  # n-step TD targets along the meta-trajectory (1: the paper's one-step backup)
    backup: str = "data"  # TD target action: "data" a_{t+n} of the data (in-sample), "policy": a' ~ pi(b') (the paper)
    actor_loss: str = "awr"  # "awr": advantage-weighted regression (in-sample); "sac": maximise Q (the paper)
    awr_temperature: float = 2.0
    awr_max_weight: float = 50.0
    bc_steps: int = 2000  # actor warm-up by behaviour cloning (CQL's policy_eval_start)
    init_alpha: float = 1.0  # entropy temperature at the start (auto-tuned after)
    pool_trajectories: int = 3000  # meta-trajectories whose beliefs are precomputed once
    reward_scale: float = 1.0


@dataclass(frozen=True)
class RunConfig:
    agent_name: str = "ours"
    env_id: str = DEFAULT_ENV_ID  # the harness's default env (benchmark.protocol), one constant for both
    dataset: str | None = None  # None: the env's expert dataset; "local:<n>": collected here
    seed: int = 0
    frames: FramesConfig = field(default_factory=FramesConfig)
    belief: BeliefConfig = field(default_factory=BeliefConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    eval_every: int = 2500  # agent gradient steps between periodic evaluations
    eval_trials: int = 10  # trials of each task per periodic evaluation (the final one: --final-trials-per-task)


# The agent stage that ThreeDrawer-v1's `ours-onestep` (by `--set`) and `ours-onestep-randtex` need:
# more steps on more meta-trajectories
LONG_AGENT_STAGE = {"steps": 30000, "pool_trajectories": 10000}
# The CQL(H) weight of the paper's method as shipped for v0 (and of `ours` until part 2 of issue 22 changes it)
PAPER_CQL_ALPHA = 5.0


@dataclass(frozen=True)
class Variant:
    """A named agent: its parent and the config fields it sets on the parent's config.

    `switches` maps "section.field" (section: frames, belief, agent) or "dataset" (a dataset
    behaviour of the env, e.g. "expert-randlook") to a value. An `ablation` is one of `ours`'s
    Figure-2 ablations: exactly one switch away from its parent (tests/test_agent_checkpoint.py diffs them)."""

    parent: str | None  # None: the root, set on the dataclasses' defaults
    switches: dict  # "section.field" -> value, set on the parent's config
    doc: str  # what it computes, in one line
    eligible: bool = True  # False: sees the hidden task (never ranked)
    ablation: bool = False  # a Figure-2 ablation of its parent (one switch)


VARIANTS: dict[str, Variant] = {
    "ours": Variant(None, {"agent.backup": "policy", "agent.actor_loss": "sac", "agent.cql_alpha": PAPER_CQL_ALPHA},
                    "the paper's method: synthetic exploration, the variational filter with reward reconstruction, "
                    "an actor-critic on beliefs (a' ~ pi(b') backup, Q-maximising actor) with the CQL(H) penalty"),
    "no-expl": Variant("ours", {"belief.naive": True}, "ours without synthetic exploration: all K episodes of a "
                       "meta-trajectory from one buffer (Figure 2)", ablation=True),
    "no-cql": Variant("ours", {"agent.cql_alpha": 0.0}, "ours without the CQL(H) penalty (Figure 2)", ablation=True),
    "ours-aug": Variant("ours", {"frames.augment": True}, "ours with a frame encoder trained on colour/light/position-"
                        "perturbed frames (the visual-shift study)"),
    "ours-onestep": Variant("ours", {"agent.backup": "data", "agent.actor_loss": "awr", "agent.cql_alpha": 0.0},
                            "ours with another agent stage: an in-sample n-step backup (a_{t+n} of the data) and an "
                            "advantage-weighted actor, no CQL penalty (the v1 `ours` before issue 22)"),
    "ours-onestep-no-expl": Variant("ours-onestep", {"belief.naive": True}, "ours-onestep without synthetic exploration"),
    "ours-onestep-no-reward-belief": Variant("ours-onestep", {"belief.reward_input": False},
                                             "ours-onestep whose posterior does not see rewards"),
    "ours-onestep-oracle-task": Variant("ours-onestep", {"agent.oracle": True},
                                        "ours-onestep handed the true task (a sanity bound, never ranked)", eligible=False),
    "ours-onestep-cql5": Variant("ours-onestep", {"agent.cql_alpha": PAPER_CQL_ALPHA},
                                 "ours-onestep with the CQL(H) penalty at weight 5"),
    "ours-onestep-cql5-aug": Variant("ours-onestep-cql5", {"frames.augment": True},
                                     "ours-onestep-cql5 with the augmented frame encoder of ours-aug"),
    "ours-onestep-randlook": Variant("ours-onestep", {"dataset": "expert-randlook"},
                                     "ours-onestep on its env's appearance-randomised expert data (random colours, "
                                     "light, camera)"),
    "ours-onestep-randtex": Variant("ours-onestep", {"dataset": "expert-randtex",
                                                     **{f"agent.{k}": v for k, v in LONG_AGENT_STAGE.items()}},
                                    "ours-onestep on random looks including untextured tables, with the longer agent "
                                    "stage (chosen on the development secret, dev/LOG.md 17)"),
}
ELIGIBLE = {name: v.eligible for name, v in VARIANTS.items()}
AGENT_NAMES = tuple(VARIANTS)
def lineage(name: str) -> list[str]:
    """`name` and its ancestors, root last: ["no-cql", "ours"]."""
    out = [name]
    while VARIANTS[out[-1]].parent is not None:
        out.append(VARIANTS[out[-1]].parent)
    return out


def variant(name: str, **overrides) -> RunConfig:
    """The RunConfig of agent `name` (its ancestors' switches, root first, then its own); `overrides`
    set RunConfig fields."""
    if name not in VARIANTS:
        raise ValueError(f"unknown agent {name!r}; expected one of {list(AGENT_NAMES)}")
    from refexp_envs import default_episodes

    k = default_episodes(overrides.get("env_id", RunConfig.env_id))
    sections = {"frames": FramesConfig(), "belief": BeliefConfig(k=k), "agent": AgentConfig()}
    behaviour = None
    for step in reversed(lineage(name)):
        for key, value in VARIANTS[step].switches.items():
            if key == "dataset":
                behaviour = value
                continue
            section, fld = key.split(".")
            sections[section] = dataclasses.replace(sections[section], **{fld: value})
    cfg = dataclasses.replace(RunConfig(agent_name=name, **sections), **overrides)
    if behaviour is not None and cfg.dataset is None:
        cfg = dataclasses.replace(cfg, dataset=random_look_dataset(cfg.env_id, behaviour))
    return cfg


def config_diff(a: RunConfig, b: RunConfig) -> dict[str, tuple]:
    """Fields ("section.field", or a RunConfig field) where two configs differ, the name aside: {key: (a, b)}."""
    da, db = dataclasses.asdict(a), dataclasses.asdict(b)
    out = {}
    for key in da:
        if key == "agent_name":
            continue
        if isinstance(da[key], dict):
            out.update({f"{key}.{f}": (da[key][f], db[key][f]) for f in da[key] if da[key][f] != db[key][f]})
        elif da[key] != db[key]:
            out[key] = (da[key], db[key])
    return out


def random_look_dataset(env_id: str, behaviour: str) -> str:
    """The appearance-randomised expert dataset of `behaviour` ("expert-randlook": random colours, light
    and camera; "expert-randtex": also the table's texture) for `env_id`."""
    from refexp_envs import ENVS
    from refexp_envs.datasets.registry import REGISTRY

    dataset = ENVS[env_id].dataset(behaviour) if env_id in ENVS else None
    if dataset not in REGISTRY:
        raise ValueError(f"{env_id} has no appearance-randomised dataset ({behaviour}); pass --dataset")
    return dataset


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(d: dict) -> RunConfig:
    d = dict(d)
    return RunConfig(
        **{k: v for k, v in d.items() if k not in ("frames", "belief", "agent")},
        frames=FramesConfig(**d["frames"]), belief=BeliefConfig(**d["belief"]), agent=AgentConfig(**d["agent"]),
    )


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


# Fields added after runs were hashed: left out of the hash while at this value, so that adding an
# option does not orphan every trained stage.
_HASH_OMIT_AT = {"frames": {"augment": False}, "agent": {"cql_form": "H", "cql_target_gap": 0.0}}


def canonical(d: dict) -> dict:
    """A config dict (`{"frames": {...}, ...}` at any level) without the `_HASH_OMIT_AT` fields at
    their omitted value: what stage directories store and compare."""
    out = dict(d)
    for section, omit in _HASH_OMIT_AT.items():
        if isinstance(out.get(section), dict):
            out[section] = {k: v for k, v in out[section].items() if not (k in omit and v == omit[k])}
    return out


def stage_keys(cfg: RunConfig) -> dict[str, str]:
    """Content hashes of each stage and everything upstream of it."""
    base = {"env": cfg.env_id, "dataset": cfg.dataset, "seed": cfg.seed}
    frames = _hash({**base, "frames": canonical({"frames": dataclasses.asdict(cfg.frames)})["frames"]})
    belief = _hash({"up": frames, "belief": dataclasses.asdict(cfg.belief)})
    agent = _hash({"up": belief, "agent": canonical({"agent": dataclasses.asdict(cfg.agent)})["agent"]})
    return {"frames": frames, "belief": belief, "agent": agent}
