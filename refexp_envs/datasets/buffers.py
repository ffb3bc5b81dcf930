"""Per-task buffers B_1..B_N over a Minari dataset, read lazily.

`load_task_buffers(dataset_id)` gives a `TaskBuffers` whose episodes come from a pixel cache built
once next to the dataset (`<datasets root>/.refexp-cache/<id>/`):

    pixels.npy   uint8 (total frames, S, S, 3), memory-mapped: never loaded whole
    arrays.npz   per-frame proprio, per-step actions/rewards, episode offsets, tasks, success
    cache.json   its record: what it was built from (a fingerprint of data/metadata.json), its
                 shapes, and per file its size, its SHA-256 and the SHA-256 of a sample (SAMPLE_BLOCKS
                 blocks of SAMPLE_BYTES spread over the file, or the whole file if smaller)

Reading an episode is then one slice copy from the page cache, so a batch of 32 sequences of 150
steps (96 episodes of 50 steps) takes milliseconds (docs/datasets.md). The cache is built at the
end of `build`, after `download`, or on first use; it is written to a temporary directory and
renamed, and rebuilt when the dataset changes. Opening it checks every file against the record:
by default every byte (the full SHA-256: about 3 s per GB here, once per process), so that a
changed byte anywhere cannot load silently; `full_check=False` checks sizes and a sampled checksum
only (constant time; it misses a changed byte outside the sampled blocks). A damaged cache (e.g. a
`pixels.npy` truncated by a full disk) is reported with a `CacheDamagedWarning` saying what is
wrong, and rebuilt from the dataset. `python -m refexp_envs.datasets verify ID` checks the dataset
and its cache, every byte. Without a cache (`cache=False`) every episode is read from Minari's parquet files.
"""

from __future__ import annotations

import collections.abc
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Sequence

import warnings

import numpy as np

import refexp_envs  # noqa: F401  (MUJOCO_GL before mujoco; registers env ids for Minari)
from refexp_envs.datasets import checksum as ck
from refexp_envs.datasets.episode import Episode

CACHE_VERSION = 2  # 2: cache.json records each file's size and checksums
CACHE_FILES = ("pixels.npy", "arrays.npz")
SAMPLE_BLOCKS, SAMPLE_BYTES = 64, 1 << 16


class DatasetNotFoundError(FileNotFoundError):
    pass


class CacheDamagedWarning(UserWarning):
    """The pixel cache did not match its own record and was rebuilt from the dataset."""


def require_local(dataset_id: str) -> Path:
    """The local folder of `dataset_id`, or DatasetNotFoundError saying how to build or download it."""
    path = ck.dataset_path(dataset_id)
    if not (path / "data" / "metadata.json").is_file():
        raise DatasetNotFoundError(
            f"dataset {dataset_id!r} is not in {ck.datasets_root()} ($MINARI_DATASETS_PATH).\n"
            f"Build it here (deterministic: the registry's SHA-256; see `info` for its size):\n"
            f"  python -m refexp_envs.datasets build {dataset_id}\n"
            f"or download it, once a dataset host is published (docs/datasets.md):\n"
            f"  python -m refexp_envs.datasets download {dataset_id}"
        )
    return path


def _fingerprint(path: Path) -> str:
    return hashlib.sha256((path / "data" / "metadata.json").read_bytes()).hexdigest()


def _storage(path: Path):
    from minari.dataset.minari_storage import MinariStorage

    return MinariStorage.read(path / "data")


def _num_tasks(metadata: dict, tasks: np.ndarray) -> int:
    info = metadata.get("refexp") or {}
    if "num_tasks" in info:
        return int(info["num_tasks"])
    try:
        return refexp_envs.num_tasks(json.loads(metadata["env_spec"])["id"])
    except (KeyError, ValueError, TypeError):
        return int(tasks.max()) + 1


def _to_episode(raw: dict, task: int) -> Episode:
    obs = raw["observations"]
    return Episode(
        pixels=np.asarray(obs["pixels"], dtype=np.uint8) if "pixels" in obs else None,
        proprio=np.asarray(obs["proprio"], dtype=np.float32),
        actions=np.asarray(raw["actions"], dtype=np.float32),
        rewards=np.asarray(raw["rewards"], dtype=np.float32),
        task=int(task),
    )


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _sample_sha256(path: Path, size: int) -> str:
    """SHA-256 of SAMPLE_BLOCKS blocks of SAMPLE_BYTES at evenly spaced offsets (the first block
    holds the .npy header, the last ends at the end of the file); the whole file if it is smaller."""
    if size <= SAMPLE_BLOCKS * SAMPLE_BYTES:
        return _file_sha256(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for i in range(SAMPLE_BLOCKS):
            f.seek(i * (size - SAMPLE_BYTES) // (SAMPLE_BLOCKS - 1))
            h.update(f.read(SAMPLE_BYTES))
    return h.hexdigest()


def _file_record(path: Path) -> dict:
    size = path.stat().st_size
    return {"bytes": size, "sha256": _file_sha256(path), "sample_sha256": _sample_sha256(path, size)}


def _read_record(dataset_id: str) -> dict | None:
    try:
        return json.loads((ck.cache_path(dataset_id) / "cache.json").read_text())
    except (OSError, ValueError):
        return None


def cache_damage(dataset_id: str, full: bool = False) -> list[str]:
    """What is wrong with the files of a current cache, measured against its own record: a missing
    file, a size or a checksum that differs (the sampled one; every byte with `full=True`). Empty
    when they match, and when there is no current cache (none, or one of another dataset or
    version: that is stale, not damaged)."""
    record = _read_record(dataset_id)
    if not _is_current(dataset_id, record):
        return []
    cdir, problems = ck.cache_path(dataset_id), []
    for name, want in record["files"].items():
        path = cdir / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        size = path.stat().st_size
        if size != want["bytes"]:
            problems.append(f"{name} has {size} bytes, its record says {want['bytes']}" +
                            (" (truncated)" if size < want["bytes"] else ""))
        elif full and _file_sha256(path) != want["sha256"]:
            problems.append(f"{name}: its SHA-256 differs from its record")
        elif not full and _sample_sha256(path, size) != want["sample_sha256"]:
            problems.append(f"{name}: its sampled SHA-256 differs from its record")
    return problems


def _is_current(dataset_id: str, record: dict | None) -> bool:
    try:
        return (record is not None and record.get("version") == CACHE_VERSION and "files" in record
                and record.get("fingerprint") == _fingerprint(ck.dataset_path(dataset_id)))
    except OSError:
        return False


def cache_is_valid(dataset_id: str, full: bool = False) -> bool:
    """A current cache whose files match its record (see `cache_damage`)."""
    return _is_current(dataset_id, _read_record(dataset_id)) and not cache_damage(dataset_id, full)


def _rebuild_if_damaged(dataset_id: str, full: bool, progress: bool) -> None:
    problems = cache_damage(dataset_id, full)
    if problems:
        warnings.warn(
            f"the pixel cache of {dataset_id} at {ck.cache_path(dataset_id)} does not match its record: "
            f"{'; '.join(problems)}. Rebuilding it from the dataset.",
            CacheDamagedWarning,
            stacklevel=2,
        )
        shutil.rmtree(ck.cache_path(dataset_id), ignore_errors=True)
        build_cache(dataset_id, progress=progress)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_cache(dataset_id: str, progress: bool = False, batch: int = 50, check: bool = False) -> Path:
    """Write the pixel cache of a local dataset (atomically; a no-op when already valid).

    check: verify a present cache's full checksums (else sizes and samples); a damaged cache is
    reported (`CacheDamagedWarning`) and rebuilt."""
    path = require_local(dataset_id)
    cdir = ck.cache_path(dataset_id)
    _rebuild_if_damaged(dataset_id, check, progress)
    if cache_is_valid(dataset_id):
        return cdir
    storage = _storage(path)
    meta = storage.metadata
    n = int(meta["total_episodes"])
    ep_meta = list(storage.get_episode_metadata(range(n)))
    lengths = np.array([int(m["total_steps"]) for m in ep_meta], dtype=np.int64)
    frame_off = np.concatenate([[0], np.cumsum(lengths + 1)])
    step_off = np.concatenate([[0], np.cumsum(lengths)])
    has_pixels = "pixels" in storage.observation_space.spaces
    S = storage.observation_space["pixels"].shape if has_pixels else None

    for stale in cdir.parent.glob(f"{cdir.name}.tmp*"):  # left by a killed process
        pid = stale.name.rsplit(".tmp", 1)[1]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = cdir.with_name(f"{cdir.name}.tmp{os.getpid()}")  # per process: concurrent first uses
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    pix = (
        np.lib.format.open_memmap(tmp / "pixels.npy", mode="w+", dtype=np.uint8, shape=(int(frame_off[-1]), *S))
        if has_pixels
        else None
    )
    proprio = np.zeros((int(frame_off[-1]), 4), np.float32)
    actions = np.zeros((int(step_off[-1]), 4), np.float32)
    rewards = np.zeros(int(step_off[-1]), np.float32)
    tasks = np.zeros(n, np.int64)
    from refexp_envs.datasets.build import progress_bar

    with progress_bar(progress) as bar:
        t = bar.add_task(f"cache   {dataset_id}", total=n)
        for start in range(0, n, batch):
            ids = list(range(start, min(start + batch, n)))
            for i, raw in zip(ids, storage.get_episodes(ids)):
                f0, f1, s0, s1 = frame_off[i], frame_off[i + 1], step_off[i], step_off[i + 1]
                obs = raw["observations"]
                if has_pixels:
                    pix[f0:f1] = obs["pixels"]
                proprio[f0:f1] = obs["proprio"]
                actions[s0:s1] = raw["actions"]
                rewards[s0:s1] = raw["rewards"]
                task = ep_meta[i].get("task")
                if task is None:  # fall back to the recorded infos
                    task = int(np.asarray(raw["infos"]["task"])[0])
                tasks[i] = int(task)
            bar.advance(t, len(ids))
    if pix is not None:
        pix.flush()
        del pix
    write_cache_files(tmp, dataset_id, path, {"proprio": proprio, "actions": actions, "rewards": rewards,
                                              "tasks": tasks}, None, _num_tasks(meta, tasks), has_pixels,
                      frame_offsets=frame_off, step_offsets=step_off)
    if cache_is_valid(dataset_id):  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
        return cdir
    if cdir.exists():
        shutil.rmtree(cdir)
    try:
        os.rename(tmp, cdir)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not cache_is_valid(dataset_id):
            raise
    return cdir


class TaskBuffer(collections.abc.Sequence):
    """Buffer B_i: the episodes of one task, as a read-only sequence (`len`, `buf[j]`, slices,
    iteration), each episode read only when asked for."""

    def __init__(self, buffers: "MinariTaskBuffers", task: int):
        self.task = task
        self.episode_ids = buffers.episode_ids(task)  # the dataset's own ids of this task's episodes
        self._buffers = buffers

    def __len__(self) -> int:
        return len(self.episode_ids)

    def __getitem__(self, j):
        if isinstance(j, slice):
            return self._buffers.load_episodes(self.episode_ids[j])
        return self._buffers.load_episode(self.episode_ids[j])  # numpy raises IndexError past the end

    def __repr__(self) -> str:
        return f"TaskBuffer(task={self.task}, episodes={len(self)})"


def write_cache_files(cdir: Path, dataset_id: str, dataset_dir: Path, arrays: dict, horizon: int | None,
                      num_tasks: int, has_pixels: bool, frame_offsets=None, step_offsets=None) -> None:
    """Finish a cache directory whose `pixels.npy` (if any) is written: `arrays.npz` from `arrays`
    (proprio, actions, rewards, tasks; offsets from `horizon` when every episode has that many
    steps) and last the record `cache.json`, fingerprinted with `dataset_dir`'s metadata.json."""
    n = len(arrays["tasks"])
    if frame_offsets is None:
        frame_offsets = np.arange(n + 1, dtype=np.int64) * (horizon + 1)
        step_offsets = np.arange(n + 1, dtype=np.int64) * horizon
    np.savez(
        cdir / "arrays.npz",
        frame_offsets=frame_offsets,
        step_offsets=step_offsets,
        proprio=arrays["proprio"],
        actions=arrays["actions"],
        rewards=arrays["rewards"],
        tasks=arrays["tasks"],
    )
    ck.write_json_atomic(
        cdir / "cache.json",
        {
            "version": CACHE_VERSION,
            "dataset_id": dataset_id,
            "fingerprint": _fingerprint(dataset_dir),
            "episodes": n,
            "frames": int(frame_offsets[-1]),
            "num_tasks": int(num_tasks),
            "pixels": bool(has_pixels),
            "files": {name: _file_record(cdir / name) for name in CACHE_FILES if (cdir / name).is_file()},
        },
    )


class MinariTaskBuffers:
    """`TaskBuffers` over a local Minari dataset; episode ids are the dataset's own.

    `bufs[i]` is buffer B_i (the episodes of task i, a `TaskBuffer`), `len(bufs)` the number of
    tasks; `load_episode(id)` / `load_episodes(ids)` read by dataset episode id. Only the episodes
    asked for are read: from the memory-mapped pixel cache when there is one (the default), else
    from the parquet files.
    """

    def __init__(self, dataset_id: str, cache: bool = True, full_check: bool = True):
        self.dataset_id = dataset_id
        self.path = require_local(dataset_id)
        self._storage = None
        self._cached = False
        if cache:
            build_cache(dataset_id, progress=False, check=full_check)  # checks it against its record first
            cdir = ck.cache_path(dataset_id)
            info = json.loads((cdir / "cache.json").read_text())
            with np.load(cdir / "arrays.npz") as z:
                self._arr = {k: z[k] for k in z.files}
            self._pixels = np.load(cdir / "pixels.npy", mmap_mode="r") if info["pixels"] else None
            tasks = self._arr["tasks"]
            self.num_tasks = int(info["num_tasks"])
            self._cached = True
        else:
            storage = self._get_storage()
            n = int(storage.metadata["total_episodes"])
            ep_meta = list(storage.get_episode_metadata(range(n)))
            tasks = np.array([int(m["task"]) for m in ep_meta], dtype=np.int64)
            self.num_tasks = _num_tasks(storage.metadata, tasks)
        self.tasks = tasks
        self._ids = [np.flatnonzero(tasks == i) for i in range(self.num_tasks)]

    def __len__(self) -> int:
        return self.num_tasks

    def __getitem__(self, task: int) -> TaskBuffer:
        if isinstance(task, bool) or not isinstance(task, (int, np.integer)):
            raise TypeError(f"buffers are indexed by task, an int in range({self.num_tasks}); got {task!r}")
        if not -self.num_tasks <= task < self.num_tasks:
            raise IndexError(f"task {task} out of range: this dataset has tasks 0..{self.num_tasks - 1}")
        return TaskBuffer(self, int(task) % self.num_tasks)

    def __repr__(self) -> str:
        return f"MinariTaskBuffers({self.dataset_id!r}, tasks={self.num_tasks}, episodes={self.num_episodes})"

    def _get_storage(self):
        if self._storage is None:
            self._storage = _storage(self.path)
        return self._storage

    @property
    def num_episodes(self) -> int:
        return len(self.tasks)

    def episode_ids(self, task: int) -> np.ndarray:
        return self._ids[task]

    def load_episode(self, episode_id: int) -> Episode:
        return self.load_episodes([episode_id])[0]

    def load_episodes(self, episode_ids: Sequence[int]) -> list[Episode]:
        """Several episodes at once (one parquet scan when uncached)."""
        ids = [int(i) for i in episode_ids]
        for i in ids:
            if not 0 <= i < self.num_episodes:
                raise IndexError(f"episode id {i} out of range [0, {self.num_episodes})")
        if not self._cached:
            raws = list(self._get_storage().get_episodes(ids))
            return [_to_episode(r, self.tasks[i]) for i, r in zip(ids, raws)]
        a, out = self._arr, []
        fo, so = a["frame_offsets"], a["step_offsets"]
        for i in ids:
            f0, f1, s0, s1 = fo[i], fo[i + 1], so[i], so[i + 1]
            out.append(
                Episode(
                    pixels=None if self._pixels is None else np.array(self._pixels[f0:f1]),
                    proprio=a["proprio"][f0:f1].copy(),
                    actions=a["actions"][s0:s1].copy(),
                    rewards=a["rewards"][s0:s1].copy(),
                    task=int(a["tasks"][i]),
                )
            )
        return out

    def load_sequences(self, sequences: Sequence[Sequence[int]], steps: int | None = None) -> dict:
        """A batch of concatenated episodes in one copy (the fast path for meta-trajectories).

        `sequences[b]` lists the episode ids of row b (all rows as long). Each episode contributes
        its first T observations (the final one is dropped) and its T actions and rewards, so row
        b is `[o_1..o_T of ep 1, o_1..o_T of ep 2, ...]`, cut to `steps` if given. Returns
        `{"pixels": uint8 (B, L, S, S, 3) or None, "proprio": (B, L, 4), "actions": (B, L, 4),
        "rewards": (B, L), "tasks": int64 (B, K)}`.
        """
        rows = [[int(i) for i in seq] for seq in sequences]
        if not self._cached:
            eps = [self.load_episodes(r) for r in rows]
            cat = lambda f: np.stack([np.concatenate([getattr(e, f)[: e.length] for e in r])[:steps] for r in eps])
            return {
                "pixels": None if eps[0][0].pixels is None else cat("pixels"),
                "proprio": cat("proprio"),
                "actions": cat("actions"),
                "rewards": cat("rewards"),
                "tasks": np.array([[e.task for e in r] for r in eps], dtype=np.int64),
            }
        a = self._arr
        fo, so = a["frame_offsets"], a["step_offsets"]
        lens = [sum(int(so[i + 1] - so[i]) for i in r) for r in rows]
        L = min(lens) if steps is None else int(steps)
        if any(n < L for n in lens):
            raise ValueError(f"sequences have {min(lens)} steps, fewer than steps={L}")
        B = len(rows)
        pix = None if self._pixels is None else np.empty((B, L, *self._pixels.shape[1:]), np.uint8)
        out = {
            "proprio": np.empty((B, L, 4), np.float32),
            "actions": np.empty((B, L, 4), np.float32),
            "rewards": np.empty((B, L), np.float32),
        }
        for b, r in enumerate(rows):
            t = 0
            for i in r:
                n = min(int(so[i + 1] - so[i]), L - t)
                if n <= 0:
                    break
                f0, s0 = int(fo[i]), int(so[i])
                if pix is not None:
                    pix[b, t : t + n] = self._pixels[f0 : f0 + n]
                out["proprio"][b, t : t + n] = a["proprio"][f0 : f0 + n]
                out["actions"][b, t : t + n] = a["actions"][s0 : s0 + n]
                out["rewards"][b, t : t + n] = a["rewards"][s0 : s0 + n]
                t += n
        out["pixels"] = pix
        out["tasks"] = np.array([[int(a["tasks"][i]) for i in r] for r in rows], dtype=np.int64)
        return out

    def as_arrays(self) -> dict:
        """The whole dataset as stacked arrays without loading it: `pixels` is a read-only
        memory-mapped `uint8 (N, T+1, S, S, 3)` view of the cache (pages are read on access),
        `proprio (N, T+1, 4)`, `actions (N, T, 4)`, `rewards (N, T)`, `tasks (N,)` in memory.
        Needs the cache and episodes of equal length (true for every registered dataset)."""
        if not self._cached:
            raise ValueError("as_arrays needs the pixel cache (load_task_buffers(id, cache=True))")
        a = self._arr
        lengths = np.diff(a["step_offsets"])
        if len(set(lengths.tolist())) != 1:
            raise ValueError("episodes have different lengths; use load_episode(s)")
        n, T = len(lengths), int(lengths[0])
        return {
            "pixels": None if self._pixels is None else self._pixels.reshape(n, T + 1, *self._pixels.shape[1:]),
            "proprio": a["proprio"].reshape(n, T + 1, -1),
            "actions": a["actions"].reshape(n, T, -1),
            "rewards": a["rewards"].reshape(n, T),
            "tasks": a["tasks"].copy(),
        }

    def minari_dataset(self):
        """The underlying `minari.MinariDataset`."""
        import minari

        return minari.load_dataset(self.dataset_id)


def load_task_buffers(dataset_id: str, cache: bool = True, full_check: bool = True) -> MinariTaskBuffers:
    """Per-task buffers B_1..B_N of a local dataset (built or downloaded), read lazily. `full_check`:
    the pixel cache's every byte against its record (else sizes and sampled blocks: faster, weaker)."""
    return MinariTaskBuffers(dataset_id, cache=cache, full_check=full_check)


def benchmark_sampling(dataset_id: str, batch: int = 32, steps: int = 150, reps: int = 20,
                       cache: bool = True, seed: int = 0) -> dict:
    """Time sampling `batch` sequences of `steps` steps (each a concatenation of random episodes of
    random tasks, as the meta-trajectories of the method) into one uint8 pixel batch: with
    `load_sequences` (one copy) and with `load_episodes` + concatenate + stack. Milliseconds."""
    import time

    bufs = load_task_buffers(dataset_id, cache=cache)
    rng = np.random.default_rng(seed)
    ep_len = bufs.load_episode(0).length
    per_seq = -(-steps // ep_len)

    def draw():
        rows = []
        for _ in range(batch):
            row = []
            for _ in range(per_seq):
                task_ids = bufs.episode_ids(int(rng.integers(bufs.num_tasks)))
                row.append(int(task_ids[rng.integers(len(task_ids))]))
            rows.append(row)
        return rows

    times, times_eps = [], []
    for _ in range(reps):  # the fast path: one copy into the batch
        t0 = time.perf_counter()
        pixels = bufs.load_sequences(draw(), steps)["pixels"]
        times.append((time.perf_counter() - t0) * 1e3)
    for _ in range(reps):  # episode by episode, as `load_episodes` + concatenate + stack
        t0 = time.perf_counter()
        eps = bufs.load_episodes([i for row in draw() for i in row])
        np.stack(
            [np.concatenate([e.pixels[:-1] for e in eps[b * per_seq:(b + 1) * per_seq]])[:steps] for b in range(batch)]
        )
        times_eps.append((time.perf_counter() - t0) * 1e3)
    return {
        "dataset_id": dataset_id,
        "batch": batch,
        "steps": steps,
        "episodes_read": batch * per_seq,
        "batch_shape": list(pixels.shape),
        "cache": cache,
        "first_ms": round(times[0], 1),
        "median_ms": round(float(np.median(times)), 1),
        "p90_ms": round(float(np.percentile(times, 90)), 1),
        "load_episodes_median_ms": round(float(np.median(times_eps)), 1),
        "load_episodes_p90_ms": round(float(np.percentile(times_eps, 90)), 1),
    }
