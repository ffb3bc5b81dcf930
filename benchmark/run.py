"""Score an agent: trials x episodes of hidden tasks, in parallel, into a results JSON.

    python -m benchmark.run --agent scripted-explorer --env RefExp/TwoDrawer-v0 \
        --episodes 3 --trials 100 --seeds 0 1 2

Protocol (docs/benchmark.md says where and why it differs from `metaworld.evaluation`):

* A *trial* draws a hidden task uniformly from `range(N)`, calls the agent's `reset()` once,
  then runs K episodes of that task. At every step the agent gets the observation, the previous
  step's reward (0.0 at an episode's first step) and whether the step starts an episode; it never
  sees the task. An episode succeeds when `info["success"]` is true at any of its steps
  (Metaworld's rule), and every episode counts, exploration included.
* Trial `i` of seed `s` is seeded by `numpy.random.SeedSequence([s, i])` alone: its task, its
  env reset seeds and the agent's per-trial seed (passed to an optional `agent.seed()`), so the
  numbers do not depend on the number of workers or on which worker ran which trial.
* Workers are `spawn`ed processes (fork hangs once a GL context exists); each builds its own env
  and agent from the agent's spec string. `--workers 1` runs in this process.
* Each finished trial is appended to `<out>/<name>.partial.jsonl`; rerunning the same command
  resumes from it, and a completed run deletes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import multiprocessing as mp
import os
import platform
import queue
import re
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import refexp_envs  # noqa: F401  (first: registers the ids and sets MUJOCO_GL before mujoco loads)
from benchmark import stats
from benchmark.agents import agent_metadata, load_agent, num_drawers
from benchmark.schema import DEFAULT_DATASET, SCHEMA_VERSION, validate_results

OBS_TYPES = ("pixels", "state")
MAX_EPISODE_STEPS = 10_000  # a guard against an env that never truncates
PACKAGES = ("refexp", "numpy", "torch", "gymnasium", "mujoco", "metaworld", "stable-baselines3", "sb3-contrib", "scipy")


@dataclass(frozen=True)
class RunConfig:
    """One scoring run; each field is the CLI flag of the same name (`--obs-type` for obs_type)."""

    agent: str = field(metadata={"help": "built-in name, reference-method name, module:Class, or an SB3 .zip"})
    env: str = field(default="RefExp/TwoDrawer-v0", metadata={"help": "a RefExp env id"})
    episodes: int = field(default=3, metadata={"help": "episodes K per trial (exploration episodes)"})
    trials: int = field(default=100, metadata={"help": "trials per seed"})
    seeds: tuple[int, ...] = field(default=(0,), metadata={"help": "run seeds (agent seed and task draws)"})
    workers: int = field(default=0, metadata={"help": "worker processes; 0 = all cores, 1 = in-process"})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda: for agents with networks"})
    dataset: str | None = field(
        default=None,
        metadata={"help": "dataset id the agent was trained on (default: the env's, for agents that use data)"},
    )
    obs_type: str = field(default="pixels", metadata={"help": "pixels (the benchmark's) or state (fast; not ranked)"})
    out: str = field(default="results", metadata={"help": "results directory"})
    plot: bool = field(default=False, metadata={"help": "also write a Figure-2 style PNG beside the JSON"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def __post_init__(self):
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.trials < 1:
            raise ValueError(f"trials must be >= 1, got {self.trials}")
        if not self.seeds:
            raise ValueError("give at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        if any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be >= 0, got {list(self.seeds)}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0 = all cores), got {self.workers}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {self.obs_type!r}")


@dataclass(frozen=True)
class TrialSpec:
    """Everything one trial needs, derived from (seed, trial index) only."""

    seed: int
    trial: int
    task: int
    reset_seeds: tuple[int, ...]
    agent_seed: int


@dataclass(frozen=True)
class TrialResult:
    seed: int
    trial: int
    task: int
    successes: tuple[int, ...]
    returns: tuple[float, ...]


def trial_spec(seed: int, trial: int, n_tasks: int, episodes: int) -> TrialSpec:
    """The task, reset seeds and agent seed of trial `trial` of run seed `seed` (uniform tasks)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(trial)]))
    task = int(rng.integers(n_tasks))
    reset_seeds = tuple(int(x) for x in rng.integers(0, 2**31 - 1, size=episodes))
    agent_seed = int(rng.integers(0, 2**31 - 1))
    return TrialSpec(seed, trial, task, reset_seeds, agent_seed)


def run_trial(env, agent, spec: TrialSpec) -> TrialResult:
    """Run one trial: seed and reset the agent once, then K episodes of `spec.task`."""
    seed_hook = getattr(agent, "seed", None)
    if callable(seed_hook):
        seed_hook(spec.agent_seed)
    if getattr(agent, "uses_task", False):
        agent.set_task(spec.task)
    agent.reset()
    successes, returns = [], []
    for reset_seed in spec.reset_seeds:
        obs, info = env.reset(seed=reset_seed, options={"task": spec.task})
        reward, start, success, ret = 0.0, True, False, 0.0
        for _ in range(MAX_EPISODE_STEPS):
            action = agent.act(obs, reward, start)
            obs, reward, terminated, truncated, info = env.step(action)
            reward = float(reward)
            success |= bool(info.get("success", False))
            ret += reward
            start = False
            if terminated or truncated:
                break
        else:
            raise RuntimeError(f"episode did not end within {MAX_EPISODE_STEPS} steps")
        successes.append(int(success))
        returns.append(ret)
    return TrialResult(spec.seed, spec.trial, spec.task, tuple(successes), tuple(returns))


class TrialRunner:
    """One env and one agent per run seed, built lazily from the agent spec (or a given agent)."""

    def __init__(self, agent: str | Any, env_id: str, obs_type: str, device: str):
        import gymnasium as gym

        self.agent_spec = agent
        self.env_id = env_id
        self.device = device
        self.env = gym.make(env_id, obs_type=obs_type, disable_env_checker=True)
        self._agents: dict[int, Any] = {}

    def agent_for(self, seed: int):
        if seed not in self._agents:
            if isinstance(self.agent_spec, str):
                self._agents[seed] = load_agent(self.agent_spec, self.env_id, seed=seed, device=self.device)
            else:
                self._agents[seed] = self.agent_spec  # an Agent instance, shared by all seeds
        return self._agents[seed]

    def add_agent(self, seed: int, agent) -> None:
        """Use an already built agent for `seed` (the harness's metadata probe)."""
        self._agents[seed] = agent

    def run(self, spec: TrialSpec) -> TrialResult:
        return run_trial(self.env, self.agent_for(spec.seed), spec)

    def close(self) -> None:
        for agent in self._agents.values():
            close = getattr(agent, "close", None)
            if callable(close) and agent is not self.agent_spec:  # a caller's instance stays open
                close()
        self.env.close()


def _worker_main(agent: str, env_id: str, obs_type: str, device: str, jobs, results, parent: int) -> None:
    """A spawned worker: run trials from `jobs` until a None arrives; report each on `results`.

    Stops early when its parent process `parent` is gone (killed without cleaning up).
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # workers already use every core between them
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    runner = None
    try:
        runner = TrialRunner(agent, env_id, obs_type, device)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
        while os.getppid() == parent and (spec := jobs.get()) is not None:
            results.put(("ok", runner.run(spec)))
    except BaseException:  # noqa: BLE001  (report anything, KeyboardInterrupt included)
        results.put(("error", traceback.format_exc()))
    finally:
        if runner is not None:
            runner.close()


# --------------------------------------------------------------------------------- checkpoint
def _checkpoint_header(agent_spec: str, meta: dict, cfg: RunConfig) -> dict:
    return {
        "kind": "header",
        "schema_version": SCHEMA_VERSION,
        "agent_spec": agent_spec,
        "agent": meta["name"],
        "agent_version": meta["version"],
        "env_id": cfg.env,
        "episodes": cfg.episodes,
        "obs_type": cfg.obs_type,
    }


def _load_checkpoint(path: Path, header: dict) -> dict[tuple[int, int], TrialResult]:
    """Finished trials of an interrupted run with the same header; a torn last line is dropped."""
    if not path.exists():
        return {}
    lines = path.read_text().splitlines()
    if not lines:
        return {}
    try:
        found = json.loads(lines[0])
    except json.JSONDecodeError:
        found = None
    if found != header:
        raise ValueError(
            f"checkpoint {path} belongs to another run ({found}); delete it, or choose another --out"
        )
    done: dict[tuple[int, int], TrialResult] = {}
    for line in lines[1:]:
        try:
            rec = json.loads(line)
            res = TrialResult(rec["seed"], rec["trial"], rec["task"], tuple(rec["successes"]), tuple(rec["returns"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line torn by the interruption
        done[(res.seed, res.trial)] = res
    return done


class _Checkpoint:
    """Appends finished trials to a JSONL file (header first), flushed line by line.

    Opening rewrites the file (atomically) with the header and the trials kept from an interrupted
    run, so a line torn by the interruption is dropped rather than appended to.
    """

    def __init__(self, path: Path | None, header: dict, kept: Sequence[TrialResult] = ()):
        self.path = path
        self._fh = None
        if path is not None:
            lines = [json.dumps(header)] + [json.dumps(dataclasses.asdict(r)) for r in kept]
            _write_text_atomic(path, "\n".join(lines) + "\n")
            self._fh = open(path, "a")

    def add(self, res: TrialResult) -> None:
        if self._fh is not None:
            self._fh.write(json.dumps(dataclasses.asdict(res)) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# --------------------------------------------------------------------------------- evaluation
def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def resolve_workers(workers: int, jobs: int) -> int:
    if workers == 0:
        try:
            workers = len(os.sched_getaffinity(0))
        except AttributeError:
            workers = os.cpu_count() or 1
    return max(1, min(workers, jobs))


def _package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    if out["refexp"] == "not installed":  # a source checkout that was not pip-installed
        out["refexp"] = f"{refexp_envs.__version__} (source)"
    return out


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count() or 1}


def _progress_bar(enabled: bool):
    """A rich progress bar of trials (a no-op when disabled)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), disable=not enabled,
    )


def _run_parallel(agent_spec: str, cfg: RunConfig, device: str, todo: list[TrialSpec], workers: int, on_result) -> None:
    ctx = mp.get_context("spawn")
    jobs, results = ctx.Queue(), ctx.Queue()
    for spec in todo:
        jobs.put(spec)
    for _ in range(workers):
        jobs.put(None)
    procs = [
        ctx.Process(target=_worker_main, args=(agent_spec, cfg.env, cfg.obs_type, device, jobs, results, os.getpid()), daemon=True)
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        remaining = len(todo)
        while remaining:
            try:
                kind, payload = results.get(timeout=1.0)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    raise RuntimeError("every worker exited before the run finished (crashed?)") from None
                continue
            if kind == "error":
                raise RuntimeError(f"a worker failed:\n{payload}")
            on_result(payload)
            remaining -= 1
        for p in procs:
            p.join(timeout=10)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
        jobs.cancel_join_thread()
        results.cancel_join_thread()


def evaluate(
    agent: str | Any,
    env_id: str = "RefExp/TwoDrawer-v0",
    episodes: int = 3,
    trials: int = 100,
    seeds: Sequence[int] = (0,),
    workers: int = 0,
    device: str = "cpu",
    progress: bool = True,
    checkpoint_path: str | Path | None = None,
    obs_type: str = "pixels",
    dataset_id: str | None = None,
) -> dict:
    """Score `agent` and return the results dict (the results JSON's contents, schema-valid).

    `agent` is a spec string for `load_agent`, or an Agent instance (then the run is in-process,
    whatever `workers` says: an instance cannot be shipped to spawned workers). `dataset_id`
    defaults to the env's training set for agents that use offline data and to None for those that
    do not. With `checkpoint_path`, finished trials are appended there and a rerun resumes from them.
    Workers are spawned, so a script calling this with workers != 1 needs the usual
    `if __name__ == "__main__":` guard.
    """
    cfg = RunConfig(
        agent=agent if isinstance(agent, str) else type(agent).__name__, env=env_id, episodes=episodes,
        trials=trials, seeds=tuple(int(s) for s in seeds), workers=workers, device=device,
        dataset=dataset_id, obs_type=obs_type, progress=progress,
    )
    n = num_drawers(env_id)
    dev = resolve_device(device)
    t0 = time.perf_counter()

    # The agent of the first seed, built here for its metadata (and reused in-process).
    if isinstance(agent, str):
        probe = load_agent(agent, env_id, seed=cfg.seeds[0], device=dev)
        agent_spec = agent
    else:
        probe, agent_spec = agent, f"<instance of {type(agent).__module__}.{type(agent).__qualname__}>"
    meta = agent_metadata(probe, agent_spec)
    if isinstance(agent, str) and len(cfg.seeds) > 1:
        # a spec may load a different checkpoint per seed (the reference agents ship one per
        # training seed): the version names every one of them, in seed order
        versions = [meta["version"]] + [
            agent_metadata(load_agent(agent, env_id, seed=s, device=dev), agent_spec)["version"] for s in cfg.seeds[1:]
        ]
        if len(set(versions)) > 1:
            meta["version"] = "/".join(versions)
    if cfg.dataset is not None:
        dataset = cfg.dataset
    else:
        dataset = DEFAULT_DATASET.get(env_id) if meta["uses_dataset"] else None

    header = _checkpoint_header(agent_spec, meta, cfg)
    ckpt_path = Path(checkpoint_path) if checkpoint_path is not None else None
    done = _load_checkpoint(ckpt_path, header) if ckpt_path is not None else {}
    specs = [trial_spec(s, i, n, episodes) for s in cfg.seeds for i in range(trials)]
    for sp in specs:  # a resumed trial must be the one this run would have drawn
        prev = done.get((sp.seed, sp.trial))
        if prev is not None and (prev.task != sp.task or len(prev.successes) != episodes):
            raise ValueError(f"checkpoint {ckpt_path} disagrees with trial {sp.trial} of seed {sp.seed}; delete it")
    todo = [sp for sp in specs if (sp.seed, sp.trial) not in done]
    n_workers = 1 if not isinstance(agent, str) else resolve_workers(cfg.workers, len(todo))

    ckpt = _Checkpoint(ckpt_path, header, kept=list(done.values()))
    prog = _progress_bar(progress)
    try:
        with prog:
            task_id = prog.add_task(f"{meta['name']} on {env_id}", total=len(specs), completed=len(specs) - len(todo))

            def on_result(res: TrialResult) -> None:
                done[(res.seed, res.trial)] = res
                ckpt.add(res)
                prog.advance(task_id)

            if n_workers == 1:
                runner = TrialRunner(agent, env_id, obs_type, dev)
                runner.add_agent(cfg.seeds[0], probe)
                try:
                    for sp in todo:
                        on_result(runner.run(sp))
                finally:
                    runner.close()
            elif todo:
                _run_parallel(agent_spec, cfg, dev, todo, n_workers, on_result)
    finally:
        ckpt.close()
    wall = time.perf_counter() - t0

    raw = [[list(done[(s, i)].successes) for i in range(trials)] for s in cfg.seeds]
    tasks = [[done[(s, i)].task for i in range(trials)] for s in cfg.seeds]
    rets = [[list(done[(s, i)].returns) for i in range(trials)] for s in cfg.seeds]
    results = make_results(
        meta=meta, agent_spec=agent_spec, env_id=env_id, obs_type=obs_type, dataset_id=dataset,
        seeds=cfg.seeds, raw_successes=raw, raw_tasks=tasks, raw_returns=rets, wall_time_s=wall,
        workers=n_workers,
    )
    return results


def make_results(
    *, meta: dict, agent_spec: str, env_id: str, obs_type: str, dataset_id: str | None, seeds: Sequence[int],
    raw_successes, raw_tasks, raw_returns, wall_time_s: float, workers: int,
    date: str | None = None, horizon: int = refexp_envs.HORIZON,
) -> dict:
    """Assemble (and validate) a results dict from raw per-trial data (contract section 4)."""
    n = num_drawers(env_id)
    arr = np.asarray(raw_successes)
    summary = stats.summarise(arr, n)
    results = {
        "schema_version": SCHEMA_VERSION,
        "agent": meta["name"],
        "agent_version": meta["version"],
        "agent_spec": agent_spec,
        "eligible": bool(meta["eligible"]),
        "env_id": env_id,
        "num_drawers": n,
        "obs_type": obs_type,
        "dataset_id": dataset_id,
        "episodes": int(arr.shape[2]),
        "trials": int(arr.shape[1]),
        "seeds": [int(s) for s in seeds],
        "success_rate": summary.success_rate,
        "ci_low": summary.ci_low,
        "ci_high": summary.ci_high,
        "ci_method": summary.ci_method,
        "confidence": stats.CONFIDENCE,
        "bayes_optimal": summary.bayes_optimal,
        "normalised_score": summary.normalised_score,
        "normalised_score_ci": list(summary.normalised_score_ci),
        "raw_successes": [[[int(v) for v in tr] for tr in ps] for ps in raw_successes],
        "raw_tasks": [[int(v) for v in ps] for ps in raw_tasks],
        "raw_returns": [[[float(v) for v in tr] for tr in ps] for ps in raw_returns],
        "wall_time_s": round(float(wall_time_s), 3),
        "workers": int(workers),
        "packages": _package_versions(),
        "machine": _machine(),
        "date": date or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "protocol": {
            "horizon": int(horizon),
            "task_distribution": "uniform over range(num_drawers), drawn by the harness, hidden from the agent",
            "success": "info['success'] true at any step of the episode",
            "memory": "agent.reset() once per trial; memory kept across its episodes",
            "reward_to_agent": "previous step's reward; 0.0 at an episode's first step",
            "seeding": "numpy SeedSequence([seed, trial]) -> task, env reset seeds, agent.seed()",
        },
    }
    validate_results(results)
    return results


# --------------------------------------------------------------------------------- files, CLI
def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-").lower()


def output_stem(cfg: RunConfig) -> str:
    """File name stem of a run's results: agent spec, env, K, trials, seeds (and obs type if not pixels)."""
    agent = Path(cfg.agent).stem if cfg.agent.endswith(".zip") else cfg.agent
    seeds = "-".join(str(s) for s in cfg.seeds)
    obs = "" if cfg.obs_type == "pixels" else f"_{cfg.obs_type}"
    return f"{slug(agent)}_{slug(cfg.env.split('/')[-1])}_K{cfg.episodes}_n{cfg.trials}_s{seeds}{obs}"


def _write_text_atomic(path: Path, text: str) -> None:
    """Write `text` next to `path`, then rename over it: a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write a results dict as JSON, atomically."""
    _write_text_atomic(Path(path), json.dumps(data, indent=1) + "\n")


def results_table(results: dict):
    """A rich table: per-episode success with its 95% CI beside the Bayes-optimal curve."""
    from rich.table import Table

    table = Table(
        title=f"{results['agent']} on {results['env_id']} ({results['obs_type']}): "
        f"{len(results['seeds'])} seed(s) x {results['trials']} trials",
        caption=f"normalised score {results['normalised_score']:.3f} "
        f"[{results['normalised_score_ci'][0]:.3f}, {results['normalised_score_ci'][1]:.3f}]"
        f" (area under the success curve / Bayes-optimal area)",
    )
    for col in ("episode", "success rate", "95% CI (Wilson)", "Bayes-optimal min(1, k/N)"):
        table.add_column(col, justify="right")
    for k, (r, lo, hi, b) in enumerate(
        zip(results["success_rate"], results["ci_low"], results["ci_high"], results["bayes_optimal"]), 1
    ):
        table.add_row(str(k), f"{r:.3f}", f"[{lo:.3f}, {hi:.3f}]", f"{b:.3f}")
    return table


def breakdown_table(results: dict):
    """A rich table of success per episode for each (run seed, hidden task) cell."""
    from rich.table import Table

    table = Table(title="per seed and task (distinct = different success patterns among its trials)")
    for col in ("seed", "task", "trials", "success per episode", "distinct"):
        table.add_column(col, justify="right")
    for row in stats.by_seed_and_task(results["raw_successes"], results["raw_tasks"], results["seeds"]):
        table.add_row(str(row["seed"]), str(row["task"]), str(row["trials"]),
                      " / ".join(f"{r:.2f}" for r in row["success_rate"]), str(row["distinct_outcomes"]))
    return table


def build_parser() -> argparse.ArgumentParser:
    """CLI flags generated from `RunConfig`'s fields, one per field."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.run", description="Score an agent on a RefExp env (see docs/benchmark.md)."
    )
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        help_ = f.metadata.get("help", "")
        if f.name == "agent":
            parser.add_argument(flag, required=True, help=help_)
        elif f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=help_)
        elif f.name == "seeds":
            parser.add_argument(flag, type=int, nargs="+", default=list(f.default), help=help_)
        elif f.name == "device":
            parser.add_argument(flag, choices=("auto", "cpu", "cuda"), default=f.default, help=help_)
        elif f.name == "obs_type":
            parser.add_argument(flag, choices=OBS_TYPES, default=f.default, help=help_)
        elif f.type in ("int", int):
            parser.add_argument(flag, type=int, default=f.default, help=help_)
        else:
            parser.add_argument(flag, default=f.default, help=help_)
    return parser


def config_from_args(argv: Sequence[str] | None = None) -> RunConfig:
    args = vars(build_parser().parse_args(argv))
    args["seeds"] = tuple(args["seeds"])
    return RunConfig(**args)


def main(argv: Sequence[str] | None = None) -> int:
    from rich.console import Console

    console = Console()

    def _terminate(signum, frame):  # a kill cleans up like Ctrl-C: workers stopped, trials kept
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        cfg = config_from_args(argv)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    out_dir = Path(cfg.out)
    stem = output_stem(cfg)
    json_path = out_dir / f"{stem}.json"
    partial = out_dir / f"{stem}.partial.jsonl"
    try:
        results = evaluate(
            cfg.agent, cfg.env, episodes=cfg.episodes, trials=cfg.trials, seeds=cfg.seeds,
            workers=cfg.workers, device=cfg.device, progress=cfg.progress, checkpoint_path=partial,
            obs_type=cfg.obs_type, dataset_id=cfg.dataset,
        )
    except KeyboardInterrupt:
        console.print(f"\n[yellow]interrupted[/yellow]: finished trials are kept in {partial}; "
                      "rerun the same command to resume")
        return 130
    except (ValueError, ImportError, FileNotFoundError, RuntimeError, TypeError, AttributeError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    write_json_atomic(json_path, results)
    partial.unlink(missing_ok=True)
    console.print(results_table(results))
    console.print(breakdown_table(results))
    console.print(f"wall time {results['wall_time_s']:.1f} s with {results['workers']} worker(s); results: {json_path}")
    if not results["eligible"]:
        console.print("[yellow]this agent sees the hidden task: not eligible for the leaderboard[/yellow]")
    if cfg.plot:
        from benchmark.plot import plot_results

        png = json_path.with_suffix(".png")
        plot_results([results], png)
        console.print(f"plot: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
