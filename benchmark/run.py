"""Score an agent: task-balanced trials per training seed, in parallel, into a results JSON.

    python -m benchmark.run --agent scripted-explorer --episodes 3 --trials-per-task 50 --seeds 0 1 2

The protocol (docs/benchmark.md, `benchmark/protocol.py`): each training seed picks one checkpoint
and scores every task `--trials-per-task` times, in an order keyed by the evaluation secret
(`--eval-secret` or `$REFEXP_EVAL_SECRET`; a public default otherwise); everything the agent and
the env draw comes from `--eval-seed`. A private secret is read from `--eval-secret-file PATH` (or `-`,
stdin), never from the command line. A trial resets the agent once and runs K episodes of its
hidden task. Statistics are over training seeds (`benchmark/stats.py`).

Trials run in spawned workers, `--batch` trials at once per worker for agents that offer
`act_batch`. An agent given as `module:Class` or a file runs in its own process, in a bubblewrap
sandbox (`--isolation`, `benchmark/sandbox.py`): it gets observations, rewards and its seed, never the
env, the task or the secret. Each finished trial is appended to `<out>/<stem>.partial.jsonl`; rerunning the same
command resumes from it (and says how many trials were done), and a finished run is not recomputed
unless `--force` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmark.protocol import (
    DEFAULT_ENV_ID,
    FAILED_PREFIX,
    NAMED_SECRETS,
    PUBLIC_SECRET,
    SECRET_ENV_VAR,
    check_count,
    read_secret_file,
    resolve_secret,
    secret_id,
    trial_specs,
)
from benchmark.sandbox import ISOLATION_HELP, ISOLATIONS
import refexp_envs
from refexp_envs.backend import BACKENDS, Backend, BackendError
from refexp_envs.helpformat import DefaultsHelpFormatter

OBS_TYPES = ("pixels", "state")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class RunConfig:
    """One scoring run; each field is the CLI flag of the same name (`--obs-type` for obs_type)."""

    agent: str = field(metadata={"help": "built-in name, reference-method name, module:Class, a train.py "
                                         "bundle PATH.pt, or an SB3 PATH.zip"})
    env: str | None = field(default=None, metadata={
        "help": f"a RefExp env id (if omitted: the env the agent was trained on; {DEFAULT_ENV_ID} for agents that do not say)"})
    episodes: int | None = field(default=None, metadata={"help": "episodes K per trial (if omitted: the env's K from refexp_envs.ENVS)"})
    trials_per_task: int = field(default=50, metadata={"help": "trials of each task per training seed"})
    seeds: tuple[int, ...] = field(default=(0,), metadata={"help": "training seeds: one checkpoint each; intervals are over these"})
    eval_seed: int = field(default=0, metadata={"help": "evaluation seed: env reset seeds and the agent's seeds"})
    eval_secret: str | None = field(default=None, metadata={
        "help": f"evaluation secret ordering the tasks, one of {list(NAMED_SECRETS)} (if omitted: "
                "$REFEXP_EVAL_SECRET, else the public one); a private one only with --eval-secret-file"})
    eval_secret_file: str | None = field(default=None, metadata={
        "help": "read the evaluation secret from the first line of this file (- = stdin): for private secrets"})
    isolation: str = field(default="auto", metadata={"help": ISOLATION_HELP})
    act_timeout_s: float = field(default=60.0, metadata={
        "help": "seconds an isolated agent may take per call (act, reset): slower fails the trial"})
    workers: int = field(default=0, metadata={"help": "worker processes (Ray actors with --backend ray); 0 = all cores "
                                                      "(of the cluster), 1 = in-process (one actor)"})
    batch: int = field(default=8, metadata={"help": "trials stepped at once per worker (agents with act_batch); 1 = one at a time"})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda: for agents with networks"})
    dataset: str | None = field(default=None, metadata={
        "help": "dataset id the agent was trained on (if omitted: the env's, for agents that use data)"})
    obs_type: str = field(default="pixels", metadata={"help": "pixels (the benchmark's) or state (fast; not ranked)"})
    allow_env_mismatch: bool = field(default=False, metadata={
        "help": "score a checkpoint on an env it was not trained on (recorded; never ranked)"})
    out: str = field(default="results", metadata={"help": "results directory"})
    force: bool = field(default=False, metadata={"help": "recompute a run whose results file exists"})
    plot: bool = field(default=False, metadata={"help": "also write a Figure-2 style PNG beside the JSON"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    backend: str = field(default="local", metadata={"help": Backend.__dataclass_fields__["name"].metadata["help"]})
    ray_address: str | None = field(default=None, metadata={
        "help": Backend.__dataclass_fields__["ray_address"].metadata["help"]})

    def __post_init__(self):
        Backend(self.backend, self.ray_address)  # a ValueError for an unknown backend
        if self.episodes is not None:
            check_count("episodes", self.episodes)
        check_count("trials_per_task", self.trials_per_task)
        check_count("batch", self.batch)
        if not self.seeds:
            raise ValueError("give at least one training seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        if any(s < 0 for s in self.seeds) or self.eval_seed < 0:
            raise ValueError(f"seeds must be >= 0, got {list(self.seeds)} and eval seed {self.eval_seed}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0 = all cores), got {self.workers}")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {self.obs_type!r}")
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {self.isolation!r}")
        if not self.act_timeout_s > 0:
            raise ValueError(f"act_timeout_s must be positive, got {self.act_timeout_s}")
        if self.eval_secret is not None and self.eval_secret not in NAMED_SECRETS:
            raise ValueError(f"--eval-secret takes only {list(NAMED_SECRETS)} (a command line is readable by every "
                             "process): pass a private secret with --eval-secret-file PATH (or - for stdin)")
        if self.eval_secret is not None and self.eval_secret_file is not None:
            raise ValueError("give --eval-secret or --eval-secret-file, not both")


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def _progress_bar(enabled: bool):
    """A rich progress bar of trials (a no-op when disabled)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), disable=not enabled)


@contextlib.contextmanager
def secret_out_of_environ():
    """Take `$REFEXP_EVAL_SECRET` out of this process's environment while scoring (so spawned
    workers never inherit it), yielding its value; restored afterwards."""
    saved = os.environ.pop(SECRET_ENV_VAR, None)
    try:
        yield saved
    finally:
        if saved is not None:
            os.environ[SECRET_ENV_VAR] = saved


def resolve_isolation(agent: str | Any, isolation: str, secret: str, backend: str = "local",
                      warn: Callable[[str], None] | None = None) -> str:
    """Where the agent runs: "none" (in this process: trusted names and Agent instances, or asked for),
    "sandbox" (bubblewrap) or "process" (its own unconfined process). `ValueError` when the request
    cannot be met safely: a sandbox without bubblewrap, an untrusted agent in-process with a private
    secret, or an untrusted agent on the Ray backend."""
    from benchmark.sandbox import confinement_problem, is_trusted

    if not isinstance(agent, str) or is_trusted(agent):
        return "none"
    if backend == "ray" and isolation != "none":
        raise ValueError(f"the Ray backend does not run untrusted agents ({agent!r} is code or a file from outside "
                         "this repository): score it with --backend local, where it runs in a sandbox")
    if isolation == "none":
        if secret not in NAMED_SECRETS:
            raise ValueError("--isolation none runs the agent beside a private secret: refused")
        if warn:
            warn(f"warning: {agent!r} runs in the harness's process (--isolation none): it can read the env and the task")
        return "none"
    if isolation == "process":
        if secret not in NAMED_SECRETS:
            raise ValueError("--isolation process leaves the agent unconfined: refused with a private secret")
        if warn:
            warn(f"warning: {agent!r} runs in its own process but unconfined (--isolation process)")
        return "process"
    problem = confinement_problem()
    if problem is None:
        return "sandbox"
    if isolation == "sandbox":
        raise ValueError(f"--isolation sandbox: {problem}")
    if secret not in NAMED_SECRETS:
        raise ValueError(f"an untrusted agent is scored with a private secret only in a sandbox: {problem}")
    if warn:
        warn(f"warning: {problem}; {agent!r} runs in its own process, unconfined (it can read your files)")
    return "process"


def describe_agent(agent_spec: str, env_id: str | None, seeds: Sequence[int], device: str, allow_env_mismatch: bool,
                   isolation: str = "none", act_timeout_s: float = 600.0) -> dict:
    """The agent's metadata for the results (its version names every training seed's checkpoint, in
    seed order; a seed without one fails here) and the env to score (`env_id`, or the one it was
    trained on, or `DEFAULT_ENV_ID`). An isolated agent describes itself from its own process."""
    from benchmark.agents import agent_metadata, load_agent

    if isolation in ("sandbox", "process"):
        from benchmark.sandbox import start_agent

        metas = []
        for s in seeds:  # one agent process at a time
            remote = start_agent(agent_spec, env_id, seed=s, device=device, allow_env_mismatch=allow_env_mismatch,
                                 confine=isolation == "sandbox", act_timeout_s=act_timeout_s)
            metas.append(remote.meta)
            remote.close()
        agents = []
    else:
        agents = [load_agent(agent_spec, env_id, seed=s, device=device, allow_env_mismatch=allow_env_mismatch) for s in seeds]
        metas = [agent_metadata(a, agent_spec) for a in agents]
    meta = dict(metas[0])
    versions = [m["version"] for m in metas]
    if len(set(versions)) > 1:
        meta["version"] = "/".join(versions)
    steps = [m.get("online_steps") for m in metas]
    meta["online_steps"] = None if None in steps else max(steps)  # reported only where every seed says
    meta["env_id"] = env_id or meta["trained_env_id"] or DEFAULT_ENV_ID
    for a in agents:
        close = getattr(a, "close", None)
        if callable(close):
            close()
    return meta


def _header(agent_spec: str, meta: dict, env_id: str, episodes: int, trials_per_task: int, eval_seed: int,
            sid: str, obs_type: str, allow: bool) -> dict:
    from benchmark.schema import SCHEMA_VERSION

    return {"kind": "header", "schema_version": SCHEMA_VERSION, "agent_spec": agent_spec, "agent": meta["name"],
            "agent_version": meta["version"], "env_id": env_id, "episodes": episodes,
            "trials_per_task": trials_per_task, "eval_seed": eval_seed, "secret_id": sid, "obs_type": obs_type,
            "env_mismatch_allowed": allow}


def evaluate(
    agent: str | Any,
    env_id: str | None = None,
    episodes: int | None = None,
    trials_per_task: int = 50,
    training_seeds: Sequence[int] = (0,),
    eval_seed: int = 0,
    secret: str | None = None,
    workers: int = 0,
    batch: int = 8,
    device: str = "cpu",
    progress: bool = True,
    checkpoint_path: str | Path | None = None,
    obs_type: str = "pixels",
    dataset_id: str | None = None,
    allow_env_mismatch: bool = False,
    log: Callable[[str], None] | None = None,
    backend: str = "local",
    ray_address: str | None = None,
    isolation: str = "auto",
    act_timeout_s: float = 60.0,
) -> dict:
    """Score `agent` and return the results dict (the results JSON's contents, schema-valid).

    `agent` is a spec string for `benchmark.agents.load_agent` (one agent per training seed), or an
    Agent instance (then the run is in-process whatever `workers` says, and every training seed
    label runs that one instance: for a training loop's evaluation of its current weights).
    `env_id=None` scores the env the agent was trained on. `secret=None` reads
    `$REFEXP_EVAL_SECRET`, else uses the public secret. With `checkpoint_path`, finished trials are
    appended there and a rerun resumes from them (`log` is told how many). Workers are spawned, so a
    script calling this with workers != 1 needs the usual `if __name__ == "__main__":` guard.

    An untrusted agent (`module:Class`, a `.pt` or `.zip` file) runs in its own process, sandboxed
    as `isolation` says (`resolve_isolation`; `act_timeout_s` per call): it receives observations,
    rewards and its seed only, and a crash or timeout fails its trial (`failed:<why>` in
    `raw_rollouts`). A secret other than the public one never shares a process with agent code given
    by a spec string: `$REFEXP_EVAL_SECRET` is taken out of the environment while scoring, and the
    trials run in spawned workers only (even with `workers=1`).

    `backend="ray"` runs the trials on Ray actors (`benchmark.ray_workers`; `ray_address` as
    `refexp_envs.backend.connect_ray`): the same results as local.
    """
    cfg = RunConfig(agent=agent if isinstance(agent, str) else type(agent).__name__, env=env_id, episodes=episodes,
                    trials_per_task=trials_per_task, seeds=tuple(int(s) for s in training_seeds), eval_seed=int(eval_seed),
                    workers=workers, batch=batch, device=device, dataset=dataset_id, obs_type=obs_type,
                    allow_env_mismatch=allow_env_mismatch, progress=progress, backend=backend, ray_address=ray_address,
                    isolation=isolation, act_timeout_s=act_timeout_s)
    with secret_out_of_environ() as env_secret:
        secret = resolve_secret(secret, environ={SECRET_ENV_VAR: env_secret} if env_secret is not None else {})
        return _evaluate(agent, cfg, secret, checkpoint_path, log)


def _evaluate(agent, cfg: RunConfig, secret: str, checkpoint_path, log) -> dict:
    from benchmark.agents import agent_metadata, load_agent
    from benchmark.results import make_results
    from benchmark.schema import DEFAULT_DATASET
    from benchmark.workers import TrialLog, TrialRunner, chunks, read_trial_log, resolve_workers, run_parallel

    env_id, episodes, trials_per_task, obs_type = cfg.env, cfg.episodes, cfg.trials_per_task, cfg.obs_type
    allow_env_mismatch = cfg.allow_env_mismatch
    sid = secret_id(secret)
    dev = resolve_device(cfg.device)
    # A private secret never shares a process with agent code: an untrusted agent runs in its own
    # (sandboxed) process, and with a private secret the trials run in spawned workers only (an Agent
    # instance, for training, runs here by necessity).
    isolate = isinstance(agent, str) and secret != PUBLIC_SECRET
    isolation = resolve_isolation(agent, cfg.isolation, secret, cfg.backend,
                                  warn=(lambda m: print(m, file=sys.stderr)) if log is None else log)
    t0 = time.perf_counter()
    if env_id is not None:
        refexp_envs.num_tasks(env_id)  # an unknown env fails before any agent is built
    probe = None
    if isinstance(agent, str):
        agent_spec = agent
        meta = describe_agent(agent, env_id, cfg.seeds, dev, allow_env_mismatch, isolation)
        if not isolate and isolation == "none":
            probe = load_agent(agent, meta["env_id"], seed=cfg.seeds[0], device=dev, allow_env_mismatch=allow_env_mismatch)
    else:
        probe, agent_spec = agent, f"<instance of {type(agent).__module__}.{type(agent).__qualname__}>"
        meta = agent_metadata(probe, agent_spec)
        meta["env_id"] = env_id or meta["trained_env_id"] or DEFAULT_ENV_ID
    env_id = meta.pop("env_id")
    n = refexp_envs.num_tasks(env_id)
    episodes = episodes if episodes is not None else refexp_envs.default_episodes(env_id)  # K: the registry's unless told
    mismatch = bool(meta["trained_env_id"]) and meta["trained_env_id"] != env_id and allow_env_mismatch
    dataset = cfg.dataset if cfg.dataset is not None else (DEFAULT_DATASET.get(env_id) if meta["uses_dataset"] else None)

    header = _header(agent_spec, meta, env_id, episodes, trials_per_task, cfg.eval_seed, sid, obs_type, mismatch)
    log_path = Path(checkpoint_path) if checkpoint_path is not None else None
    done = read_trial_log(log_path, header) if log_path is not None else {}
    specs = [sp for s in cfg.seeds for sp in trial_specs(s, eval_seed=cfg.eval_seed, secret=secret, num_tasks=n,
                                                          trials_per_task=trials_per_task, episodes=episodes,
                                                          looks=refexp_envs.env_entry(env_id).appearance == "sealed")]
    del secret  # from here on only task ids travel (to workers too)
    for sp in specs:  # a resumed trial must be the one this run would have drawn
        prev = done.get((sp.training_seed, sp.trial))
        if prev is not None and (prev.task != sp.task or len(prev.successes) != episodes):
            raise ValueError(f"{log_path} disagrees with trial {sp.trial} of training seed {sp.training_seed}; delete it")
    todo = [sp for sp in specs if (sp.training_seed, sp.trial) not in done]
    if done and log is not None:
        log(f"resuming: {len(specs) - len(todo)} of {len(specs)} trials already done (kept in {log_path})")
    todo_chunks = chunks(todo, cfg.batch)
    on_ray = cfg.backend == "ray" and isinstance(agent, str)
    n_workers = 1 if not isinstance(agent, str) else resolve_workers(cfg.workers, len(todo_chunks))
    in_process = not on_ray and (not isinstance(agent, str) or (n_workers == 1 and not isolate))

    trial_log = TrialLog(log_path, header, kept=list(done.values()))
    prog = _progress_bar(cfg.progress)
    try:
        with prog:
            bar = prog.add_task(f"{meta['name']} on {env_id}", total=len(specs), completed=len(specs) - len(todo))

            def on_result(res) -> None:
                done[(res.training_seed, res.trial)] = res
                trial_log.add(res)
                prog.advance(bar)

            if on_ray:
                from benchmark.ray_workers import run_ray

                if todo:
                    n_workers = run_ray(agent_spec, env_id, obs_type, dev, allow_env_mismatch, todo_chunks,
                                        cfg.workers, on_result, cfg.ray_address, log)
            elif in_process:
                runner = TrialRunner(agent, env_id, obs_type, dev, allow_env_mismatch, isolation, cfg.act_timeout_s)
                if probe is not None:
                    runner.add_agent(cfg.seeds[0], probe)
                try:
                    for chunk in todo_chunks:
                        for res in runner.run(chunk):
                            on_result(res)
                finally:
                    runner.close()
            elif todo:
                run_parallel(agent_spec, env_id, obs_type, dev, allow_env_mismatch, todo_chunks, n_workers, on_result,
                             isolation, cfg.act_timeout_s)
    finally:
        trial_log.close()
    wall = time.perf_counter() - t0

    trials = n * trials_per_task
    rows = [[done[(s, i)] for i in range(trials)] for s in cfg.seeds]
    return make_results(
        meta=meta, agent_spec=agent_spec, env_id=env_id, num_drawers=n, obs_type=obs_type, dataset_id=dataset,
        training_seeds=cfg.seeds, eval_seed=cfg.eval_seed, secret_id=sid, trials_per_task=trials_per_task,
        raw_successes=[[r.successes for r in row] for row in rows], raw_tasks=[[r.task for r in row] for row in rows],
        raw_returns=[[r.returns for r in row] for row in rows], raw_rollouts=[[r.rollout for r in row] for row in rows],
        wall_time_s=wall, workers=n_workers, batch=cfg.batch, env_mismatch_allowed=mismatch,
    )


# ------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """CLI flags generated from `RunConfig`'s fields, one per field (help shows the defaults)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.run", description="Score an agent on a RefExp env (see docs/benchmark.md). "
        "Exit status: 0 done, 1 failed while running, 2 usage error, 130 interrupted (rerun to resume).",
        formatter_class=DefaultsHelpFormatter,
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
            parser.add_argument(flag, default=f.default, help=help_)
        elif f.name == "obs_type":
            parser.add_argument(flag, choices=OBS_TYPES, default=f.default, help=help_)
        elif f.name == "backend":
            parser.add_argument(flag, choices=BACKENDS, default=f.default, help=help_)
        elif f.type in ("int", int, "int | None"):
            parser.add_argument(flag, type=int, default=f.default, help=help_)
        elif f.type in ("float", float):
            parser.add_argument(flag, type=float, default=f.default, help=help_)
        elif f.name == "isolation":
            parser.add_argument(flag, choices=ISOLATIONS, default=f.default, help=help_)
        else:
            parser.add_argument(flag, default=f.default, help=help_)
    return parser


def config_from_args(argv: Sequence[str] | None = None) -> RunConfig:
    """Parse and validate; a usage error (bad count, unknown agent or env) exits 2 before heavy imports."""
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    args["seeds"] = tuple(args["seeds"])
    try:
        cfg = RunConfig(**args)
        from benchmark.agents import check_agent_spec

        check_agent_spec(cfg.agent)
        if cfg.env is not None:
            refexp_envs.num_tasks(cfg.env)
        if cfg.eval_secret_file is None:
            resolve_secret(cfg.eval_secret)
        elif cfg.eval_secret_file != "-":
            from benchmark.sandbox import exposing_folder

            folder = exposing_folder(cfg.eval_secret_file, cfg.agent)
            if folder is not None:
                raise ValueError(f"--eval-secret-file {cfg.eval_secret_file} lies inside {folder}, which the agent's "
                                 "sandbox can read: keep the secret outside it (or pass it on stdin with -)")
        if cfg.backend == "ray":
            from refexp_envs.backend import check_reachable, require_ray, resolve_address

            require_ray()
            check_reachable(resolve_address(cfg.ray_address))
    except (ValueError, TypeError, BackendError) as exc:
        parser.error(str(exc))
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    cfg = config_from_args(argv)
    from rich.console import Console

    console = Console()

    def _terminate(signum, frame):  # a kill cleans up like Ctrl-C: workers stopped, trials kept
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        import signal

        signal.signal(signal.SIGTERM, _terminate)
    from benchmark.sandbox import harden_process

    harden_process()  # no process of this user reads the secret out of this one's memory
    with secret_out_of_environ() as env_secret:
        try:
            if cfg.eval_secret_file is not None:
                secret = read_secret_file(cfg.eval_secret_file)
            else:
                secret = resolve_secret(cfg.eval_secret, environ={SECRET_ENV_VAR: env_secret} if env_secret else {})
        except ValueError as exc:
            build_parser().error(str(exc))
        return _main(cfg, secret, console)


def _main(cfg: RunConfig, secret: str, console) -> int:
    from benchmark.results import (breakdown_table, duplicate_cells, output_stem, results_table, score_line, split_lines,
                                   write_json_atomic)

    def headline(results: dict) -> None:  # one line even when piped (Rich would wrap it at 80 columns)
        console.print(score_line(results), soft_wrap=True, markup=False, highlight=False)
        for line in split_lines(results):  # train and test apart (an env with held-out tasks)
            console.print(line, soft_wrap=True, markup=False, highlight=False)

    env_id, why = cfg.env, ""
    if env_id is None:  # the env the agent was trained on: known once its checkpoints are read
        from benchmark.sandbox import AgentFailure

        try:
            isolation = resolve_isolation(cfg.agent, cfg.isolation, secret, cfg.backend)
            meta = describe_agent(cfg.agent, None, cfg.seeds, "cpu", cfg.allow_env_mismatch, isolation)
        except (ValueError, FileNotFoundError) as exc:
            build_parser().error(str(exc))
        except AgentFailure as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 1
        env_id = meta["env_id"]
        why = " (the env its checkpoint was trained on)" if meta["trained_env_id"] else " (the default env)"
    out_dir = Path(cfg.out)
    episodes = cfg.episodes if cfg.episodes is not None else refexp_envs.default_episodes(env_id)  # the env's K
    stem = output_stem(cfg.agent, env_id, episodes, cfg.trials_per_task, cfg.seeds, cfg.eval_seed, cfg.obs_type)
    json_path = out_dir / f"{stem}.json"
    partial = out_dir / f"{stem}.partial.jsonl"
    if json_path.exists() and not cfg.force:
        import json

        old = json.loads(json_path.read_text())
        if old.get("secret_id") == secret_id(secret):
            console.print(f"already scored: {json_path} (finished {old.get('date')}); not recomputed. "
                          "Pass --force to recompute and overwrite it.")
            console.print(results_table(old))
            headline(old)
            return 0
        build_parser().error(f"{json_path} holds a run with another evaluation secret ({old.get('secret_id')}); "
                             "choose another --out, or pass --force to overwrite it")
    console.print(f"scoring {cfg.agent} on {env_id}{why}")
    try:
        results = evaluate(
            cfg.agent, env_id, episodes=episodes, trials_per_task=cfg.trials_per_task, training_seeds=cfg.seeds,
            eval_seed=cfg.eval_seed, secret=secret, workers=cfg.workers, batch=cfg.batch, device=cfg.device,
            progress=cfg.progress, checkpoint_path=partial, obs_type=cfg.obs_type, dataset_id=cfg.dataset,
            allow_env_mismatch=cfg.allow_env_mismatch, log=console.print, backend=cfg.backend,
            ray_address=cfg.ray_address, isolation=cfg.isolation, act_timeout_s=cfg.act_timeout_s,
        )
    except KeyboardInterrupt:
        console.print(f"\n[yellow]interrupted[/yellow]: finished trials are kept in {partial}; "
                      "rerun the same command to resume")
        return 130
    except (ValueError, FileNotFoundError) as exc:  # a checkpoint missing for a training seed, a mismatch
        build_parser().error(str(exc))
    except (ImportError, RuntimeError, TypeError, AttributeError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    write_json_atomic(json_path, results)
    partial.unlink(missing_ok=True)
    failed = [r for row in results["raw_rollouts"] for r in row if r.startswith(FAILED_PREFIX)]
    if failed:
        kinds = sorted({r[len(FAILED_PREFIX):] for r in failed})
        console.print(f"[yellow]warning:[/yellow] the agent failed {len(failed)} trials ({', '.join(kinds)}): they "
                      f"count as failures and say so in raw_rollouts")
    console.print(results_table(results))
    headline(results)
    console.print(breakdown_table(results))
    dup = duplicate_cells(results)
    if dup:
        n_trials = sum(c["trials"] for c in dup)
        n_distinct = sum(c["distinct"] for c in dup)
        console.print(f"[yellow]warning:[/yellow] {n_trials} trials in {len(dup)} (seed, task) cells are only "
                      f"{n_distinct} distinct rollouts: repeated trials add no evidence (a deterministic agent on an "
                      "env with one start state repeats itself)")
    if results["env_mismatch_allowed"]:
        console.print(f"[yellow]scored on {results['env_id']}, trained on {results['trained_env_id']} "
                      "(--allow-env-mismatch): recorded in the results, never ranked[/yellow]")
    console.print(f"scored {results['env_id']}; wall time {results['wall_time_s']:.1f} s with {results['workers']} "
                  f"worker(s), batch {results['batch']}; results: {json_path}")
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
