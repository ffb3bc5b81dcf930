"""`python -m refexp_envs`: a short demo. Each scripted policy tries to open its drawer on every env."""

from __future__ import annotations

import argparse

import gymnasium as gym
from rich.console import Console
from rich.table import Table

import refexp_envs
from refexp_envs.policies import ScriptedDrawerPolicy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=3, help="episodes per (env, task)")
    parser.add_argument("--noise", type=float, default=0.1, help="scripted policy action noise")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    table = Table(title="Scripted behaviour policies: success per (policy, task), pixel obs")
    for col in ("env", "policy opens", "task", "success rate"):
        table.add_column(col)
    for env_id in refexp_envs.ENV_IDS:
        env = gym.make(env_id)
        n = env.unwrapped.num_tasks
        for drawer in range(n):
            for task in range(n):
                wins = 0
                for ep in range(args.episodes):
                    obs, _ = env.reset(seed=args.seed + ep, options={"task": task})
                    policy = ScriptedDrawerPolicy.for_env(env, drawer, noise=args.noise, seed=args.seed + ep)
                    done, success = False, False
                    while not done:
                        obs, reward, terminated, truncated, info = env.step(policy(obs))
                        success |= info["success"]
                        done = terminated or truncated
                    wins += success
                table.add_row(env_id, str(drawer), str(task), f"{wins / args.episodes:.2f}")
        env.close()
    Console().print(table)


if __name__ == "__main__":
    main()
