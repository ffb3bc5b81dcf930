"""The collect stage of a dataset build as Ray tasks, the data coming back through the object store.

Each shard is one Ray task that runs `build.collect_shard` on whichever node Ray picks, into a
temporary file there, and returns the shard's arrays; the driver writes them into its own staging
directory (tmp file + rename, as the local build does). So the workers need no file system in
common with the driver, the assembled dataset (and its SHA-256) is the local build's, and an
interrupted build resumes from the shards the driver has. A task whose worker dies is retried
(`max_retries`); a shard is written once, when its task's result arrives.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from refexp_envs.backend import connect_ray, node_id

MAX_RETRIES = 3
IN_FLIGHT_PER_CPU = 2  # shards queued per CPU: enough to keep workers busy, few enough to bound memory


def shard_arrays(spec, shard: int, indices: list[int]) -> tuple[dict[str, np.ndarray], int, str | None]:
    """Collect one shard on this worker; returns (its arrays, successes, Ray node id)."""
    from refexp_envs.datasets.build import collect_shard

    with tempfile.TemporaryDirectory(prefix="refexp-shard-") as tmp:
        path = Path(tmp) / f"shard_{shard:05d}.npz"
        _, _, successes = collect_shard(spec, shard, indices, str(path))
        with np.load(path) as z:
            arrays = {name: z[name] for name in z.files}
    return arrays, successes, node_id()


def write_shard(arrays: dict[str, np.ndarray], out_path: str | Path) -> None:
    out = Path(out_path)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, out)


def collect_on_ray(spec, jobs: Sequence[tuple], advance: Callable[[int], None], address: str | None = None,
                   log: Callable[[str], None] | None = None) -> dict[str, int]:
    """Run `jobs` ((spec, shard, indices, out_path) as the local build's) as Ray tasks; `advance(n)`
    after each shard is written. Returns episodes collected per Ray node."""
    ray = connect_ray(address)
    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(shard_arrays)
    limit = max(1, int(ray.cluster_resources().get("CPU", 1)) * IN_FLIGHT_PER_CPU)
    queue = list(reversed(jobs))
    pending: dict = {}
    per_node: dict[str, int] = {}
    spec_ref = ray.put(spec)
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                _, shard, indices, out_path = queue.pop()
                pending[task.remote(spec_ref, shard, indices)] = (indices, out_path)
            done, _ = ray.wait(list(pending), num_returns=1)
            indices, out_path = pending.pop(done[0])
            arrays, _, nid = ray.get(done[0])
            write_shard(arrays, out_path)
            per_node[nid or "?"] = per_node.get(nid or "?", 0) + len(indices)
            advance(len(indices))
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
    if log is not None:
        log("ray: episodes per node: " + ", ".join(f"{k[:12]}={v}" for k, v in sorted(per_node.items())))
    return per_node
