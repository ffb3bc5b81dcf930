"""Training command line: stages frames -> belief -> agent, each checkpointed, resumable and shared.

    python -m refexp_baselines.train --agent ours --env RefExp/TwoDrawer-v1 [--seed 0] [--device auto]
    python -m refexp_baselines.train --agent no-cql ...      # reuses ours' frames + belief stages
    python -m refexp_baselines.train --agent ours --dataset local:500 --ship

Run directory: runs/<env>/<dataset>/seed<k>/{frames-<h>, belief-<h>, agent-<name>-<h>}/ where <h> is
the content hash of the stage's config and everything upstream (configs.stage_keys). Each stage
writes `state.pt` periodically (atomic), `log.csv`, `timing.json`, and `done.json` when finished;
a rerun skips finished stages and resumes unfinished ones from their last checkpoint.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import refexp_envs  # light (ids only); registers the envs and sets MUJOCO_GL before mujoco
from refexp_baselines import configs as C
from refexp_envs.helpformat import RawDescriptionDefaultsHelpFormatter


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m refexp_baselines.train", description=__doc__, formatter_class=RawDescriptionDefaultsHelpFormatter,
                                epilog="Exit status: 0 done, 2 usage error or bad input.")
    p.add_argument("--agent", default="ours", help=f"one of {list(C.AGENT_NAMES)}")
    p.add_argument("--env", default=C.RunConfig.env_id, help="env id to train for")
    p.add_argument("--dataset", default=None, help="Minari id (if omitted: the env's expert dataset) or local:<eps per task>")
    p.add_argument("--seed", type=int, default=0, help="training seed (one run; the harness's --seeds)")
    p.add_argument("--device", default="auto", help="auto (per stage: cuda only where measured faster on this GPU "
                   "model, refexp_baselines/device_rule.json; else cpu), cpu, cuda, cuda:1 ...")
    p.add_argument("--runs-dir", default="runs", help="root of the run directories")
    p.add_argument("--set", nargs="*", default=[], metavar="SECTION.FIELD=VALUE", help="config overrides")
    p.add_argument("--eval-every", type=int, default=None, help="agent steps between periodic evaluations (if omitted: the config's)")
    p.add_argument("--eval-trials", type=int, default=None,
                   help="trials of each task per periodic evaluation (0: none; if omitted: the config's)")
    p.add_argument("--final-trials-per-task", type=int, default=0,
                   help="trials of each task in a final evaluation on the development secret (0: none; "
                        "reported numbers come from `python -m benchmark.run` on the public secret)")
    p.add_argument("--ship", action="store_true", help="write the inference bundle to refexp_baselines/checkpoints/")
    p.add_argument("--ship-precision", choices=("fp16", "fp32"), default="fp16",
                   help="weights of the shipped bundle (fp16: half the size; fp32 where rounding flips a decision)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these small nets on a shared CPU)")
    p.add_argument("--workers", type=int, default=2, help="processes for local data collection")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def parse_cli(argv=None) -> argparse.Namespace:
    """Parsed flags; usage errors (unknown agent or env, bad counts) exit 2 before torch is imported."""
    p = build_parser()
    args = p.parse_args(argv)
    if args.agent not in C.AGENT_NAMES:
        p.error(f"unknown agent {args.agent!r}; expected one of {list(C.AGENT_NAMES)}")
    if args.env not in refexp_envs.ENV_IDS:
        p.error(f"unknown env {args.env!r}; expected one of {list(refexp_envs.ENV_IDS)}")
    for name in ("eval_every", "eval_trials", "final_trials_per_task"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            p.error(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if args.threads < 1 or args.workers < 1:
        p.error("--threads and --workers must be >= 1")
    return args


if __name__ == "__main__":  # refuse a usage error in well under a second, before the imports below
    parse_cli()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmark.protocol import DEV_EVAL_SEED  # noqa: E402
from refexp_baselines.agent import BeliefAgent, agent_features, env_slug, make_bundle, shipped_path  # noqa: E402
from refexp_baselines.belief import BeliefFilter, to_tensors  # noqa: E402
from refexp_baselines.cql import CQL  # noqa: E402
from refexp_baselines.frames import FrameVAE  # noqa: E402
from refexp_baselines.meta_trajectories import MetaTrajectorySampler, gather_batch  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# `--device auto` picks each stage's device by this measured rule: CUDA for a stage only where a
# measurement on this GPU model (tools/gpu_check.py, recorded in DEVICE_RULE_FILE with its machine,
# date and command) found CUDA at least AUTO_MARGIN times the CPU's steps/s; the CPU otherwise, and
# wherever no measurement exists. (On one H200 with 16 cores the belief and agent stages ran slower on
# CUDA than on 2 CPU cores: launch-bound small networks; issue 26.)
DEVICE_RULE_FILE = Path(__file__).with_name("device_rule.json")
AUTO_MARGIN = 1.1


def measured_cuda_stages(gpu_name: str, rule_file: Path = DEVICE_RULE_FILE) -> set[str]:
    """The stages that a recorded measurement on `gpu_name` found faster on CUDA (see AUTO_MARGIN)."""
    try:
        entries = json.loads(rule_file.read_text()).get("measurements", [])
    except (OSError, ValueError):
        return set()
    fast = set()
    for e in entries:
        if e.get("gpu") != gpu_name:
            continue
        for stage, m in e.get("stages", {}).items():
            if m.get("cuda_steps_s") and m.get("cpu_steps_s") and m["cuda_steps_s"] >= AUTO_MARGIN * m["cpu_steps_s"]:
                fast.add(stage)
    return fast


def stage_devices(device: str | torch.device) -> dict[str, torch.device]:
    """The device of each stage: `device` for all, or for "auto" the measured rule above."""
    if str(device) != "auto":
        return {s: torch.device(device) for s in STAGES}
    if not torch.cuda.is_available():
        return {s: torch.device("cpu") for s in STAGES}
    fast = measured_cuda_stages(torch.cuda.get_device_name())
    return {s: torch.device("cuda" if s in fast else "cpu") for s in STAGES}


def resolve_device(device: str) -> torch.device:
    """One device for work that is not a training stage (evaluation): "auto" is the agent stage's."""
    return stage_devices(device)["agent"]


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_json(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


class CsvLog:
    """A CSV log that never drops a value: a row with keys the header lacks rewrites the file
    (atomically) with the widened header, earlier rows left blank in the new columns. Appends
    otherwise, so a resumed stage continues the same file."""

    def __init__(self, path: Path):
        self.path = path

    def write(self, row: dict) -> None:
        fields: list[str] = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                fields = next(csv.reader(f), [])
        new = [k for k in row if k not in fields]
        if fields and new:  # widen: rewrite every earlier row under the new header
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=fields + new)
                w.writeheader()
                w.writerows(rows)
            os.replace(tmp, self.path)
            fields += new
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields or list(row))
            if not fields:
                w.writeheader()
            w.writerow(row)


def _progress(total: int, desc: str, enabled: bool):
    """A rich progress bar (or a no-op). Returns (progress, task)."""
    if not enabled:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    p = Progress(TextColumn(desc), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                 TextColumn("{task.fields[info]}"), refresh_per_second=2)
    p.start()
    return p, p.add_task(desc, total=total, info="")


def check_stage_config(stage_dir: Path, stage_cfg: dict) -> None:
    """A stage directory holds one config; anything else there is an error, not a silent resume."""
    p = stage_dir / "config.json"
    if p.exists():
        have = json.loads(p.read_text())
        if have != json.loads(json.dumps(stage_cfg, default=str)):
            raise ValueError(f"checkpoint in {stage_dir} was written by another config:\n  have {have}\n  want {stage_cfg}")
    else:
        stage_dir.mkdir(parents=True, exist_ok=True)
        write_json(stage_cfg, p)


# ----------------------------------------------------------------------------------------------------
# Data: rows of small per-episode arrays; pixels stay in the buffers


class RowIndex:
    """TaskBuffers-like index over rows 0..E-1 (what the samplers need: num_tasks, episode_ids)."""

    def __init__(self, tasks: np.ndarray, num_tasks: int):
        self.num_tasks = num_tasks
        self._ids = [np.flatnonzero(tasks == t) for t in range(num_tasks)]

    def episode_ids(self, t):
        return self._ids[t]


def episode_list(buffers) -> np.ndarray:
    return np.concatenate([np.asarray(buffers.episode_ids(t)) for t in range(buffers.num_tasks)])


# ----------------------------------------------------------------------------------------------------
# Stage 1: frames


def train_frames(cfg: C.RunConfig, buffers, stage_dir: Path, device, progress=True, seed=0) -> dict:
    """Train the frame VAE on i.i.d. frames, then encode every frame once. Returns the code arrays."""
    fc = cfg.frames
    codes_path = stage_dir / "codes.npz"
    torch.manual_seed(seed)  # before the init: the weights must not depend on what this process ran before
    vae = FrameVAE(fc.latent, fc.channels).to(device)
    if codes_path.exists():
        vae.load_state_dict(torch.load(stage_dir / "model.pt", map_location=device))
        return {"vae": vae, **dict(np.load(codes_path))}
    rng = np.random.default_rng(seed)
    ids = episode_list(buffers)
    opt = torch.optim.Adam(vae.parameters(), fc.lr)
    state_path, step = stage_dir / "state.pt", 0
    timing = {"train_s": 0.0}
    if state_path.exists():
        st = torch.load(state_path, map_location=device, weights_only=False)
        vae.load_state_dict(st["model"]), opt.load_state_dict(st["opt"])
        step, timing = st["step"], st["timing"]
        rng.bit_generator.state = st["rng"]
        log(f"frames: resumed at step {step}")
    csvlog = CsvLog(stage_dir / "log.csv")
    bar, task = _progress(fc.steps, "frames VAE", progress)
    per_ep = 8  # frames per sampled episode (8 episodes x 8 frames for batch 64)
    t0 = time.time()
    while step < fc.steps:
        eps = rng.choice(ids, size=max(1, fc.batch // per_ep))
        frames = []
        for e in eps:
            px = buffers.load_episode(int(e)).pixels
            frames.append(px[rng.integers(len(px), size=per_ep)])
        x = torch.as_tensor(np.concatenate(frames)[: fc.batch], device=device)
        loss, info = vae.loss(x, fc.kl_weight, fc.augment)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if bar:
            bar.update(task, completed=step, info=f"mse {info['mse']:.4f} kl {info['kl']:.1f}")
        if step % 100 == 0 or step == fc.steps:
            timing["train_s"] += time.time() - t0
            t0 = time.time()
            csvlog.write({"step": step, "wall_s": round(timing["train_s"], 1), **info})
            atomic_save({"model": vae.state_dict(), "opt": opt.state_dict(), "step": step, "timing": timing,
                         "rng": rng.bit_generator.state}, state_path)
            if not bar:
                log(f"frames step {step}/{fc.steps} mse {info['mse']:.4f} kl {info['kl']:.1f}")
    if bar:
        bar.stop()
    timing["train_frames_per_s"] = fc.steps * fc.batch / max(timing["train_s"], 1e-9)
    # encode every frame once (posterior mean), with the small per-episode arrays
    t1 = time.time()
    vae.eval()
    lat, pro, act, rew, tasks = [], [], [], [], []
    for e in ids:
        ep = buffers.load_episode(int(e))
        lat.append(vae.encode_pixels(ep.pixels, device).numpy())
        pro.append(ep.proprio), act.append(ep.actions), rew.append(ep.rewards), tasks.append(ep.task)
    timing["encode_s"] = time.time() - t1
    timing["encode_frames_per_s"] = sum(len(x) for x in lat) / max(timing["encode_s"], 1e-9)
    codes = {"episode_ids": ids, "latents": np.stack(lat).astype(np.float32),
             "proprio": np.stack(pro).astype(np.float32), "actions": np.stack(act).astype(np.float32),
             "rewards": np.stack(rew).astype(np.float32), "tasks": np.array(tasks), "num_tasks": buffers.num_tasks}
    torch.save(vae.state_dict(), stage_dir / "model.pt")
    np.savez(stage_dir / "codes.tmp.npz", **codes)
    os.replace(stage_dir / "codes.tmp.npz", codes_path)
    write_json(timing, stage_dir / "timing.json")
    log(f"frames: done; {timing}")
    return {"vae": vae, **codes}


# ----------------------------------------------------------------------------------------------------
# Stage 2: belief


def make_filter(cfg: C.RunConfig) -> BeliefFilter:
    b = cfg.belief
    return BeliefFilter(cfg.frames.latent, 4, 4, b.deter, b.stoch, b.hidden, b.reward_input)


def train_belief(cfg: C.RunConfig, codes: dict, stage_dir: Path, device, progress=True, seed=0) -> BeliefFilter:
    bc = cfg.belief
    torch.manual_seed(seed + 1)  # before the init, as in train_frames
    filt = make_filter(cfg).to(device)
    final = stage_dir / "model.pt"
    if final.exists():
        filt.load_state_dict(torch.load(final, map_location=device))
        return filt
    obs = np.concatenate([codes["latents"], codes["proprio"]], -1).reshape(-1, cfg.frames.latent + 4)
    filt.set_normalization(torch.as_tensor(obs.mean(0)), torch.as_tensor(obs.std(0)))
    index = RowIndex(codes["tasks"], int(codes["num_tasks"]))
    sampler = MetaTrajectorySampler(index, bc.k, bc.naive, seed + 2, choices=refexp_envs.num_choices(cfg.env_id))
    opt = torch.optim.Adam(filt.parameters(), bc.lr)
    state_path, step, timing = stage_dir / "state.pt", 0, {"train_s": 0.0}
    if state_path.exists():
        st = torch.load(state_path, map_location=device, weights_only=False)
        filt.load_state_dict(st["model"]), opt.load_state_dict(st["opt"])
        step, timing = st["step"], st["timing"]
        sampler.rng.bit_generator.state = st["rng"]
        log(f"belief: resumed at step {step}")
    csvlog = CsvLog(stage_dir / "log.csv")
    bar, task = _progress(bc.steps, "belief filter", progress)
    t0, agg = time.time(), {}
    L = bc.k * codes["actions"].shape[1]
    while step < bc.steps:
        batch = gather_batch(sampler.sample_batch(bc.batch), codes["latents"], codes["proprio"], codes["actions"],
                             codes["rewards"])
        loss, info = filt.loss(to_tensors(batch, device), bc.reward_beta, bc.free_nats, bc.kl_balance, bc.task_samples)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(filt.parameters(), bc.grad_clip)
        opt.step()
        step += 1
        for k, v in info.items():
            agg[k] = agg.get(k, 0.0) + (v if not math.isnan(v) else 0.0)
        agg["n"] = agg.get("n", 0) + 1
        if bar:
            bar.update(task, completed=step, info=f"loss {loss.item():.2f} kl {info['kl']:.2f} "
                                                  f"task ep1 {info.get('task_nll_ep1', 0):.3f} "
                                                  f"ep2+ {info.get('task_nll_ep2+', 0):.3f}")
        if step % 50 == 0 or step == bc.steps:
            timing["train_s"] += time.time() - t0
            t0 = time.time()
            n = agg.pop("n")
            row = {"step": step, "wall_s": round(timing["train_s"], 1), **{k: v / n for k, v in agg.items()}}
            agg = {}
            csvlog.write(row)
            atomic_save({"model": filt.state_dict(), "opt": opt.state_dict(), "step": step, "timing": timing,
                         "rng": sampler.rng.bit_generator.state}, state_path)
            if not bar:
                log("belief " + " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    if bar:
        bar.stop()
    timing["frames_per_s"] = bc.steps * bc.batch * L / max(timing["train_s"], 1e-9)
    timing["steps_per_s"] = bc.steps / max(timing["train_s"], 1e-9)
    torch.save(filt.state_dict(), final)
    write_json(timing, stage_dir / "timing.json")
    log(f"belief: done; {timing}")
    return filt


# ----------------------------------------------------------------------------------------------------
# Stage 3: agent


@torch.no_grad()
def belief_pool(cfg: C.RunConfig, filt: BeliefFilter, codes: dict, n: int, seed: int, device, chunk=500) -> dict:
    """Beliefs of the frozen filter (posterior means, as at test time) over n fresh meta-trajectories."""
    index = RowIndex(codes["tasks"], int(codes["num_tasks"]))
    sampler = MetaTrajectorySampler(index, cfg.belief.k, cfg.belief.naive, seed, choices=refexp_envs.num_choices(cfg.env_id))
    T, K, N = codes["actions"].shape[1], cfg.belief.k, int(codes["num_tasks"])
    feats, acts, rews, targets = [], [], [], []
    filt.eval()
    for i in range(0, n, chunk):
        batch = gather_batch(sampler.sample_batch(min(chunk, n - i)), codes["latents"], codes["proprio"],
                             codes["actions"], codes["rewards"])
        tb = to_tensors(batch, device)
        h, _, _, post = filt.rollout(tb, sample=False)
        B, L = h.shape[:2]
        step = torch.arange(L, device=device).remainder(T).expand(B, L)
        pn = (tb["proprio"] - filt.obs_mean[-4:]) / filt.obs_std[-4:]
        onehot = None
        if cfg.agent.oracle:
            onehot = torch.nn.functional.one_hot(torch.as_tensor(batch["target"], device=device), N).float()
            onehot = onehot[:, None].expand(B, L, N)
        f = agent_features(filt.belief(h, post), pn, step, tb["episode_index"], T, K, onehot)
        feats.append(f.cpu()), acts.append(tb["action"].cpu()), rews.append(tb["reward"].cpu())
        targets.append(torch.as_tensor(batch["target"]))
    return {"feat": torch.cat(feats), "action": torch.cat(acts), "reward": torch.cat(rews), "target": torch.cat(targets)}


def train_agent(cfg: C.RunConfig, vae, filt, codes: dict, stage_dir: Path, device, progress=True, seed=0,
                evaluate_every=None, eval_fn=None) -> tuple[dict, dict]:
    ac = cfg.agent
    N, T = int(codes["num_tasks"]), int(codes["actions"].shape[1])
    t_pool = time.time()
    pool = belief_pool(cfg, filt, codes, ac.pool_trajectories, seed + 3, device)
    pool_s = time.time() - t_pool
    P, L, D = pool["feat"].shape
    feat = pool["feat"].to(device)
    action, reward = pool["action"].to(device), pool["reward"].to(device)
    # n-step returns along each meta-trajectory (truncated at its end, which is terminal)
    n = max(1, ac.n_step)
    ret = torch.zeros_like(reward)
    for k in range(n):
        ret[:, : L - k] += (ac.gamma ** k) * reward[:, k:]
    ar = torch.arange(L, device=device)
    next_idx = (ar + n).clamp(max=L - 1)
    done_at = (ar + n >= L).float()
    torch.manual_seed(seed + 4)
    algo = CQL(D, 4, ac).to(device)
    algo.make_optimizers()
    state_path, step, timing = stage_dir / "state.pt", 0, {"train_s": 0.0, "pool_s": pool_s, "eval_s": 0.0}
    evals = []
    gen = torch.Generator(device="cpu").manual_seed(seed + 5)
    if state_path.exists():
        st = torch.load(state_path, map_location=device, weights_only=False)
        algo.load_state_dict(st["model"]), algo.load_optim_state(st["optim"])
        step, timing, evals = st["step"], {**st["timing"], "pool_s": pool_s}, st["evals"]
        gen.set_state(st["gen"])
        log(f"agent: resumed at step {step}")
    csvlog = CsvLog(stage_dir / "log.csv")
    bar, task = _progress(ac.steps, f"agent {cfg.agent_name}", progress)
    t0, agg = time.time(), {}
    evaluate_every = evaluate_every or cfg.eval_every

    def bundle(half=False):
        meta = {"train_steps": step, "timing": timing}
        return make_bundle(cfg, N, T, vae, filt, algo.actor, meta, half)

    while step < ac.steps:
        m = torch.randint(P, (ac.batch,), generator=gen).to(device)
        t = torch.randint(L, (ac.batch,), generator=gen).to(device)
        info = algo.update(feat[m, t], action[m, t], ret[m, t], feat[m, next_idx[t]], done_at[t],
                           bc=step < ac.bc_steps, discount=ac.gamma ** n, a_next_data=action[m, next_idx[t]])
        step += 1
        for k, v in info.items():
            agg[k] = agg.get(k, 0.0) + v
        agg["n"] = agg.get("n", 0) + 1
        if bar and step % 10 == 0:
            bar.update(task, completed=step, info=f"q {info['q']:.2f} td {info['td']:.3f} "
                                                  f"gap {info.get('cql_gap', 0):.2f} ent {info['entropy']:.2f}")
        if step % 500 == 0 or step == ac.steps:
            timing["train_s"] += time.time() - t0
            cnt = agg.pop("n")
            row = {"step": step, "wall_s": round(timing["train_s"], 1), **{k: v / cnt for k, v in agg.items()}}
            agg = {}
            if eval_fn is not None and (step % evaluate_every == 0 or step == ac.steps):
                te = time.time()
                # building the evaluated agent draws initial weights: the training stream must not see it
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    res = eval_fn(BeliefAgent(bundle(), device))
                timing["eval_s"] += time.time() - te
                evals.append({"step": step, **res})
                row.update({f"success_ep{i + 1}": s for i, s in enumerate(res["success_rate"])})
                log(f"agent {cfg.agent_name} step {step}: eval success per episode {res['success_rate']}")
            csvlog.write(row)
            atomic_save({"model": algo.state_dict(), "optim": algo.optim_state(), "step": step, "timing": timing,
                         "evals": evals, "gen": gen.get_state()}, state_path)
            if not bar:
                log(f"agent {cfg.agent_name} " + " ".join(f"{k} {v:.4g}" for k, v in row.items()))
            t0 = time.time()
    if bar:
        bar.stop()
    timing["grad_steps_per_s"] = ac.steps / max(timing["train_s"], 1e-9)
    b = bundle()
    atomic_save(b, stage_dir / "agent.pt")
    write_json({"timing": timing, "evals": evals}, stage_dir / "timing.json")
    return b, {"timing": timing, "evals": evals}


# ----------------------------------------------------------------------------------------------------
# Evaluation: the harness's protocol, in-process (benchmark.run.evaluate; no loop of our own)


def evaluate_checkpoint(agent, cfg: C.RunConfig, trials_per_task: int, eval_seed: int, device, progress=False) -> dict:
    """The harness's results dict for `agent` (training seed `cfg.seed`'s current weights) on its env,
    on the development secret: the numbers `python -m benchmark.run --agent <its agent.pt> --seeds <seed>
    --eval-seed <eval_seed> --eval-secret refexp-dev-v1` gives. Reported numbers come from the harness
    on the public secret and eval seed 0, which nothing in training looks at."""
    from benchmark.protocol import DEV_SECRET
    from benchmark.run import evaluate

    dataset = cfg.dataset if cfg.dataset and not cfg.dataset.startswith("local:") else None
    return evaluate(agent, cfg.env_id, episodes=cfg.belief.k, trials_per_task=trials_per_task,
                    training_seeds=(cfg.seed,), eval_seed=eval_seed, secret=DEV_SECRET, workers=1, device=str(device),
                    progress=progress, dataset_id=dataset)


def eval_summary(res: dict) -> dict:
    """What training logs and checkpoint metadata keep of a harness results dict."""
    keep = ("success_rate", "ci_low", "ci_high", "exploration_score", "exploration_score_ci", "auc",
            "trials_per_task", "eval_seed", "secret_id", "training_seeds", "distinct_rollouts", "wall_time_s")
    return {k: res[k] for k in keep}


PERIODIC_EVAL_SEED = DEV_EVAL_SEED  # periodic evaluations; the final one uses DEV_EVAL_SEED + 1


# ----------------------------------------------------------------------------------------------------


STAGES = ("frames", "belief", "agent")
STAGE_OUTPUT = {"frames": "codes.npz", "belief": "model.pt", "agent": "agent.pt"}  # written last: the stage is done


def stage_dirs(cfg: C.RunConfig, runs_dir="runs") -> dict[str, Path]:
    """The directory of each stage of `cfg` (named by `configs.stage_keys`: shared where configs agree)."""
    keys = C.stage_keys(cfg)
    ds = (cfg.dataset or "default").replace("/", "_").replace(":", "")
    root = Path(runs_dir) / env_slug(cfg.env_id) / ds / f"seed{cfg.seed}"
    return {"frames": root / f"frames-{keys['frames']}", "belief": root / f"belief-{keys['belief']}",
            "agent": root / f"agent-{cfg.agent_name}-{keys['agent']}"}


def stage_done(stage: str, stage_dir: Path) -> bool:
    return (Path(stage_dir) / STAGE_OUTPUT[stage]).exists()


def run(cfg: C.RunConfig, buffers=None, runs_dir="runs", device="cpu", progress=True, final_trials_per_task=0,
        ship=False, workers=2, command: str | None = None, ship_precision: str = "fp16", until: str = "agent") -> dict:
    """Train (or resume, or skip when done) the stages of `cfg` up to and including `until`."""
    if until not in STAGES:
        raise ValueError(f"until must be one of {STAGES}, got {until!r}")
    t_start = time.time()
    devices = stage_devices(device)
    device = devices["agent"]  # the agent stage's, also evaluation's
    dirs = stage_dirs(cfg, runs_dir)
    root = dirs["frames"].parent
    d = C.canonical(dataclasses.asdict(cfg))
    base = {"env_id": cfg.env_id, "dataset": cfg.dataset, "seed": cfg.seed}
    check_stage_config(dirs["frames"], {**base, "frames": d["frames"]})
    check_stage_config(dirs["belief"], {**base, "frames": d["frames"], "belief": d["belief"]})
    check_stage_config(dirs["agent"], d)
    wall = {}
    codes_ready = (dirs["frames"] / "codes.npz").exists()
    if buffers is None and not codes_ready:
        from refexp_baselines.data import open_buffers

        t = time.time()
        buffers = open_buffers(cfg.env_id, cfg.dataset, root=os.environ.get("REFEXP_DATA_CACHE", runs_dir), workers=workers)
        wall["data_s"] = time.time() - t
    elif buffers is not None:
        from refexp_baselines.data import ENV_NUM_TASKS

        if ENV_NUM_TASKS.get(cfg.env_id, buffers.num_tasks) != buffers.num_tasks:
            raise ValueError(f"buffers have {buffers.num_tasks} tasks but {cfg.env_id} has {ENV_NUM_TASKS[cfg.env_id]}")
    where = " ".join(f"{s}:{d}" for s, d in devices.items()) if len(set(devices.values())) > 1 else str(device)
    log(f"run {cfg.agent_name} on {cfg.env_id} seed {cfg.seed} device {where} -> {root}")
    t = time.time()
    fr = train_frames(cfg, buffers, dirs["frames"], devices["frames"], progress, cfg.seed)
    wall["frames_s"] = time.time() - t
    if until == "frames":
        return {"run_dir": str(dirs["frames"]), "wall_this_invocation_s": wall}
    codes = {k: v for k, v in fr.items() if k != "vae"}
    t = time.time()
    filt = train_belief(cfg, codes, dirs["belief"], devices["belief"], progress, cfg.seed)
    wall["belief_s"] = time.time() - t
    if until == "belief":
        return {"run_dir": str(dirs["belief"]), "wall_this_invocation_s": wall}
    eval_fn = None
    if cfg.eval_trials > 0:
        def eval_fn(agent):
            res = evaluate_checkpoint(agent, cfg, cfg.eval_trials, PERIODIC_EVAL_SEED, device)
            return {**eval_summary(res), "raw_successes": res["raw_successes"], "raw_tasks": res["raw_tasks"]}
    t = time.time()
    bundle, info = train_agent(cfg, fr["vae"].to(device), filt.to(device), codes, dirs["agent"], device, progress,
                               cfg.seed, eval_fn=eval_fn)
    wall["agent_s"] = time.time() - t
    result = {"run_dir": str(dirs["agent"]), "wall_this_invocation_s": wall, "stage_timing": {}}
    for s in ("frames", "belief", "agent"):
        p = dirs[s] / "timing.json"
        if p.exists():
            result["stage_timing"][s] = json.loads(p.read_text())
    if final_trials_per_task > 0:
        final_path = dirs["agent"] / f"final_dev_eval_tpt{final_trials_per_task}.json"
        if final_path.exists():
            res = json.loads(final_path.read_text())
        else:
            res = evaluate_checkpoint(BeliefAgent(bundle, device), cfg, final_trials_per_task, DEV_EVAL_SEED + 1, device, progress)
            write_json(res, final_path)
        result["final_dev_eval"] = eval_summary(res)
        log(f"final dev eval ({final_trials_per_task} trials per task, harness protocol, development secret): success {res['success_rate']} "
            f"95% CI {list(zip(res['ci_low'], res['ci_high']))}")
    if ship:
        # seed 0 is the default file; other training seeds ship beside it for `--seeds 0 1 2` scoring
        path = shipped_path(cfg.agent_name, cfg.env_id, cfg.seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        from refexp_baselines.data import ENV_DATASETS

        meta = {"dataset": cfg.dataset or ENV_DATASETS[cfg.env_id], "seed": cfg.seed, "command": command, "precision": ship_precision,
                "stage_timing": result["stage_timing"], "final_dev_eval": result.get("final_dev_eval"),
                "eligible": C.ELIGIBLE[cfg.agent_name], "torch": torch.__version__}
        small = make_bundle(cfg, int(codes["num_tasks"]), int(codes["actions"].shape[1]), fr["vae"], filt,
                            BeliefAgent(bundle, "cpu").actor, meta, half=ship_precision == "fp16")
        atomic_save(small, path)
        write_json({"config": dataclasses.asdict(cfg), **meta}, path.with_suffix(".json"))
        log(f"shipped {path} ({path.stat().st_size / 1e6:.2f} MB)")
        result["shipped"] = str(path)
    result["total_wall_s"] = time.time() - t_start
    write_json(result, dirs["agent"] / "result.json")
    return result


def parse_overrides(cfg: C.RunConfig, items: list[str]) -> C.RunConfig:
    """--set belief.steps=500 agent.cql_alpha=2.0 ..."""
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects section.field=value, got {item!r}")
        key, val = item.split("=", 1)
        parts = key.split(".")
        if len(parts) == 1:
            sect, field = None, parts[0]
            target = cfg
        elif len(parts) == 2 and parts[0] in ("frames", "belief", "agent"):
            sect, field = parts
            target = getattr(cfg, sect)
        else:
            raise ValueError(f"unknown config key {key!r}")
        fields = {f.name: f for f in dataclasses.fields(target)}
        if field not in fields:
            raise ValueError(f"unknown config key {key!r}; fields: {sorted(fields)}")
        cur = getattr(target, field)
        typ = type(cur) if cur is not None else str
        if typ is bool:
            v = val.lower() in ("1", "true", "yes")
        else:
            v = typ(val)
        new = dataclasses.replace(target, **{field: v})
        cfg = new if sect is None else dataclasses.replace(cfg, **{sect: new})
    return cfg


def main(argv=None) -> int:
    args = parse_cli(argv)
    import refexp_baselines.data as data

    if args.env not in data.ENV_NUM_TASKS:
        build_parser().error(f"no training data for env {args.env!r}; expected one of {sorted(data.ENV_NUM_TASKS)}")
    torch.set_num_threads(args.threads)
    cfg = C.variant(args.agent, env_id=args.env, dataset=args.dataset, seed=args.seed)
    if args.eval_every:
        cfg = dataclasses.replace(cfg, eval_every=args.eval_every)
    if args.eval_trials is not None:
        cfg = dataclasses.replace(cfg, eval_trials=args.eval_trials)
    try:
        cfg = parse_overrides(cfg, args.set)
        res = run(cfg, runs_dir=args.runs_dir, device=args.device, progress=not args.no_progress,
                  final_trials_per_task=args.final_trials_per_task, ship=args.ship, ship_precision=args.ship_precision, workers=args.workers,
                  command="python -m refexp_baselines.train " + " ".join(sys.argv[1:] if argv is None else argv))
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in res.items()}, indent=2, default=str))
    print(f"score this agent with the harness:\n  python -m benchmark.run --agent {res['run_dir']}/agent.pt "
          f"--env {cfg.env_id} --seeds {cfg.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
