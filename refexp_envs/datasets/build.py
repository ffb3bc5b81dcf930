"""Build a registered dataset deterministically from its seed, in parallel, resumably, atomically.

Stages (all under `<datasets root>/.refexp-staging/<id>/`, a hidden directory Minari never lists):

1. *collect*: episodes are cut into shards of `shard_size` consecutive indices; worker processes
   (multiprocessing "spawn": fork hangs once a GL context exists) roll out the behaviour policy of
   episode i's task `i % num_tasks` with seed `episode_seed(seed, i)` and write each shard to
   `shards/shard_NNNNN.npz` atomically (tmp file + rename). The data depend only on the seed and
   the index, never on the worker count or order. An interrupted build keeps its finished shards
   and a rerun collects only the missing ones (`build.json` pins the spec; a different spec wipes
   the staging directory).
2. *assemble*: a fresh Minari dataset (parquet, `jpeg_encoding=False`: lossless) is written into
   `staging/dataset/` from the shards in index order, with the task in every episode's infos and
   metadata, then the checksum and the sidecar `refexp.json` (written last).
3. *publish*: one `os.rename` moves `staging/dataset` to Minari's dataset directory: a dataset
   directory is either complete or absent. Then the pixel cache is built and the staging removed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import refexp_envs  # noqa: F401  (MUJOCO_GL before mujoco; registers the env ids)
from refexp_envs.datasets import checksum as ck
from refexp_envs.datasets.registry import DatasetSpec, get_spec

SHARD_SIZE = 10
STATE_PREFIX = "state__"  # shard arrays holding the state observation keys
_ENV_CACHE: dict = {}


class DatasetBuildError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------- collect
def _make_env(spec: DatasetSpec):
    import gymnasium as gym

    key = (spec.env_id, json.dumps(spec.env_kwargs(), sort_keys=True))
    if key not in _ENV_CACHE:
        _ENV_CACHE[key] = gym.make(spec.env_id, **spec.env_kwargs())
    return _ENV_CACHE[key]


def _close_envs() -> None:
    while _ENV_CACHE:
        _, env = _ENV_CACHE.popitem()
        env.close()


def collect_shard(spec: DatasetSpec, shard: int, indices: list[int], out_path: str) -> tuple[int, int, int]:
    """Collect episodes `indices` into one shard file (atomically). Returns (shard, n, successes)."""
    from refexp_envs.datasets.collect import collect_episode

    env = _make_env(spec)
    eps = [collect_episode(env, spec.task_of(i), spec.noise, spec.episode_seed(i)) for i in indices]
    arrays = {
        "indices": np.asarray(indices, dtype=np.int64),
        "tasks": np.asarray([e.task for e in eps], dtype=np.int64),
        "proprio": np.stack([e.proprio for e in eps]),
        "actions": np.stack([e.actions for e in eps]),
        "rewards": np.stack([e.rewards for e in eps]),
    }
    if eps[0].pixels is not None:
        arrays["pixels"] = np.stack([e.pixels for e in eps])
        arrays["gl"] = np.array(json.dumps(_renderer_of(env)))  # what drew them (GL strings, mujoco)
    for key in eps[0].state or {}:  # state observations: drawers (, handles)
        arrays[STATE_PREFIX + key] = np.stack([e.state[key] for e in eps])
    out = Path(out_path)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, out)
    return shard, len(eps), int(sum(e.success for e in eps))


def _policy_name(spec: DatasetSpec) -> str:
    """The behaviour policy class of a dataset's env (what its Minari metadata names)."""
    from refexp_envs import ENVS, DESK_ENTRY_POINT

    return "ScriptedMechanismPolicy" if ENVS[spec.env_id].entry_point == DESK_ENTRY_POINT else "ScriptedDrawerPolicy"


def _renderer_of(env) -> dict:
    """The GL strings of the renderer that drew `env`'s frames (its context is live: gl_info uses it)."""
    from refexp_envs.render import gl_info

    return gl_info()


def _worker(args) -> tuple[int, int, int]:
    spec, shard, indices, out_path = args
    return collect_shard(spec, shard, indices, out_path)


def _shard_plan(spec: DatasetSpec, shard_size: int) -> list[list[int]]:
    n = spec.num_episodes
    return [list(range(s, min(s + shard_size, n))) for s in range(0, n, shard_size)]


def _shard_file(shards_dir: Path, shard: int) -> Path:
    return shards_dir / f"shard_{shard:05d}.npz"


def progress_bar(enabled: bool):
    """The rich progress bar of dataset work (builds, cache fills); a silent one when not `enabled`."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )


def _collect(spec: DatasetSpec, stage: Path, workers: int, shard_size: int, progress: bool, ray_address=None,
             on_ray: bool = False) -> None:
    shards_dir = stage / "shards"
    shards_dir.mkdir(parents=True, exist_ok=True)
    plan = _shard_plan(spec, shard_size)
    for stale in shards_dir.glob("*.tmp.npz"):  # a shard cut off mid-write
        stale.unlink()
    todo = [k for k in range(len(plan)) if not _shard_file(shards_dir, k).is_file()]
    done_eps = spec.num_episodes - sum(len(plan[k]) for k in todo)
    jobs = [(spec, k, plan[k], str(_shard_file(shards_dir, k))) for k in todo]
    with progress_bar(progress) as bar:
        task = bar.add_task(f"collect {spec.dataset_id}", total=spec.num_episodes, completed=done_eps)
        if not jobs:
            return
        if on_ray:  # the same shards as Ray tasks, arrays through the object store (ray_build.py)
            from refexp_envs.datasets.ray_build import collect_on_ray

            collect_on_ray(spec, jobs, lambda n: bar.advance(task, n), ray_address, bar.console.print)
            return
        try:
            _map(_worker, jobs, workers, lambda result: bar.advance(task, result[1]))
        finally:
            _close_envs()  # envs opened in this process (one worker or one job)


# --------------------------------------------------------------------------------------- assemble
def _open_storage(data_dir: Path):
    """Minari's writer of an existing `data/` whose totals this process must not touch: workers
    write episode files side by side, and the parent writes `metadata.json` once at the end."""
    from minari.dataset.minari_storage import MinariStorage

    storage = MinariStorage.read(data_dir)
    storage.update_metadata = lambda metadata: None
    storage.get_size = lambda: 0.0  # Minari re-walks the whole tree per episode otherwise (O(N^2))
    return storage


def assemble_shard(job) -> dict:
    """Write one collected shard into the staged dataset: its episodes' Minari files (exactly what
    `MinariStorage.update_episodes` writes), their frames into the staged pixel cache at episode i's
    rows `i*(T+1) .. (i+1)*(T+1)`, and return what the parent needs without reading them again: each
    file's digests (full and non-pixel, checksum.py), the episodes' metadata and small arrays."""
    from minari.data_collector.episode_buffer import EpisodeBuffer

    spec, shard_path, data_dir, pixels_path = job
    data_dir = Path(data_dir)
    storage = _open_storage(data_dir)
    obs_keys = list(storage.observation_space.spaces)
    with np.load(shard_path) as z:
        data = {name: z[name] for name in z.files}
    T = spec.horizon
    buffers, meta, out = [], [], {"indices": data["indices"], "tasks": data["tasks"], "proprio": data["proprio"],
                                  "actions": data["actions"], "rewards": data["rewards"]}
    for j, index in enumerate(data["indices"].tolist()):
        task = int(data["tasks"][j])
        actions, rewards = data["actions"][j], data["rewards"][j]
        if len(actions) != T:
            raise DatasetBuildError(f"episode {index} has {len(actions)} steps, the spec's horizon is {T}")
        obs = {key: data[key if key in data else STATE_PREFIX + key][j] for key in obs_keys}
        success_steps = rewards > 0
        truncations = np.zeros(T, dtype=bool)
        truncations[-1] = True
        buffers.append(EpisodeBuffer(
            id=index, seed=spec.episode_seed(index), options={"task": task}, observations=obs, actions=actions,
            rewards=rewards, terminations=np.zeros(T, dtype=bool), truncations=truncations,
            # plain lists: Minari 0.5.4 cannot decode 1-D ndarray infos (empty shape tag)
            infos={"task": [task] * (T + 1), "success": [False] + [bool(x) for x in success_steps]}))
        meta.append({"task": task, "success": bool(success_steps.any()), "return": float(rewards.sum())})
    storage.update_episodes(buffers)
    storage.update_episode_metadata(meta, [b.id for b in buffers])
    if pixels_path is not None and "pixels" in data:
        pix = np.load(pixels_path, mmap_mode="r+")
        for j, index in enumerate(data["indices"].tolist()):
            pix[index * (T + 1):(index + 1) * (T + 1)] = data["pixels"][j]
        pix.flush()
        del pix
    digests, nonpixel, values = {}, {}, {}
    for b in buffers:
        for rel in (f"{b.id}/part-0.parquet", f"{b.id}/metadata.json"):
            digests[rel] = ck.file_digest(data_dir / rel, rel)
            nonpixel[rel], values[rel] = ck.value_digests(data_dir / rel, rel)
    out.update(meta=meta, digests=digests, nonpixel=nonpixel, values=values,
               gl=json.loads(str(data["gl"])) if "gl" in data else None)
    return out


def _map(fn, jobs: list, workers: int, on_done):
    """`fn` over `jobs` in `workers` spawned processes (in this one for workers <= 1), `on_done(result)`
    as each finishes, in any order."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            on_done(fn(job))
        return
    import multiprocessing as mp

    pool = mp.get_context("spawn").Pool(processes=min(workers, len(jobs)))
    try:
        for result in pool.imap_unordered(fn, jobs):
            on_done(result)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _assemble(spec: DatasetSpec, stage: Path, shard_size: int, progress: bool, workers: int = 1,
              cache: bool = True) -> tuple[Path, dict]:
    """Write the Minari dataset `stage/dataset` from the shards, in `workers` processes that each
    write their shards' episode files (and, with `cache`, their frames into `stage/cache`'s pixel
    cache) and return the files' digests, so that the checksums need no second pass over `data/`.
    Returns the dataset directory and its build record (checksums, success, size, renderers)."""
    import gymnasium as gym
    import minari
    from minari.dataset.minari_storage import MinariStorage

    out, cdir = stage / "dataset", stage / "cache"
    for d in (out, cdir):  # an assembly cut off earlier: restart it cleanly
        if d.exists():
            shutil.rmtree(d)
    (out / "data").mkdir(parents=True)

    env = gym.make(spec.env_id, **spec.env_kwargs())
    env_spec, obs_space, act_space = env.spec, env.observation_space, env.action_space
    env.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = MinariStorage.new(
            out / "data",
            observation_space=obs_space,
            action_space=act_space,
            env_spec=env_spec,
            data_format="parquet",
            jpeg_encoding=False,
        )
    storage.get_size = lambda: 0.0
    metadata = {
        "dataset_id": spec.dataset_id,
        "algorithm_name": f"refexp_envs.policies.{_policy_name(spec)}(noise={spec.noise})"
        + ("" if spec.version == 0 else f" (behaviour version {spec.version})"),
        "author": {"RefExp contributors"},
        "description": spec.description,
        "minari_version": minari.__version__,
        "refexp": {
            "env_id": spec.env_id,
            "behaviour": spec.behaviour,
            "noise": spec.noise,
            "episodes_per_task": spec.episodes_per_task,
            "num_tasks": spec.num_tasks,
            "seed": spec.seed,
            "task_key": "task",
        },
    }
    if spec.tasks:  # an env with a split: the tasks the data hold (the others' buffers are empty)
        metadata["refexp"]["tasks"] = list(spec.tasks)
    if spec.version == 0:
        # v0 shipped this placeholder (not the project's repository); it is part of the v0 data and
        # so of their pinned checksums. Later versions leave the field out until a real URL exists.
        metadata["code_permalink"] = "https://github.com/refexp/refexp"
    storage.update_metadata(metadata)

    n, T = spec.num_episodes, spec.horizon
    has_pixels = "pixels" in obs_space.spaces
    pixels_path = None
    if cache:
        cdir.mkdir(parents=True)
        if has_pixels:
            pixels_path = cdir / "pixels.npy"
            pix = np.lib.format.open_memmap(pixels_path, mode="w+", dtype=np.uint8,
                                            shape=(n * (T + 1), *obs_space["pixels"].shape))
            del pix
    jobs = [(spec, str(_shard_file(stage / "shards", k)), str(out / "data"), None if pixels_path is None
             else str(pixels_path)) for k in range(len(_shard_plan(spec, shard_size)))]
    results: list[dict] = []
    with progress_bar(progress) as bar:
        task_bar = bar.add_task(f"write   {spec.dataset_id}", total=n)

        def done(r: dict) -> None:
            results.append(r)
            bar.advance(task_bar, len(r["indices"]))

        _map(assemble_shard, jobs, workers, done)
    results.sort(key=lambda r: int(r["indices"][0]))
    episode_meta = [m for r in results for m in r["meta"]]
    storage.update_metadata({"total_steps": n * T, "total_episodes": n})
    # as Minari's own update_episode_metadata ends (it is what the pinned v0/v1 builds ran)
    storage.update_metadata({"dataset_size": 0.0})
    size = ck.data_size_bytes(out)
    storage.update_metadata({"dataset_size": float(np.round(size / 1e6, 1))})

    digests = {rel: d for r in results for rel, d in r["digests"].items()}
    nonpixel = {rel: d for r in results for rel, d in r["nonpixel"].items()}
    values = {rel: d for r in results for rel, d in r["values"].items()}
    files = {rel: path for rel, path in ck.data_files(out / "data")}
    for rel in set(files) - set(digests):  # metadata.json (and nothing else, for Minari 0.5.4)
        digests[rel] = ck.file_digest(files[rel], rel)
        nonpixel[rel], values[rel] = ck.value_digests(files[rel], rel)
    if set(digests) != set(files):
        raise DatasetBuildError(f"files of {out / 'data'} changed during the build: {sorted(set(digests) ^ set(files))[:5]}")

    successes = np.zeros(spec.num_tasks, dtype=np.int64)
    for m in episode_meta:
        successes[m["task"]] += m["success"]
    renderers = [r["gl"] for r in results if r["gl"] is not None]
    distinct = [json.loads(t) for t in sorted({json.dumps(g, sort_keys=True) for g in renderers})]
    record = {
        "episodes": n,
        "behaviour_success": float(successes.sum() / n),
        "behaviour_success_per_task": (successes[list(spec.data_tasks)] / spec.episodes_per_task).tolist(),
        "size_bytes": size,
        "sha256": ck.combine(digests),
        "nonpixel_sha256": ck.combine(nonpixel),
        "values_sha256": ck.combine(values),
        "renderer": (distinct[0] if len(distinct) == 1 else distinct) if distinct else None,
    }
    if cache:
        from refexp_envs.datasets.buffers import write_cache_files

        cat = lambda key: np.concatenate([r[key] for r in results]) if results else np.zeros(0)
        write_cache_files(cdir, spec.dataset_id, out, {
            "proprio": cat("proprio").reshape(n * (T + 1), -1),
            "actions": cat("actions").reshape(n * T, -1),
            "rewards": cat("rewards").reshape(n * T),
            "tasks": cat("tasks").astype(np.int64),
        }, T, num_tasks=spec.num_tasks, has_pixels=has_pixels)
    return out, record


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("minari", "pyarrow", "numpy", "mujoco", "gymnasium", "metaworld"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    out["refexp_envs"] = refexp_envs.__version__
    out["MUJOCO_GL"] = os.environ.get("MUJOCO_GL")
    return out


ENV_SOURCES = ("drawers.py", "desk.py", "scene.py", "render.py", "policies.py", "datasets/collect.py",
               "assets/visual_meshes_v1.npz")


def env_code_sha256() -> str:
    """SHA-256 of the env, renderer, policy and collector sources and the v1 meshes: what the data
    depend on. A change may mean that a rebuild gives different data (and a new checksum to pin).
    It covers the code of every env version at once: an edit for v1 changes it for v0 builds too,
    although the v0 data stay the same (their pinned checksums are the check that matters)."""
    import hashlib

    root = Path(refexp_envs.__file__).parent
    h = hashlib.sha256()
    for name in ENV_SOURCES:
        h.update(name.encode() + b"\0" + (root / name).read_bytes())
    return h.hexdigest()


def _ensure_namespaces(dataset_id: str) -> None:
    """Minari namespace metadata for `refexp` and `refexp/<env>` (as create_dataset_from_buffers)."""
    try:
        from minari.namespace import create_namespace, list_local_namespaces

        parts = dataset_id.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            ns = "/".join(parts[:i])
            if ns not in list_local_namespaces():
                create_namespace(ns)
    except Exception:  # cosmetic only: datasets load without namespace metadata
        pass


# ------------------------------------------------------------------------------------------ build
def build_dataset(
    dataset_id: str | DatasetSpec,
    workers: int = 0,
    progress: bool = True,
    *,
    force: bool = False,
    shard_size: int = SHARD_SIZE,
    cache: bool = True,
    backend: str = "local",
    ray_address: str | None = None,
) -> Path:
    """Build `dataset_id` into Minari's dataset directory and return its path.

    workers: processes for collection (0 = all cores, 1 = in this process).
    force: rebuild even if a complete dataset is present (replaced atomically at the end).
    backend: "local" (processes) or "ray" (shards as Ray tasks at `ray_address`; the same bytes).
    An interrupted build resumes from its finished shards when run again.
    """
    from rich.console import Console

    console = Console(stderr=True, quiet=not progress)
    spec = get_spec(dataset_id)
    final = ck.dataset_path(spec.dataset_id)
    if ck.is_complete(final) and not force:
        console.print(f"{spec.dataset_id} is already built at {final} (use --force to rebuild)")
        return final
    if final.exists() and not ck.is_complete(final) and not force:
        raise DatasetBuildError(
            f"{final} exists but is not a complete RefExp dataset (no {ck.SIDECAR}); "
            f"remove it or rebuild with --force"
        )
    workers = (os.cpu_count() or 1) if workers <= 0 else workers

    t0, load_start = time.perf_counter(), os.getloadavg()[0]
    stage = ck.staging_path(spec.dataset_id)
    fingerprint = {**spec.fingerprint(), "shard_size": shard_size, "env_code_sha256": env_code_sha256()}
    build_json = stage / "build.json"
    if stage.exists():
        try:
            previous = json.loads(build_json.read_text())
        except (OSError, ValueError):
            previous = None
        if previous != fingerprint:
            shutil.rmtree(stage)
        else:
            console.print(f"resuming the build of {spec.dataset_id} from {stage}")
    stage.mkdir(parents=True, exist_ok=True)
    ck.write_json_atomic(build_json, fingerprint)

    _collect(spec, stage, workers, shard_size, progress, ray_address, on_ray=backend == "ray")
    t_collect = time.perf_counter() - t0
    out, record = _assemble(spec, stage, shard_size, progress, workers=workers, cache=cache)
    digest = record["sha256"]
    seconds = time.perf_counter() - t0
    sidecar = {
        "dataset_id": spec.dataset_id,
        "spec": dataclasses.asdict(spec),
        "checksum": "sha256 over data/ (refexp_envs/datasets/checksum.py); nonpixel_sha256 and values_sha256: "
                    "over the values without and with the pixels; renderer: what drew the pixels (GL vendor, renderer, version; mujoco)",
        **record,
        "build_seconds": round(seconds, 1),
        "collect_seconds": round(t_collect, 1),
        "workers": workers,
        "load_average": [round(load_start, 1), round(os.getloadavg()[0], 1)],  # 1-min, at start and end
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "versions": _versions(),
        "env_code_sha256": env_code_sha256(),
    }
    ck.write_json_atomic(out / ck.SIDECAR, sidecar)

    # publish: one rename (a replaced old dataset is moved aside first, then deleted)
    final.parent.mkdir(parents=True, exist_ok=True)
    old = stage / "old"
    if final.exists():
        os.rename(final, old)
    os.rename(out, final)
    if cache and (stage / "cache" / "cache.json").is_file():  # written with the dataset (assemble_shard)
        cdir = ck.cache_path(spec.dataset_id)
        cdir.parent.mkdir(parents=True, exist_ok=True)
        if cdir.exists():
            shutil.rmtree(cdir)
        os.rename(stage / "cache", cdir)
    _ensure_namespaces(spec.dataset_id)
    shutil.rmtree(stage, ignore_errors=True)
    try:
        stage.parent.rmdir()  # the staging root, when nothing else is in progress
    except OSError:
        pass
    console.print(
        f"built {spec.dataset_id}: {spec.num_episodes} episodes, behaviour success "
        f"{record['behaviour_success']:.1%}, {record['size_bytes'] / 1e6:.1f} MB, "
        f"{seconds:.0f} s with {workers} workers\n  at {final}\n  sha256 {digest}"
    )
    if spec.sha256 and spec.sha256 != digest:
        from refexp_envs.datasets.download import explain_mismatch

        console.print("[yellow]warning: " + explain_mismatch(spec, sidecar, digest, record["nonpixel_sha256"],
                                                            record["values_sha256"]),
                      markup=False, highlight=False)
    if cache:
        from refexp_envs.datasets.buffers import build_cache

        build_cache(spec.dataset_id, progress=progress)
    return final
