"""The harness's trials on a Ray cluster: actors each hosting one `TrialRunner`, reused across trials.

`run_ray` is the Ray twin of `workers.run_parallel`: the same chunks of `TrialSpec`s (task ids,
never the secret) go to `workers` actors, each actor keeps its envs and agents between chunks, and
`on_result` sees every trial once. A chunk's trials come back together when the chunk is done, so
an actor that dies mid-chunk loses nothing and counts nothing twice: Ray restarts the actor and
re-runs the whole chunk (`max_restarts`, `max_task_retries`); the trials are a pure function of
their spec, so the rerun gives the same results.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Sequence

from benchmark.protocol import TrialResult, TrialSpec
from refexp_envs.backend import connect_ray, node_id

IN_FLIGHT_PER_ACTOR = 2  # chunks queued per actor, so an actor never waits for the driver
RESTARTS = 3  # restarts of a dead actor (and retries of its chunks) before the run fails


class TrialActor:
    """A Ray actor holding one `TrialRunner` (envs + agents of one process)."""

    def __init__(self, agent_spec: str, env_id: str, obs_type: str, device: str, allow_env_mismatch: bool):
        import os

        os.environ.setdefault("OMP_NUM_THREADS", "1")
        try:
            import torch

            torch.set_num_threads(1)  # actors already use every core between them
        except ImportError:
            pass
        from benchmark.workers import TrialRunner

        self.runner = TrialRunner(agent_spec, env_id, obs_type, device, allow_env_mismatch)

    def run(self, chunk: Sequence[TrialSpec]) -> tuple[str | None, int, list[TrialResult]]:
        """Run a chunk; returns (node id, process id, its results)."""
        import os

        return node_id(), os.getpid(), list(self.runner.run(chunk))

    def pid(self) -> int:
        import os

        return os.getpid()


def num_actors(ray, workers: int, jobs: int) -> int:
    """0 = one actor per CPU of the cluster; never more actors than chunks."""
    if workers == 0:
        workers = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(workers, jobs))


def run_ray(agent_spec: str, env_id: str, obs_type: str, device: str, allow_env_mismatch: bool,
            todo: list[list[TrialSpec]], workers: int, on_result: Callable[[TrialResult], None],
            address: str | None = None, log: Callable[[str], None] | None = None) -> int:
    """Run the chunks `todo` on Ray actors; `on_result` sees every trial once. Returns the actor count.

    Each actor asks for one CPU, and a share of one GPU (1 / actors) when `device` is cuda.
    """
    ray = connect_ray(address)
    n = num_actors(ray, workers, len(todo))
    gpus = 1.0 / n if device.startswith("cuda") else 0
    Actor = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=RESTARTS, max_task_retries=RESTARTS)(TrialActor)
    actors = [Actor.remote(agent_spec, env_id, obs_type, device, allow_env_mismatch) for _ in range(n)]
    pending: dict = {}  # ref -> actor index
    queue = list(reversed(todo))
    per_node: Counter = Counter()
    seen: set[tuple[int, int]] = set()

    def submit(i: int) -> None:
        if queue:
            pending[actors[i].run.remote(queue.pop())] = i

    try:
        for i in range(n):
            for _ in range(IN_FLIGHT_PER_ACTOR):
                submit(i)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ready[0])
            node, _pid, results = ray.get(ready[0])
            for res in results:
                key = (res.training_seed, res.trial)
                if key in seen:  # cannot happen with whole-chunk results; guarded so a count never doubles
                    continue
                seen.add(key)
                on_result(res)
            per_node[node] += len(results)
            submit(i)
    finally:
        for a in actors:
            ray.kill(a)
    if log is not None:
        log("ray: trials per node: " + ", ".join(f"{nid[:12]}={k}" for nid, k in sorted(per_node.items())))
    return n
