"""A real two-node Ray cluster on this machine (loopback): harness trials and training stages on both nodes.

    python -m refexp_baselines.ray_two_nodes --json benchmark/results/ray_two_nodes.json

Starts `ray start --head --num-cpus 1` and a second node `ray start --address ... --num-cpus 1`
(both `--block`, so that this script stops exactly the processes it started), then runs through
`--ray-address`: (1) the harness (scripted-explorer, pixels) on Ray actors, compared trial by trial
with the local backend; (2) a tiny training sweep (two seeds), whose stages Ray spreads over the two
nodes, compared weight by weight with the same sweep run locally. Prints (and writes) the Ray node
id of every trial chunk's and every stage's worker.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

TINY = ("frames.latent=4", "frames.channels=4", "frames.steps=20", "frames.batch=8", "belief.deter=8",
        "belief.stoch=2", "belief.hidden=8", "belief.steps=20", "belief.batch=2", "agent.hidden=16", "agent.batch=8",
        "agent.steps=20", "agent.pool_trajectories=4", "agent.bc_steps=1", "eval_trials=0")


def start_node(args: list[str], log: Path) -> subprocess.Popen:
    fh = open(log, "w")
    env = {**os.environ, "RAY_worker_niceness": "0"}  # workers at the local backend's priority (Ray's default: 15)
    return subprocess.Popen(["ray", "start", "--block", "--disable-usage-stats", *args], stdout=fh,
                            stderr=subprocess.STDOUT, start_new_session=True, env=env)


def stop(proc: subprocess.Popen) -> None:
    """Stop a `ray start --block` we started (it stops its node's processes on SIGTERM)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own process group (start_new_session)


def wait_nodes(address: str, n: int, timeout: float = 120.0):
    import ray

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            from refexp_envs.backend import connect_ray

            connect_ray(address)
            alive = [x for x in ray.nodes() if x["Alive"]]
            if len(alive) >= n:
                return alive
        except Exception as exc:  # noqa: BLE001  (the head is still starting)
            print(f"waiting for the cluster: {exc}", flush=True)
        time.sleep(2)
    raise RuntimeError(f"the cluster at {address} did not reach {n} nodes in {timeout} s")


def table(report: dict) -> str:
    """Markdown summary of a run's JSON: where the trials and the stages ran, and the comparisons."""
    short = {nid: f"node {i + 1} (`{nid[:12]}`)" for i, nid in enumerate(report["nodes"])}
    out = [f"{report['date']}, cluster at {report['address']}: {', '.join(short.values())}; load average "
           f"{report['load_before']:.1f} before, {report['load_after']:.1f} after", "",
           f"* harness: {'; '.join(report['harness']['log'])}; same trials as the local backend: "
           f"{report['harness']['same_as_local']}", "", "| sweep stage | directory | ran on | pid | wall s |",
           "|---|---|---|---|---|"]
    for s in report["sweep"]["stages"]:
        out.append(f"| {s['stage']} | {s['dir']} | {short.get(s['node_id'], s['node_id'])} | {s['pid']} | {s['wall_s']:.1f} |")
    out += ["", f"* sweep stages on {len(report['sweep']['nodes_used'])} nodes; trained weights equal to the local "
                f"sweep's: {report['sweep']['same_weights_as_local']}"]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m refexp_baselines.ray_two_nodes", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--port", type=int, default=6390, help="the head's GCS port on 127.0.0.1")
    p.add_argument("--trials-per-task", type=int, default=8, help="harness trials per task (2 tasks, the env's K episodes)")
    p.add_argument("--json", default=None, help="also write the node ids and comparisons to this JSON file")
    p.add_argument("--table", default=None, metavar="JSON", help="print the summary of an earlier run's JSON, run nothing")
    a = p.parse_args(argv)
    if a.table:
        print(table(json.loads(Path(a.table).read_text())))
        return 0
    from benchmark.run import evaluate
    from refexp_baselines.sweep import SweepConfig, run_sweep
    from refexp_envs.backend import Backend

    # Ray 2.60's `ray start --head` turns token authentication on: every node and this driver use
    # the machine's token (~/.ray/auth_token; `ray get-auth-token --generate` makes one)
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    tmp = Path(tempfile.mkdtemp(prefix="refexp-two-nodes-"))
    address = f"127.0.0.1:{a.port}"
    head = start_node(["--head", "--num-cpus", "1", "--port", str(a.port), "--node-ip-address", "127.0.0.1",
                       "--include-dashboard", "false"], tmp / "head.log")
    second = None
    report: dict = {"address": address, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "load_before": os.getloadavg()[0]}
    try:
        time.sleep(5)
        second = start_node(["--address", address, "--num-cpus", "1", "--node-ip-address", "127.0.0.1"],
                            tmp / "second.log")
        nodes = wait_nodes(address, 2)
        report["nodes"] = [x["NodeID"] for x in nodes]
        print("cluster nodes:", report["nodes"], flush=True)

        lines: list[str] = []
        kw = dict(trials_per_task=a.trials_per_task, training_seeds=(0,), progress=False, batch=2)
        on_ray = evaluate("scripted-explorer", "RefExp/TwoDrawer-v0", workers=2, backend="ray", ray_address=address,
                          log=lines.append, **kw)
        local = evaluate("scripted-explorer", "RefExp/TwoDrawer-v0", workers=1, **kw)
        same = all(on_ray[k] == local[k] for k in ("raw_successes", "raw_returns", "raw_rollouts"))
        report["harness"] = {"log": lines, "same_as_local": same, "success_rate": on_ray["success_rate"]}
        print("harness:", *lines, f"same trials as local: {same}", sep="\n  ", flush=True)

        sweeps = {}
        for name, backend in (("ray", Backend("ray", address)), ("local", Backend())):
            sc = SweepConfig(agents=("ours",), seeds=(0, 1), dataset="local:2", overrides=TINY,
                             runs_dir=str(tmp / name / "runs"), out=str(tmp / name / "out"), trials_per_task=0,
                             progress=False)
            if name == "local":  # the collected episodes, not collected again
                import shutil

                shutil.copytree(tmp / "ray" / "runs" / "data", tmp / "local" / "runs" / "data")
            sweeps[name] = run_sweep(sc, backend, log=print)
        import torch

        same_weights = True
        for seed in (0, 1):
            a_, b_ = (torch.load(next((tmp / s / "runs").glob(f"*/*/seed{seed}/agent-*/agent.pt")), weights_only=False)
                      for s in ("ray", "local"))
            same_weights &= all(torch.equal(a_[part][k], b_[part][k]) for part in ("frames", "belief", "actor")
                                for k in a_[part])
        stages = [json.loads(x) for x in (tmp / "ray" / "out" / "sweep_log.jsonl").read_text().splitlines()]
        report["sweep"] = {"stages": [{k: s[k] for k in ("stage", "variant", "node_id", "pid", "wall_s")} | {
            "dir": Path(s["key"]).name if "/" in s["key"] else s["key"]} for s in stages],
            "same_weights_as_local": same_weights}
        print("sweep stages:")
        for s in report["sweep"]["stages"]:
            print(f"  {s['stage']:7s} {s['dir'][:40]:40s} node {s['node_id'][:12]} pid {s['pid']}")
        print(f"sweep weights equal to the local sweep's: {same_weights}")
        used = {s["node_id"] for s in stages}
        report["sweep"]["nodes_used"] = sorted(used)
        print(f"stages ran on {len(used)} node(s); trials on: {lines}")
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        for proc in (second, head):
            if proc is not None:
                stop(proc)
    report["load_after"] = os.getloadavg()[0]
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
