"""Offline datasets: standardized Minari ids, build, download, verify, and per-task buffers.

    from refexp_envs.datasets import load_task_buffers
    buffers = load_task_buffers("refexp/two-drawer/expert-v0")   # B_1..B_N, read lazily
    ep = buffers.load_episode(buffers.episode_ids(0)[0])

Command line: `python -m refexp_envs.datasets {list,info,build,download,verify,path,pack,cache}`.
See docs/datasets.md.
"""

from refexp_envs.datasets.buffers import (
    DatasetNotFoundError,
    MinariTaskBuffers,
    build_cache,
    load_task_buffers,
)
from refexp_envs.datasets.build import DatasetBuildError, build_dataset
from refexp_envs.datasets.checksum import checksum_dir, dataset_path
from refexp_envs.datasets.collect import collect_episode
from refexp_envs.datasets.download import (
    ChecksumError,
    DownloadError,
    VerifyResult,
    download_dataset,
    pack_dataset,
    verify_dataset,
)
from refexp_envs.datasets.episode import Episode, InMemoryTaskBuffers, TaskBuffers
from refexp_envs.datasets.registry import REGISTRY, DatasetSpec, UnknownDatasetError, get_spec

__all__ = [
    "Episode",
    "TaskBuffers",
    "InMemoryTaskBuffers",
    "collect_episode",
    "REGISTRY",
    "DatasetSpec",
    "get_spec",
    "UnknownDatasetError",
    "build_dataset",
    "DatasetBuildError",
    "download_dataset",
    "verify_dataset",
    "pack_dataset",
    "VerifyResult",
    "DownloadError",
    "ChecksumError",
    "dataset_path",
    "checksum_dir",
    "load_task_buffers",
    "MinariTaskBuffers",
    "DatasetNotFoundError",
    "build_cache",
]
