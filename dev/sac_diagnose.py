"""Diagnosis of the paper's method (`ours`, `ours-sac` before the issue-22 rename) on TwoDrawer-v1 (issue 22).

Two measurements, both from the shipped bundles (their frame encoder and belief filter; no
critic is shipped, so the critic is retrained on them):

    python dev/sac_diagnose.py rollouts --seeds 0 1 2 3 4 [--trials 10] [--bundle runs/.../agent.pt]
        the shipped actors in the env, in this process (a measurement, not a score: reset seeds
        from 1000, the task set explicitly, no secret): per seed, task and episode the success,
        which drawer engaged the interlock (right, wrong, none), how close the gripper came to the
        target handle, how often an action coordinate is saturated (|a| > 0.95), and the belief's
        task accuracy (a logistic probe fitted on the training pool's beliefs, read at the last
        step of each episode).
    python dev/sac_diagnose.py critic --seed 3 [--steps 10000] [--set agent.n_step=1 ...]
        retrains the agent stage of `ours` (with `--set` overrides) on the bundle's frames and
        filter, logging every 500 steps Q of the data actions, of the actor's mean actions and of
        uniform actions, the CQL gap, the temperature, the actor's distance to the data actions and
        its saturation; rollouts as above at every `--rollout-every` steps.

Prints tables; `--out FILE` also writes them as JSON. Run from the repository root with
PYTHONPATH=$PWD OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time

import numpy as np
import torch

import refexp_envs  # noqa: F401  (MUJOCO_GL; registers ids)
from refexp_baselines import configs as C
from refexp_baselines.agent import BeliefAgent, load_bundle, shipped_path
from refexp_baselines.cql import CQL
from refexp_baselines.data import open_buffers
from refexp_baselines.train import belief_pool, parse_overrides

ENV = "RefExp/TwoDrawer-v1"
RESET_SEED0 = 1000  # diagnosis reset seeds (the development range; never the public eval seed 0)


def bundle_parts(name: str, seed: int, path: str | None = None):
    """The shipped bundle's agent (float64, for rollouts) and its frame encoder + filter in float32
    (or those of the bundle at `path`, e.g. a development run's agent.pt)."""
    bundle = load_bundle(path or shipped_path(name, ENV, seed))
    agent = BeliefAgent(bundle, "cpu")
    vae, filt = copy.deepcopy(agent.vae).float(), copy.deepcopy(agent.filter).float()
    return bundle, agent, vae, filt


def encode_dataset(vae, env_id: str = ENV) -> dict:
    """The dataset's frame codes under `vae` (what training's frame stage writes to codes.npz)."""
    bufs = open_buffers(env_id, None)
    ids = np.concatenate([np.asarray(bufs.episode_ids(t)) for t in range(bufs.num_tasks)])
    lat, pro, act, rew, tasks = [], [], [], [], []
    with torch.no_grad():
        for e in ids:
            ep = bufs.load_episode(int(e))
            lat.append(vae.encode_pixels(ep.pixels, "cpu").numpy())
            pro.append(ep.proprio), act.append(ep.actions), rew.append(ep.rewards), tasks.append(ep.task)
    return {"episode_ids": ids, "latents": np.stack(lat).astype(np.float32), "proprio": np.stack(pro).astype(np.float32),
            "actions": np.stack(act).astype(np.float32), "rewards": np.stack(rew).astype(np.float32),
            "tasks": np.array(tasks), "num_tasks": bufs.num_tasks}


def fit_probe(pool: dict, seed: int = 0, steps: int = 300) -> torch.nn.Linear:
    """Logistic probe: agent feature (B*L, D) -> target task; fitted on the pool's beliefs."""
    x = pool["feat"].reshape(-1, pool["feat"].shape[-1])
    y = pool["target"][:, None].expand(pool["feat"].shape[:2]).reshape(-1)
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-3)
    torch.manual_seed(seed)
    lin = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    opt = torch.optim.Adam(lin.parameters(), 1e-2)
    for _ in range(steps):
        i = torch.randint(len(x), (4096,))
        loss = torch.nn.functional.cross_entropy(lin((x[i] - mu) / sd), y[i])
        opt.zero_grad(), loss.backward(), opt.step()
    lin.mu, lin.sd = mu, sd
    return lin


def probe_accuracy_by_episode(lin, pool: dict, T: int, K: int) -> list[float]:
    """The probe's accuracy at the last step of each episode of the pool's meta-trajectories."""
    with torch.no_grad():
        out = []
        for k in range(K):
            f = pool["feat"][:, (k + 1) * T - 1]
            out.append(float((lin((f - lin.mu) / lin.sd).argmax(-1) == pool["target"]).float().mean()))
    return out


@torch.no_grad()
def rollouts(agent: BeliefAgent, lin, trials: int, num_tasks: int = 2) -> dict:
    """`trials` trials per task of `agent` (K episodes each, batched over the trials of one task)."""
    import gymnasium as gym

    K = agent.K
    stats = {}
    for task in range(num_tasks):
        envs = [gym.make(ENV) for _ in range(trials)]
        agent.reset_batch(list(range(trials)))
        per = {k: [] for k in ("success", "right", "wrong", "none", "min_dist", "sat", "grip", "probe")}
        for k in range(K):
            seeds = [RESET_SEED0 + 100 * task + 10 * i + k for i in range(trials)]  # own start per episode
            obs = [e.reset(seed=s, options={"task": task})[0] for e, s in zip(envs, seeds)]
            rewards, starts = np.zeros(trials), np.ones(trials, dtype=bool)
            succ, dmin, sat, grip = np.zeros(trials, bool), np.full(trials, 9.0), [], []
            for t in range(envs[0].spec.max_episode_steps):
                a = agent.act_batch(obs, rewards, starts)
                sat.append((np.abs(a) > 0.95).mean(-1)), grip.append(a[:, 3])
                starts = np.zeros(trials, dtype=bool)
                for i, e in enumerate(envs):
                    obs[i], rewards[i], _, _, info = e.step(a[i])
                    succ[i] |= info["success"]
                    u = e.unwrapped
                    dmin[i] = min(dmin[i], np.linalg.norm(u.proprio()[:3] - u.handle_positions()[task]))
            chosen = [e.unwrapped._chosen for e in envs]
            feat_last = agent_feature_now(agent)
            pred = lin((feat_last - lin.mu) / lin.sd).argmax(-1).numpy()
            per["success"].append(succ.mean()), per["min_dist"].append(dmin.mean())
            per["right"].append(np.mean([c == task for c in chosen])), per["none"].append(np.mean([c is None for c in chosen]))
            per["wrong"].append(np.mean([c is not None and c != task for c in chosen]))
            per["sat"].append(float(np.mean(sat))), per["grip"].append(float(np.mean(grip)))
            per["probe"].append(float((pred == task).mean()))
        for e in envs:
            e.close()
        stats[task] = {k: [round(float(x), 3) for x in v] for k, v in per.items()}
    return stats


def agent_feature_now(agent: BeliefAgent) -> torch.Tensor:
    """The agent's current belief features (float32), as its actor saw them at the last step."""
    return agent._last_feat.float()


def instrument(agent: BeliefAgent) -> None:
    """Keep the actor's last input on the agent (for the probe) without changing what it computes."""
    actor = agent.actor
    orig = actor.forward

    def fwd(feat, deterministic=False):
        agent._last_feat = feat.detach()
        return orig(feat, deterministic)

    actor.forward = fwd


def print_rollouts(label: str, stats: dict) -> None:
    for task, s in stats.items():
        print(f"{label} task {task}: " + " | ".join(f"{k} {'/'.join(f'{x:.2f}' for x in v)}" for k, v in s.items()), flush=True)


def cmd_rollouts(args) -> dict:
    out = {}
    for seed in args.seeds:
        t0 = time.time()
        bundle, agent, vae, filt = bundle_parts(args.agent, seed, args.bundle)
        cfg = agent.cfg
        codes = encode_dataset(vae)
        pool = belief_pool(cfg, filt, codes, 1000, 12345, torch.device("cpu"))
        lin = fit_probe(pool)
        T, K = int(codes["actions"].shape[1]), cfg.belief.k
        acc = probe_accuracy_by_episode(lin, pool, T, K)
        a = codes["actions"]
        print(f"seed {seed}: data actions: saturated {(np.abs(a) > 0.95).mean():.2f}, mean grip {a[..., 3].mean():.2f}")
        instrument(agent)
        st = rollouts(agent, lin, args.trials)
        print(f"seed {seed}: probe accuracy on the training pool at the end of episodes 1..{K}: {acc}")
        print_rollouts(f"seed {seed}", st)
        print(f"  ({time.time() - t0:.0f} s)", flush=True)
        out[seed] = {"pool_probe": acc, "rollouts": st}
    return out


def cmd_critic(args) -> dict:
    """Retrain the agent stage on the bundle's frames + filter, with Q diagnostics."""
    bundle, agent, vae, filt = bundle_parts(args.agent, args.seed)
    cfg = parse_overrides(C.variant(args.agent, env_id=ENV, seed=args.seed), args.set)
    if args.steps:
        cfg = dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, steps=args.steps))
    ac = cfg.agent
    dev = torch.device("cpu")
    codes = encode_dataset(vae)
    pool = belief_pool(cfg, filt, codes, ac.pool_trajectories, args.seed + 3, dev)
    lin = fit_probe(belief_pool(cfg, filt, codes, 1000, 12345, dev))
    P, L, D = pool["feat"].shape
    feat, action, reward = pool["feat"], pool["action"], pool["reward"]
    n = max(1, ac.n_step)
    ret = torch.zeros_like(reward)
    for k in range(n):
        ret[:, : L - k] += (ac.gamma ** k) * reward[:, k:]
    ar = torch.arange(L)
    next_idx, done_at = (ar + n).clamp(max=L - 1), (ar + n >= L).float()
    torch.manual_seed(args.seed + 4)
    algo = CQL(D, 4, ac)
    gen = torch.Generator().manual_seed(args.seed + 5)
    evalm = torch.Generator().manual_seed(99)
    mi, ti = torch.randint(P, (2048,), generator=evalm), torch.randint(L, (2048,), generator=evalm)
    log, agg = [], {}
    for step in range(1, ac.steps + 1):
        m, t = torch.randint(P, (ac.batch,), generator=gen), torch.randint(L, (ac.batch,), generator=gen)
        info = algo.update(feat[m, t], action[m, t], ret[m, t], feat[m, next_idx[t]], done_at[t],
                           bc=step <= ac.bc_steps, discount=ac.gamma ** n, a_next_data=action[m, next_idx[t]])
        for k, v in info.items():
            agg[k] = agg.get(k, 0.0) + v / 500
        if step % 500 == 0:
            with torch.no_grad():
                b, a = feat[mi, ti], action[mi, ti]
                mean_a, _ = algo.actor(b, deterministic=True)
                q_data = torch.min(*algo.critic(b, a))
                q_pi = torch.min(*algo.critic(b, mean_a))
                q_rand = torch.min(*algo.critic(b, torch.rand_like(a) * 2 - 1))
                raw_mean = algo.actor.net(b).chunk(2, -1)[0]
                row = {"step": step, **{k: round(v, 4) for k, v in agg.items()},
                       "q_data": q_data.mean().item(), "q_pi": q_pi.mean().item(), "q_rand": q_rand.mean().item(),
                       "pi_minus_data": (q_pi - q_data).mean().item(),
                       "frac_pi_above_data": (q_pi > q_data).float().mean().item(),
                       "act_mse": ((mean_a - a) ** 2).mean().item(),
                       "pi_sat": (mean_a.abs() > 0.95).float().mean().item(),
                       "data_sat": (a.abs() > 0.95).float().mean().item(),
                       "pre_tanh_abs": raw_mean.abs().mean().item()}
            agg = {}
            log.append(row)
            print(" ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
            if args.rollout_every and step % args.rollout_every == 0:
                from refexp_baselines.agent import make_bundle

                b2 = make_bundle(cfg, int(codes["num_tasks"]), L // cfg.belief.k, vae, filt, algo.actor)
                with torch.random.fork_rng():
                    ag = BeliefAgent(b2, "cpu")
                    instrument(ag)
                    st = rollouts(ag, lin, args.trials)
                print_rollouts(f"step {step}", st)
                row["rollouts"] = st
    return {"config": C.to_dict(cfg), "log": log}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python dev/sac_diagnose.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rollouts")
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    r.add_argument("--bundle", default=None, help="an agent.pt to diagnose instead of the shipped one (one seed)")
    c = sub.add_parser("critic")
    c.add_argument("--seed", type=int, default=3)
    c.add_argument("--steps", type=int, default=0, help="agent steps (0: the config's)")
    c.add_argument("--set", nargs="*", default=[], metavar="SECTION.FIELD=VALUE")
    c.add_argument("--rollout-every", type=int, default=2500, help="0: no rollouts")
    for q in (r, c):
        q.add_argument("--agent", default="ours")
        q.add_argument("--trials", type=int, default=10, help="trials per task")
        q.add_argument("--out", default=None, help="also write the tables as JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    res = cmd_rollouts(args) if args.cmd == "rollouts" else cmd_critic(args)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
