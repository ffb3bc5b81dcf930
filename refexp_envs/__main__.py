"""`python -m refexp_envs`: a short demo. Each scripted policy tries to open its drawer on every env.

Prints one row per (env, policy, task): the success rate of the scripted policy that opens drawer
`policy` when the hidden target is `task` (1 on the diagonal, 0 elsewhere). Progress goes to
stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import sys

import refexp_envs
from refexp_envs.datasets.cli import int_at_least  # an argparse type: an int >= minimum


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m refexp_envs",
        description="A short demo: each scripted policy tries to open its drawer on every env.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--episodes", type=int_at_least(1), default=3, help="episodes per (env, policy, task)")
    parser.add_argument("--noise", type=float, default=0.1, help="scripted policy action noise (>= 0)")
    parser.add_argument("--seed", type=int, default=0, help="episode e uses seed + e (env and policy noise)")
    parser.add_argument("--env", nargs="+", choices=refexp_envs.DRAWER_ENV_IDS, default=list(refexp_envs.LATEST_ENV_IDS),
                        metavar="ENV_ID", help=f"the envs to run, of {', '.join(refexp_envs.DRAWER_ENV_IDS)}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not args.noise >= 0:
        parser.error(f"--noise must be >= 0, got {args.noise}")

    import gymnasium as gym
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from refexp_envs.policies import ScriptedDrawerPolicy

    envs = {env_id: gym.make(env_id) for env_id in dict.fromkeys(args.env)}
    total = sum(env.unwrapped.num_tasks ** 2 * args.episodes for env in envs.values())
    table = Table(title="Scripted behaviour policies: success per (policy, task), pixel obs")
    for col in ("env", "policy opens", "task", "success rate"):
        table.add_column(col)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("episodes"),
               TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        job = bar.add_task("starting", total=total)
        for env_id, env in envs.items():
            bar.update(job, description=env_id)
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
                        bar.advance(job)
                    table.add_row(env_id, str(drawer), str(task), f"{wins / args.episodes:.2f}")
            env.close()
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
