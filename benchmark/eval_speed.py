"""Harness throughput: one trial at a time (the harness before batching) vs batched, side by side.

    python -m benchmark.eval_speed --agent ours --trials-per-task 10 --batch 8

Runs the same trials twice through `benchmark.run.evaluate` in one process (`--workers` each): with
`batch=1` (every trial alone, `agent.act` per step) and with `--batch` trials stepped together
(`agent.act_batch`, one env per trial). Reports trials/s and env steps/s of each and the speed-up,
checks that both give the same successes and returns, and compares the actions of a few trials
(maximum absolute difference; batched matrix products may differ in the last bits).

It also times the env alone (made once, random actions, the same number of steps and resets):
batching can only shrink the agent's share of a step, so `one-at-a-time wall / env-alone wall` is the
most any batching of agent calls could gain on this machine (the ceiling it prints).

    python -m benchmark.eval_speed --agent ours --isolation-cost --trials-per-task 12 --batch 8

`--isolation-cost` instead measures what running the agent in its own process costs in steady state
(`benchmark/sandbox.py`; one agent process, as each harness worker has): the same batched trials
through the agent built in this process and through the agent in a bubblewrap sandbox (or an
unconfined process where bubblewrap is missing), chunk by chunk in alternation after one warm-up
chunk each, so start-up (imports, loading weights) is not counted and a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Sequence

import numpy as np


class _ActionLog:
    """Forwards to an agent and keeps every action it returns, per trial slot."""

    def __init__(self, agent):
        self.agent, self.actions = agent, []

    def __getattr__(self, name):
        return getattr(self.agent, name)

    def reset(self):
        self.agent.reset()
        self.actions.append([])

    def act(self, obs, reward, episode_start):
        a = self.agent.act(obs, reward, episode_start)
        self.actions[-1].append(np.asarray(a, dtype=np.float64))
        return a

    def reset_batch(self, seeds):
        self.agent.reset_batch(seeds)
        self._base = len(self.actions)
        self.actions += [[] for _ in seeds]

    def act_batch(self, obs, rewards, starts):
        a = self.agent.act_batch(obs, rewards, starts)
        for i, row in enumerate(np.asarray(a, dtype=np.float64)):
            self.actions[self._base + i].append(row)
        return a


def compare_actions(agent_spec: str, env_id: str, episodes: int, n_trials: int, obs_type: str,
                    allow_env_mismatch: bool = False) -> float:
    """Max |action difference| between `run_trial` one at a time and `run_trials` on the same trials
    (finished trials' extra batched actions are not compared)."""
    import gymnasium as gym

    import refexp_envs
    from benchmark.agents import load_agent
    from benchmark.protocol import PUBLIC_SECRET, run_trial, run_trials, trial_specs

    episodes = episodes if episodes is not None else refexp_envs.default_episodes(env_id)  # the registry's K
    specs = trial_specs(0, eval_seed=0, secret=PUBLIC_SECRET, num_tasks=refexp_envs.num_tasks(env_id),
                        trials_per_task=max(1, n_trials // refexp_envs.num_tasks(env_id)), episodes=episodes)
    envs = [gym.make(env_id, obs_type=obs_type, disable_env_checker=True) for _ in specs]
    one, many = (_ActionLog(load_agent(agent_spec, env_id, allow_env_mismatch=allow_env_mismatch)) for _ in range(2))
    for spec in specs:
        run_trial(envs[0], one, spec)
    run_trials(envs, many, specs)
    for env in envs:
        env.close()
    worst = 0.0
    for a, b in zip(one.actions, many.actions):
        a, b = np.stack(a), np.stack(b)[: len(a)]
        worst = max(worst, float(np.abs(a - b).max()))
    return worst


def isolation_cost(agent_spec: str, env_id: str | None, episodes: int, trials_per_task: int, batch: int,
                   obs_type: str, allow_env_mismatch: bool = False) -> dict:
    """Steady-state wall seconds of the same batched trials with the agent in this process vs in its own
    (sandboxed) process, interleaved chunk by chunk after a warm-up chunk each; also whether they agree."""
    import gymnasium as gym

    import refexp_envs
    from benchmark.agents import load_agent
    from benchmark.protocol import DEFAULT_ENV_ID, PUBLIC_SECRET, run_trials, trial_specs
    from benchmark.sandbox import confinement_problem, start_agent
    from refexp_envs import HORIZON
    from benchmark.workers import chunks

    local = load_agent(agent_spec, env_id, allow_env_mismatch=allow_env_mismatch)
    env_id = env_id or getattr(local, "trained_env_id", None) or DEFAULT_ENV_ID
    confine = confinement_problem() is None
    remote = start_agent(agent_spec, env_id, confine=confine, allow_env_mismatch=allow_env_mismatch)
    episodes = episodes if episodes is not None else refexp_envs.default_episodes(env_id)  # the registry's K
    specs = trial_specs(0, eval_seed=0, secret=PUBLIC_SECRET, num_tasks=refexp_envs.num_tasks(env_id),
                        trials_per_task=trials_per_task, episodes=episodes)
    parts = chunks(specs, batch)
    if len(parts) < 2:
        raise ValueError(f"need at least two chunks of {batch} trials (one to warm up): raise --trials-per-task")
    envs = [gym.make(env_id, obs_type=obs_type, disable_env_checker=True) for _ in range(batch)]
    wall = {"in-process": 0.0, "own process": 0.0}
    ratios, load = [], [os.getloadavg()[0]]
    same = True
    try:
        for i, chunk in enumerate(parts):
            got, took = {}, {}
            order = (("in-process", local), ("own process", remote))
            for label, agent in order if i % 2 else order[::-1]:  # alternate which goes first (drift)
                t0 = time.perf_counter()
                got[label] = run_trials(envs, agent, chunk)
                took[label] = time.perf_counter() - t0
            if i > 0:  # chunk 0 warms both up
                for label in wall:
                    wall[label] += took[label]
                ratios.append(took["own process"] / took["in-process"])
            same &= got["in-process"] == got["own process"]
        # the boundary alone: round trips of one frame to the built-in random agent in the same confinement
        echo = start_agent("random", env_id, confine=confine)
        frame = envs[0].reset(seed=0)[0]
        echo.reset()
        t0 = time.perf_counter()
        for _ in range(300):
            echo.act(frame, 0.0, False)
        round_trip = (time.perf_counter() - t0) / 300
        echo.close()
    finally:
        remote.close()
        for env in envs:
            env.close()
    load.append(os.getloadavg()[0])
    steps = sum(len(c) for c in parts[1:]) * episodes * HORIZON
    return {"agent": agent_spec, "env_id": env_id, "obs_type": obs_type, "batch": batch, "episodes": episodes,
            "timed_trials": sum(len(c) for c in parts[1:]), "env_steps": steps, "confined": confine,
            "wall_in_process_s": wall["in-process"], "wall_own_process_s": wall["own process"],
            "slowdown": wall["own process"] / wall["in-process"] - 1.0,
            "median_chunk_slowdown": float(np.median(ratios)) - 1.0, "chunks_timed": len(ratios),
            "load_average_1min": [round(x, 2) for x in load], "round_trip_ms": round_trip * 1e3,
            "same_results": bool(same)}


def env_alone_seconds(env_id: str, obs_type: str, steps: int) -> float:
    """Wall seconds to make one env and take `steps` random-action steps (episode resets included),
    no agent: what the one-at-a-time path costs without its agent."""
    import gymnasium as gym

    from benchmark.env_speed import time_steps

    t0 = time.perf_counter()
    env = gym.make(env_id, obs_type=obs_type, disable_env_checker=True)
    made = time.perf_counter() - t0
    try:
        return made + steps / time_steps(env, steps, seed=0)
    finally:
        env.close()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.eval_speed", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--agent", default="ours", help="an agent with act_batch (the reference BeliefAgent has it)")
    p.add_argument("--env", default=None, help="env id (if omitted: the env the agent was trained on)")
    p.add_argument("--episodes", type=int, default=None, help="episodes K per trial (default: the env's K from refexp_envs.ENVS)")
    p.add_argument("--trials-per-task", type=int, default=10, help="trials of each task (one training seed)")
    p.add_argument("--batch", type=int, default=8, help="trials stepped at once in the batched run")
    p.add_argument("--workers", type=int, default=1, help="worker processes of each run (1 = in-process)")
    p.add_argument("--obs-type", choices=("pixels", "state"), default="pixels", help="observations")
    p.add_argument("--compare-trials", type=int, default=4, help="trials whose actions are compared one by one")
    p.add_argument("--allow-env-mismatch", action="store_true",
                   help="time a checkpoint on an env it was not trained on (speed only: its scores mean nothing)")
    p.add_argument("--json", default=None, help="also write the measurements to this JSON file")
    p.add_argument("--isolation-cost", action="store_true",
                   help="measure the agent in its own (sandboxed) process vs in-process instead (batched, steady state)")
    a = p.parse_args(argv)
    import refexp_envs
    from benchmark.agents import check_agent_spec

    try:
        check_agent_spec(a.agent)
        if a.env is not None:
            refexp_envs.num_tasks(a.env)
        for name in ("episodes", "trials_per_task", "batch", "workers", "compare_trials"):
            if getattr(a, name) is not None and getattr(a, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(a, name)}")
    except ValueError as exc:
        p.error(str(exc))
    import torch

    from benchmark.run import evaluate

    torch.set_num_threads(1)  # as in the harness's workers
    if a.isolation_cost:
        try:
            out = isolation_cost(a.agent, a.env, a.episodes, a.trials_per_task, a.batch, a.obs_type, a.allow_env_mismatch)
        except ValueError as exc:
            p.error(str(exc))
        out["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        out["machine"] = platform.processor() or platform.machine()
        where = "a bubblewrap sandbox" if out["confined"] else "an unconfined process (no bubblewrap)"
        print(f"{a.agent} on {out['env_id']} ({a.obs_type}), batch {a.batch}, {out['timed_trials']} timed trials = "
              f"{out['env_steps']} env steps, after one warm-up chunk; {out['machine']}, {out['date']}, load average "
              f"{out['load_average_1min'][0]:.1f} -> {out['load_average_1min'][1]:.1f}")
        print(f"agent in-process {out['wall_in_process_s']:.1f} s, in {where} {out['wall_own_process_s']:.1f} s: "
              f"{out['slowdown']:+.1%} (median over {out['chunks_timed']} chunks {out['median_chunk_slowdown']:+.1%}); "
              f"same trials: {out['same_results']}; a round trip of one frame to a trivial agent there: "
              f"{out['round_trip_ms']:.2f} ms")
        if a.json:
            with open(a.json, "w") as fh:
                json.dump(out, fh, indent=1)
        return 0 if out["same_results"] else 1
    kw = dict(episodes=a.episodes, trials_per_task=a.trials_per_task, training_seeds=(0,), workers=a.workers,
              device="cpu", progress=False, obs_type=a.obs_type, allow_env_mismatch=a.allow_env_mismatch)
    runs = {}
    for label, batch in (("one trial at a time", 1), (f"batched ({a.batch})", a.batch)):
        t0 = time.perf_counter()
        res = evaluate(a.agent, a.env, batch=batch, **kw)
        runs[label] = (res, time.perf_counter() - t0)
    (r1, w1), (r2, w2) = runs.values()
    env_id = r1["env_id"]
    a.episodes = r1["episodes"]  # the env's K when --episodes was omitted
    trials = len(r1["raw_tasks"][0])
    steps = trials * a.episodes * r1["protocol"]["horizon"]
    same = all(r1[k] == r2[k] for k in ("raw_successes", "raw_tasks", "raw_returns"))
    env_wall = env_alone_seconds(env_id, a.obs_type, steps)
    worst = compare_actions(a.agent, env_id, a.episodes, a.compare_trials, a.obs_type, a.allow_env_mismatch)
    print(f"{a.agent} on {env_id} ({a.obs_type}), {trials} trials x {a.episodes} episodes = {steps} env steps, "
          f"{a.workers} worker(s); {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{'path':<24}{'wall s':>10}{'trials/s':>10}{'steps/s':>10}")
    for label, (res, wall) in runs.items():
        print(f"{label:<24}{wall:>10.1f}{trials / wall:>10.2f}{steps / wall:>10.1f}")
    print(f"{'env alone (no agent)':<24}{env_wall:>10.1f}{'':>10}{steps / env_wall:>10.1f}")
    print(f"speed-up {w1 / w2:.2f}x (ceiling for batching agent calls: {w1 / env_wall:.2f}x, the env is "
          f"{env_wall / w1:.0%} of the one-at-a-time wall time); same successes, tasks and returns: {same}; "
          f"max |action difference| over {a.compare_trials} trials: {worst:.2e}")
    if a.json:
        out = {"agent": a.agent, "env_id": env_id, "obs_type": a.obs_type, "trials": trials, "episodes": a.episodes,
               "workers": a.workers, "batch": a.batch, "wall_one_s": w1, "wall_batched_s": w2, "speedup": w1 / w2,
               "wall_env_alone_s": env_wall, "ceiling": w1 / env_wall,
               "same_results": same, "max_action_diff": worst, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return 0 if same and worst <= 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
