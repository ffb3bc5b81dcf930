"""Scripted behaviour policies from random starts, and the open-loop replay figure.

`python -m benchmark.scripted_policies` measures, on the state observations of each env (the
physics and the start states are those of the pixel envs):

1. *Scripted success*: for every drawer i, policy i (noise 0) from `starts` random starts (reset
   seeds `seed`, `seed + 1`, ...; task i): the fraction of episodes in which drawer i opens past the
   success threshold (0.10 m) at some step, in which it is still open at the last step, and in which
   any other drawer moved past 2 mm (the goal: >= 98% and never).
2. *Open-loop replay*: the action sequence of policy 0 recorded from one start, replayed blindly
   from `replay_targets` other starts, for `replay_sources` recorded starts: the fraction of
   replays that open drawer 0. On v0 every start is the same, so replay always succeeds; on v1 the
   start-state distribution must make it fail at least half the time (the goal: <= 0.5).

Prints a markdown table; `--json-out` also writes the numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time

import numpy as np

import refexp_envs  # noqa: F401  (registers the ids)
import gymnasium as gym

from refexp_envs.drawers import SUCCESS_OPENING
from refexp_envs.policies import ScriptedDrawerPolicy

MOVED = 0.002  # m: a drawer opened further than this was touched


@dataclasses.dataclass
class ScriptedConfig:
    env_ids: tuple[str, ...] = ("RefExp/TwoDrawer-v1", "RefExp/ThreeDrawer-v1", "RefExp/TwoDrawerShift-v1")  # envs to measure
    starts: int = 500  # random starts per policy
    replay_sources: int = 50  # recorded starts for the open-loop replay
    replay_targets: int = 10  # other starts each recorded sequence is replayed from
    seed: int = 0  # first reset seed; replays use seeds from seed + 1_000_000 on
    json_out: str | None = None  # also write the numbers here


def _episode(env: gym.Env, seed: int, task: int, actions=None) -> tuple[bool, bool, float, list]:
    """One episode: the scripted policy of `task`, or the given `actions` open-loop. Returns
    (opened at some step, open at the end, largest opening of any other drawer, actions)."""
    obs, _ = env.reset(seed=seed, options={"task": task})
    policy = ScriptedDrawerPolicy.for_env(env, task) if actions is None else None
    taken, ever, other = [], False, 0.0
    for t in range(env.unwrapped.horizon):
        action = policy(obs) if policy is not None else actions[t]
        obs, _, _, _, info = env.step(action)
        taken.append(action)
        ever |= info["success"]
        other = max(other, float(np.delete(obs["drawers"], task).max(initial=0.0)))
    return ever, bool(obs["drawers"][task] >= SUCCESS_OPENING), other, taken


def measure(cfg: ScriptedConfig) -> dict:
    from rich.progress import track

    results = {}
    for env_id in cfg.env_ids:
        env = gym.make(env_id, obs_type="state")
        n = env.unwrapped.num_tasks
        per_drawer = []
        for drawer in range(n):
            rows = [_episode(env, cfg.seed + k, drawer)[:3]
                    for k in track(range(cfg.starts), description=f"{env_id} policy {drawer}")]
            per_drawer.append({
                "drawer": drawer,
                "opened": float(np.mean([r[0] for r in rows])),
                "open_at_end": float(np.mean([r[1] for r in rows])),
                "touched_another": int(sum(r[2] > MOVED for r in rows)),
            })
        wins = []
        for src in track(range(cfg.replay_sources), description=f"{env_id} replay"):
            base = cfg.seed + 1_000_000 + src * (cfg.replay_targets + 1)
            *_, actions = _episode(env, base, 0)
            wins += [_episode(env, base + 1 + k, 0, actions)[0] for k in range(cfg.replay_targets)]
        env.close()
        results[env_id] = {"policies": per_drawer, "open_loop_replay_success": float(np.mean(wins)),
                           "replays": len(wins)}
    return results


def table(results: dict, cfg: ScriptedConfig) -> str:
    lines = [f"| env | policy | opened ({cfg.starts} starts) | open at the end | touched another drawer | "
             "open-loop replay success |", "|---|---|---|---|---|---|"]
    for env_id, r in results.items():
        for p in r["policies"]:
            replay = f"{r['open_loop_replay_success']:.2f} of {r['replays']}" if p["drawer"] == 0 else ""
            lines.append(f"| `{env_id}` | {p['drawer']} | {p['opened']:.3f} | {p['open_at_end']:.3f} | "
                         f"{p['touched_another']} | {replay} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmark.scripted_policies", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--env-ids", nargs="+", default=list(ScriptedConfig.env_ids), help="envs to measure")
    parser.add_argument("--starts", type=int, default=ScriptedConfig.starts, help="random starts per policy")
    parser.add_argument("--replay-sources", type=int, default=ScriptedConfig.replay_sources,
                        help="recorded starts for the open-loop replay")
    parser.add_argument("--replay-targets", type=int, default=ScriptedConfig.replay_targets,
                        help="other starts each recorded sequence is replayed from")
    parser.add_argument("--seed", type=int, default=ScriptedConfig.seed, help="first reset seed")
    parser.add_argument("--json-out", default=ScriptedConfig.json_out, help="also write the numbers here")
    args = parser.parse_args(argv)
    unknown = [e for e in args.env_ids if e not in refexp_envs.DRAWER_ENV_IDS]
    if unknown:
        parser.error(f"unknown env ids {unknown}; drawer ids: {list(refexp_envs.DRAWER_ENV_IDS)} "
                     "(RefExp/Desk-v2's policies: python dev/desk_policies.py)")
    for name in ("starts", "replay_sources", "replay_targets"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    cfg = ScriptedConfig(**{**vars(args), "env_ids": tuple(args.env_ids)})
    t0 = time.perf_counter()
    results = measure(cfg)
    out = {"config": dataclasses.asdict(cfg), "results": results, "seconds": round(time.perf_counter() - t0, 1),
           "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "date": time.strftime("%Y-%m-%d")}
    print(table(results, cfg))
    if cfg.json_out:
        with open(cfg.json_out, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
