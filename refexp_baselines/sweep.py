"""Training sweeps: agents x envs x seeds (x config grids), each distinct stage trained once, locally or on Ray.

    python -m refexp_baselines.sweep --agents ours no-cql no-expl --seeds 0 1 2
    python -m refexp_baselines.sweep --agents ours --grid agent.cql_alpha=1,5,10 --backend ray --device cuda

The sweep is a graph of stages (docs/scaling.md):

    data(env, dataset) -> frames(seed) -> belief -> agent(variant) -> score(variant)

Stage directories are named by `configs.stage_keys` (`train.stage_dirs`), so variants that agree
upstream (ours, no-cql and oracle-task share frames and belief) point at one node, which runs once
and feeds every agent after it. Each node runs when its inputs are done: in this process one after
another (`--backend local`), or as Ray tasks asking for one CPU (and one GPU where `--device` asks
for cuda) (`--backend ray`). Stages communicate through `--runs-dir`, which must be a path every
node of the cluster shares; results of scoring travel back through Ray's object store.

A rerun resumes: finished stages are skipped, unfinished ones resume from their last checkpoint
(train.py), scored seeds are read back from `<out>/seeds/`. The live table shows every node's state;
`<out>/sweep_log.jsonl` records each finished node with the Ray node id and process it ran on.
The sweep ends by scoring every agent through the harness (`benchmark.run.evaluate`, the
protocol's trials; with `--ship` the shipped fp16 bundle, i.e. what `python -m benchmark.run --agent
NAME --seeds ...` gives from a clone) and writes, per variant and env, one results JSON over all its training seeds
(intervals over seeds) into `<out>/`.

Ray Tune is not used: a grid whose points share trained stages is a graph, not independent trials;
Tune's schedulers (early stopping) would need the agent stage to report intermediate scores.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmark.protocol import DEFAULT_ENV_ID
from refexp_envs.backend import Backend, add_backend_args, backend_from_args

STATES = ("waiting", "running", "done", "skipped", "failed")  # skipped: done by an earlier invocation


@dataclass(frozen=True)
class SweepConfig:
    """One sweep; each field is the CLI flag of the same name."""

    agents: tuple[str, ...] = field(default=("ours",), metadata={"help": "agent variants (configs.AGENT_NAMES)"})
    envs: tuple[str, ...] = field(default=(DEFAULT_ENV_ID,), metadata={"help": "env ids"})
    seeds: tuple[int, ...] = field(default=(0,), metadata={"help": "training seeds"})
    grid: tuple[str, ...] = field(default=(), metadata={
        "help": "config grids SECTION.FIELD=V1,V2,...: every combination is a variant"})
    overrides: tuple[str, ...] = field(default=(), metadata={"help": "SECTION.FIELD=VALUE set on every variant (as train --set)"})
    dataset: str | None = field(default=None, metadata={"help": "Minari id or local:<eps per task> (None: each env's expert dataset)"})
    runs_dir: str = field(default="runs", metadata={"help": "stage directories (a path shared by every Ray node)"})
    out: str = field(default="results/sweep", metadata={"help": "results folder: one results JSON per variant and env"})
    device: str = field(default="cpu", metadata={"help": "cpu or cuda: stages on cuda ask Ray for a GPU each"})
    threads: int = field(default=1, metadata={"help": "torch threads per stage"})
    trials_per_task: int = field(default=50, metadata={"help": "harness trials of each task per training seed (0: no scoring)"})
    eval_seed: int = field(default=0, metadata={"help": "the harness's evaluation seed"})
    ship: bool = field(default=False, metadata={"help": "write each agent's small bundle into refexp_baselines/checkpoints/ (train --ship)"})
    progress: bool = field(default=True, metadata={"help": "show the live table of stage states"})


# ------------------------------------------------------------------------------------------ graph
@dataclass
class Node:
    """One stage to run once: its key is its directory (or, for data and score, what it makes)."""

    kind: str  # data | frames | belief | agent | score
    key: str
    cfg: Any  # the RunConfig that runs it (any variant sharing the node will do)
    deps: list[str]
    label: str
    variant: str = ""
    state: str = "waiting"
    where: str = ""
    wall_s: float | None = None
    info: dict = dataclasses.field(default_factory=dict)


def parse_grid(items: Sequence[str]) -> list[dict[str, str]]:
    """`["agent.cql_alpha=1,5", "belief.k=2,3"]` -> every combination as `{key: value}` (one empty dict without grids)."""
    axes = []
    for item in items:
        key, sep, vals = item.partition("=")
        values = [v for v in vals.split(",") if v != ""]
        if not sep or not values:
            raise ValueError(f"--grid expects SECTION.FIELD=V1,V2,..., got {item!r}")
        axes.append([(key, v) for v in values])
    return [dict(combo) for combo in itertools.product(*axes)]


def variants(sc: SweepConfig) -> list[tuple[str, Any]]:
    """(variant label, RunConfig) for every agent x env x seed x grid point."""
    from refexp_baselines import configs as C
    from refexp_baselines.train import parse_overrides

    out = []
    for agent, env, point, seed in itertools.product(sc.agents, sc.envs, parse_grid(sc.grid), sc.seeds):
        cfg = C.variant(agent, env_id=env, dataset=sc.dataset, seed=seed)
        cfg = parse_overrides(cfg, list(sc.overrides) + [f"{k}={v}" for k, v in point.items()])
        label = agent + ("[" + ",".join(f"{k.split('.')[-1]}={v}" for k, v in point.items()) + "]" if point else "")
        out.append((label, cfg))
    return out


def build_graph(sc: SweepConfig) -> dict[str, Node]:
    """The stage graph of a sweep, each distinct stage once, in an order where inputs come first."""
    from refexp_baselines.train import stage_dirs

    nodes: dict[str, Node] = {}

    def add(node: Node) -> str:
        nodes.setdefault(node.key, node)
        return node.key

    for label, cfg in variants(sc):
        dirs = {k: str(v) for k, v in stage_dirs(cfg, sc.runs_dir).items()}
        ds = cfg.dataset or "default"
        data = add(Node("data", f"data:{cfg.env_id}:{ds}", cfg, [], f"{cfg.env_id} {ds}"))
        frames = add(Node("frames", dirs["frames"], cfg, [data], f"seed {cfg.seed}"))
        belief = add(Node("belief", dirs["belief"], cfg, [frames], f"seed {cfg.seed}"))
        agent = add(Node("agent", dirs["agent"], cfg, [belief], f"{label} seed {cfg.seed}", variant=label))
        if sc.trials_per_task > 0:
            add(Node("score", f"score:{dirs['agent']}", cfg, [agent], f"{label} seed {cfg.seed}", variant=label))
    return nodes


# ---------------------------------------------------------------------------------------- stages
def seed_result_path(sc: SweepConfig, node: Node) -> Path:
    from benchmark.results import slug

    cfg = node.cfg
    return Path(sc.out) / "seeds" / f"{slug(node.variant)}_{slug(cfg.env_id)}_s{cfg.seed}.json"


def shipped_bundle(cfg) -> Path:
    """Where `train --ship` writes the bundle of `cfg`."""
    from refexp_baselines.agent import shipped_path

    return shipped_path(cfg.agent_name, cfg.env_id, cfg.seed)


def shipped_is(cfg) -> bool:
    """Whether the shipped bundle of `cfg`'s name, env and seed was made from `cfg`'s own stages (a
    bundle of another config, e.g. an earlier default, must be replaced, never scored for `cfg`)."""
    from refexp_baselines import configs as C

    meta = shipped_bundle(cfg).with_suffix(".json")
    if not (shipped_bundle(cfg).exists() and meta.exists()):
        return False
    try:
        shipped = C.from_dict(json.loads(meta.read_text())["config"])
    except (KeyError, TypeError, ValueError):
        return False
    return shipped.agent_name == cfg.agent_name and C.stage_keys(shipped) == C.stage_keys(cfg)


def scored_shipped(result: Path, cfg) -> bool:
    """Whether the seed results file `result` scored the bundle now shipped for `cfg` (a re-shipped
    agent is scored again)."""
    from refexp_baselines.agent import bundle_version

    bundle = shipped_bundle(cfg)
    return bundle.exists() and json.loads(result.read_text()).get("agent_version") == bundle_version(bundle)


def already_done(sc: SweepConfig, node: Node) -> bool:
    from refexp_baselines.train import stage_done

    if node.kind == "data":
        return False  # cheap when present: every invocation checks the data (open_buffers)
    if node.kind == "score":
        return seed_result_path(sc, node).exists() and (not sc.ship or scored_shipped(seed_result_path(sc, node), node.cfg))
    if node.kind == "agent" and sc.ship and not shipped_is(node.cfg):
        return False  # trained, not shipped yet (or shipped from another config): reruns, skipping the training
    return stage_done(node.kind, Path(node.key))


def run_node(kind: str, cfg, runs_dir: str, device: str, threads: int, trials_per_task: int, eval_seed: int,
             ship: bool = False) -> dict:
    """Run one stage in this process (a Ray task or the local loop). Returns what the driver logs
    (and, for score, the harness results dict)."""
    import torch

    from refexp_envs.backend import node_id

    torch.set_num_threads(threads)
    t = time.time()
    out: dict[str, Any] = {"node_id": node_id(), "pid": os.getpid(), "host": os.uname().nodename}
    if kind == "data":
        from refexp_baselines.data import open_buffers

        open_buffers(cfg.env_id, cfg.dataset, root=os.environ.get("REFEXP_DATA_CACHE", runs_dir), workers=1)
    elif kind in ("frames", "belief", "agent"):
        from refexp_baselines.train import run

        run(cfg, runs_dir=runs_dir, device=device, progress=False, final_trials_per_task=0, workers=1, until=kind,
            ship=ship and kind == "agent", command=f"python -m refexp_baselines.sweep ({cfg.agent_name}, seed {cfg.seed})")
    elif kind == "score":
        from benchmark.run import evaluate
        from refexp_baselines.train import stage_dirs

        agent_dir = stage_dirs(cfg, runs_dir)["agent"]
        dataset = cfg.dataset if cfg.dataset and not cfg.dataset.startswith("local:") else None
        # with --ship the shipped (fp16) bundle is scored: what `benchmark.run --agent NAME` gives from a clone
        bundle = shipped_bundle(cfg) if ship else agent_dir / "agent.pt"
        if ship and not shipped_is(cfg):
            raise RuntimeError(f"{bundle} was not shipped from {agent_dir}: refusing to score another config's bundle")
        from refexp_baselines.agent import bundle_version

        tag = f"shipped-{bundle_version(bundle)}" if ship else "run"  # a re-shipped bundle starts its own trials
        out["results"] = evaluate(str(bundle), cfg.env_id, episodes=cfg.belief.k,
                                  trials_per_task=trials_per_task, training_seeds=(cfg.seed,), eval_seed=eval_seed,
                                  workers=1, device=device, progress=False, dataset_id=dataset, isolation="none",  # our own bundle
                                  checkpoint_path=agent_dir / f"sweep_score_{tag}_tpt{trials_per_task}_e{eval_seed}.partial.jsonl")
    else:
        raise ValueError(f"unknown stage kind {kind!r}")
    out["wall_s"] = time.time() - t
    return out


# ------------------------------------------------------------------------------------------- table
def state_table(nodes: dict[str, Node], title: str):
    from rich.table import Table

    colour = {"waiting": "dim", "running": "yellow", "done": "green", "skipped": "cyan", "failed": "red"}
    table = Table(title=title)
    for col in ("stage", "what", "state", "ray node", "wall s"):
        table.add_column(col)
    for n in nodes.values():
        table.add_row(n.kind, n.label, f"[{colour[n.state]}]{n.state}[/]", n.where[:12],
                      "" if n.wall_s is None else f"{n.wall_s:.1f}")
    counts = {s: sum(n.state == s for n in nodes.values()) for s in STATES}
    table.caption = " ".join(f"{s} {c}" for s, c in counts.items() if c)
    return table


# -------------------------------------------------------------------------------------------- run
def _seed_results_done(sc: SweepConfig, node: Node, res: dict) -> None:
    from benchmark.results import write_json_atomic

    write_json_atomic(seed_result_path(sc, node), res)


def merge_results(sc: SweepConfig, nodes: dict[str, Node]) -> list[Path]:
    """One results JSON per (variant, env) over all its training seeds, from the per-seed harness results."""
    from benchmark.results import make_results, slug, write_json_atomic
    from refexp_baselines.configs import AGENT_NAMES as REFERENCE_NAMES

    groups: dict[tuple[str, str], list[Node]] = {}
    for n in nodes.values():
        if n.kind == "score":
            groups.setdefault((n.variant, n.cfg.env_id), []).append(n)
    paths = []
    for (variant, env_id), group in groups.items():
        group.sort(key=lambda n: n.cfg.seed)
        per_seed = [json.loads(seed_result_path(sc, n).read_text()) for n in group]
        first = per_seed[0]
        versions = [r["agent_version"] for r in per_seed]
        meta = {"name": variant, "version": "/".join(versions), "eligible": first["eligible"],
                "uses_dataset": first.get("dataset_id") is not None, "trained_env_id": first.get("trained_env_id")}
        raw = {k: [r[k][0] for r in per_seed] for k in ("raw_successes", "raw_tasks", "raw_returns", "raw_rollouts")}
        # shipped agents are the harness's reference names: `verify` and `benchmark.run` reload them by it
        spec = variant if sc.ship and variant in REFERENCE_NAMES else f"sweep:{variant}"
        res = make_results(
            meta=meta, agent_spec=spec, env_id=env_id, num_drawers=first["num_drawers"],
            obs_type=first["obs_type"], dataset_id=first.get("dataset_id"),
            training_seeds=tuple(n.cfg.seed for n in group), eval_seed=first["eval_seed"], secret_id=first["secret_id"],
            trials_per_task=first["trials_per_task"], **raw, wall_time_s=sum(r["wall_time_s"] for r in per_seed),
            workers=1, batch=first["batch"], env_mismatch_allowed=False)
        path = Path(sc.out) / f"{slug(variant)}_{slug(env_id)}_K{first['episodes']}_tpt{first['trials_per_task']}.json"
        write_json_atomic(path, res)
        paths.append(path)
    return paths


def run_sweep(sc: SweepConfig, backend: Backend = Backend(), log: Callable[[str], None] = print) -> dict:
    """Run (or resume) the sweep; returns {"nodes": {key: state...}, "results": [paths], "ran": [keys]}."""
    from rich.console import Console
    from rich.live import Live

    nodes = build_graph(sc)
    out = Path(sc.out)
    out.mkdir(parents=True, exist_ok=True)
    for n in nodes.values():
        if already_done(sc, n):
            n.state = "skipped"
    ran: list[str] = []
    log_path = out / "sweep_log.jsonl"
    args = (sc.runs_dir, sc.device, sc.threads, sc.trials_per_task, sc.eval_seed, sc.ship)

    def finish(n: Node, res: dict) -> None:
        n.state, n.wall_s = "done", res["wall_s"]
        n.where = res.get("node_id") or "local"
        if n.kind == "score":
            _seed_results_done(sc, n, res.pop("results"))
        ran.append(n.key)
        with open(log_path, "a") as fh:
            fh.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "stage": n.kind, "key": n.key,
                                 "variant": n.variant, **res}) + "\n")

    def ready(n: Node) -> bool:
        return n.state == "waiting" and all(nodes[d].state in ("done", "skipped") for d in n.deps)

    title = f"sweep: {len(sc.agents)} agents x {len(sc.envs)} envs x {len(sc.seeds)} seeds ({backend.name})"
    console = Console(quiet=not sc.progress)
    with Live(state_table(nodes, title), console=console, refresh_per_second=2, transient=False) as live:
        def refresh():
            live.update(state_table(nodes, title))

        try:
            if backend.is_ray:
                _run_ray(nodes, ready, finish, refresh, args, sc.device, backend.ray_address)
            else:
                while todo := [n for n in nodes.values() if ready(n)]:
                    n = todo[0]
                    n.state = "running"
                    refresh()
                    finish(n, run_node(n.kind, n.cfg, *args))
                    refresh()
        except BaseException:
            for n in nodes.values():
                if n.state == "running":
                    n.state = "failed"
            refresh()
            raise
    console.print()
    paths = merge_results(sc, nodes) if sc.trials_per_task > 0 else []
    for p in paths:
        log(f"results: {p}")
    return {"nodes": {k: n.state for k, n in nodes.items()}, "results": [str(p) for p in paths], "ran": ran,
            "graph": {k: n.kind for k, n in nodes.items()}}


def _run_ray(nodes: dict[str, Node], ready, finish, refresh, args, device: str, address: str | None) -> None:
    """Submit each node as a Ray task once its inputs are done; a task whose worker dies is retried
    (Ray's max_retries; the stage resumes from its last checkpoint)."""
    from refexp_envs.backend import connect_ray

    ray = connect_ray(address)
    gpu = 1 if device.startswith("cuda") else 0
    task = ray.remote(max_retries=3)(run_node)
    pending: dict = {}
    while True:
        for n in [n for n in nodes.values() if ready(n)]:
            opts = {"num_cpus": 1, "num_gpus": gpu if n.kind in ("frames", "belief", "agent") else 0}
            pending[task.options(**opts).remote(n.kind, n.cfg, *args)] = n
            n.state = "running"
        refresh()
        if not pending:
            return
        done, _ = ray.wait(list(pending), num_returns=1)
        n = pending.pop(done[0])
        finish(n, ray.get(done[0]))


# ------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m refexp_baselines.sweep", description=__doc__.split("\n\n")[0]
                                     + " Exit status: 0 done, 1 failed, 2 usage error, 130 interrupted (rerun to resume).",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(SweepConfig):
        flag, help_ = "--" + f.name.replace("_", "-"), f.metadata["help"]
        if f.name == "overrides":
            parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="SECTION.FIELD=VALUE", help=help_)
        elif f.name == "seeds":
            parser.add_argument(flag, type=int, nargs="+", default=list(f.default), help=help_)
        elif f.name in ("agents", "envs", "grid"):
            parser.add_argument(flag, nargs="+" if f.name != "grid" else "*", default=list(f.default), help=help_)
        elif f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help=help_)
        elif f.type in ("int", int):
            parser.add_argument(flag, type=int, default=f.default, help=help_)
        else:
            parser.add_argument(flag, default=f.default, help=help_)
    add_backend_args(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    backend = backend_from_args(parser, args)
    kw = {f.name: getattr(args, f.name) for f in dataclasses.fields(SweepConfig)}
    for k in ("agents", "envs", "seeds", "grid", "overrides"):
        kw[k] = tuple(kw[k])
    sc = SweepConfig(**kw)
    from refexp_baselines import configs as C
    from refexp_baselines.data import ENV_NUM_TASKS

    try:
        bad = [a for a in sc.agents if a not in C.AGENT_NAMES]
        if bad:
            raise ValueError(f"unknown agents {bad}; expected some of {list(C.AGENT_NAMES)}")
        bad = [e for e in sc.envs if e not in ENV_NUM_TASKS]
        if bad:
            raise ValueError(f"unknown envs {bad}; expected some of {sorted(ENV_NUM_TASKS)}")
        if sc.trials_per_task < 0 or sc.threads < 1:
            raise ValueError("trials-per-task must be >= 0 and threads >= 1")
        build_graph(sc)  # bad grids and overrides fail here
    except ValueError as exc:
        parser.error(str(exc))
    try:
        res = run_sweep(sc, backend)
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  (a stage failed, here or on a Ray worker: its traceback is above)
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"ran": len(res["ran"]), "results": res["results"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
