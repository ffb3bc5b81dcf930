"""Offline datasets: standardized Minari ids, build, download, verify, and per-task buffers.

    from refexp_envs.datasets import load_task_buffers
    buffers = load_task_buffers("refexp/two-drawer/expert-v0")   # B_1..B_N, read lazily
    ep = buffers.load_episode(buffers.episode_ids(0)[0])

Command line: `python -m refexp_envs.datasets {list,info,build,download,verify,path,pack,cache}`.
See docs/datasets.md. The names below are imported on first use, so that the command line
refuses a bad id before the simulator is loaded.
"""

import importlib

_EXPORTS = {
    "buffers": ("DatasetNotFoundError", "MinariTaskBuffers", "build_cache", "load_task_buffers"),
    "build": ("DatasetBuildError", "build_dataset"),
    "checksum": ("checksum_dir", "dataset_path"),
    "collect": ("collect_episode",),
    "download": ("ChecksumError", "DownloadError", "VerifyResult", "download_dataset", "pack_dataset", "verify_dataset"),
    "episode": ("Episode", "InMemoryTaskBuffers", "TaskBuffers"),
    "registry": ("REGISTRY", "DatasetSpec", "UnknownDatasetError", "get_spec"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
