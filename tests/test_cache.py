"""A damaged pixel cache is detected against its own record, reported, and rebuilt (issue 14,
item 20), on a tiny dataset (2 tasks x 2 episodes of 8 steps)."""

import dataclasses
import os
import shutil
import warnings

import numpy as np
import pytest

import refexp_envs.datasets.buffers as buffers_mod
from refexp_envs.datasets import checksum as ck
from refexp_envs.datasets.buffers import CacheDamagedWarning, build_cache, cache_damage, load_task_buffers
from refexp_envs.datasets.build import build_dataset
from refexp_envs.datasets.cli import main as cli_main
from refexp_envs.datasets.registry import REGISTRY

TINY = "refexp/two-drawer/tiny-cache-v0"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The tiny dataset with its cache, built once; tests damage copies of it."""
    path = tmp_path_factory.mktemp("built")
    spec = dataclasses.replace(REGISTRY["refexp/two-drawer/dev-v0"], dataset_id=TINY, episodes_per_task=2,
                               horizon=8, sha256=None)
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    REGISTRY[TINY] = spec
    try:
        build_dataset(TINY, workers=1, progress=False, shard_size=4)
        episodes = [load_task_buffers(TINY, cache=False).load_episode(i) for i in range(4)]
    finally:
        REGISTRY.pop(TINY)
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH")
        else:
            os.environ["MINARI_DATASETS_PATH"] = old
    return path, spec, episodes


@pytest.fixture
def root(built, tmp_path, monkeypatch):
    src, spec, episodes = built
    shutil.copytree(src, tmp_path / "minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.setitem(REGISTRY, TINY, spec)
    return ck.cache_path(TINY), episodes


def _same(a, b):
    for field in ("pixels", "proprio", "actions", "rewards"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.task == b.task


def _flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_an_intact_cache_opens_silently(root):
    cdir, episodes = root
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheDamagedWarning)
        bufs = load_task_buffers(TINY)
    _same(bufs.load_episode(3), episodes[3])
    assert cache_damage(TINY, full=True) == []


def test_truncated_pixels_are_reported_and_rebuilt(root):
    cdir, episodes = root
    pixels = cdir / "pixels.npy"
    size = pixels.stat().st_size
    os.truncate(pixels, size // 2)  # e.g. a full disk, or a copy cut short
    assert cache_damage(TINY) == [f"pixels.npy has {size // 2} bytes, its record says {size} (truncated)"]
    with pytest.warns(CacheDamagedWarning, match=r"pixels\.npy has \d+ bytes, its record says \d+ \(truncated\)"
                      r"(.|\n)*Rebuilding it from the dataset"):
        bufs = load_task_buffers(TINY)
    for i in range(4):  # not "ValueError: mmap length is greater than file size"
        _same(bufs.load_episode(i), episodes[i])
    assert pixels.stat().st_size == size and cache_damage(TINY, full=True) == []


def test_changed_bytes_and_missing_files_are_reported_and_rebuilt(root):
    cdir, episodes = root
    _flip_byte(cdir / "pixels.npy", (cdir / "pixels.npy").stat().st_size // 2)  # same size, other content
    with pytest.warns(CacheDamagedWarning, match=r"pixels\.npy: its SHA-256 differs"):
        bufs = load_task_buffers(TINY)
    _same(bufs.load_episode(2), episodes[2])
    (cdir / "arrays.npz").unlink()
    with pytest.warns(CacheDamagedWarning, match=r"arrays\.npz is missing"):
        bufs = load_task_buffers(TINY)
    _same(bufs.load_episode(1), episodes[1])


def test_the_cache_command_checks_every_byte(root, monkeypatch, capsys):
    cdir, episodes = root
    # a sample of 2 blocks of 16 bytes (the ends of each file), to damage a byte it does not cover
    monkeypatch.setattr(buffers_mod, "SAMPLE_BLOCKS", 2)
    monkeypatch.setattr(buffers_mod, "SAMPLE_BYTES", 16)
    shutil.rmtree(cdir)
    build_cache(TINY)
    _flip_byte(cdir / "pixels.npy", (cdir / "pixels.npy").stat().st_size // 2)
    assert cache_damage(TINY) == []  # opening checks sizes and the sample only
    assert cache_damage(TINY, full=True) == ["pixels.npy: its SHA-256 differs from its record"]
    with pytest.warns(CacheDamagedWarning, match=r"pixels\.npy: its SHA-256 differs"):
        assert cli_main(["cache", TINY]) == 0
    assert cache_damage(TINY, full=True) == []
    _same(load_task_buffers(TINY).load_episode(0), episodes[0])


def test_a_byte_outside_the_sample_fails_verify_and_never_loads_silently(root, capsys):
    """Issue 27: opening checks every byte by default; `verify` checks the cache too."""
    from refexp_envs.datasets.download import verify_dataset

    cdir, episodes = root
    sample = buffers_mod.SAMPLE_BLOCKS, buffers_mod.SAMPLE_BYTES
    try:  # a sample of 2 blocks of 16 bytes (the ends of the file); the flipped byte is outside it
        buffers_mod.SAMPLE_BLOCKS, buffers_mod.SAMPLE_BYTES = 2, 16
        shutil.rmtree(cdir)
        build_cache(TINY)
        pixels = cdir / "pixels.npy"
        _flip_byte(pixels, pixels.stat().st_size // 2)
        assert cache_damage(TINY) == []  # the sampled check alone misses it (full_check=False)
        r = verify_dataset(TINY)
        assert not r.ok and r.cache_problems == ("pixels.npy: its SHA-256 differs from its record",)
        assert cli_main(["verify", TINY]) == 1
        assert "pixel cache" in capsys.readouterr().err
        with pytest.warns(CacheDamagedWarning, match=r"pixels\.npy: its SHA-256 differs"):
            bufs = load_task_buffers(TINY)  # the default: every byte
        for i in range(4):
            _same(bufs.load_episode(i), episodes[i])
        assert verify_dataset(TINY).ok
    finally:
        buffers_mod.SAMPLE_BLOCKS, buffers_mod.SAMPLE_BYTES = sample


def test_a_cache_of_an_older_version_is_rebuilt_without_a_warning(root):
    cdir, episodes = root
    record = (cdir / "cache.json").read_text().replace('"version": 2', '"version": 1')
    (cdir / "cache.json").write_text(record)
    assert cache_damage(TINY) == []  # stale, not damaged
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheDamagedWarning)
        bufs = load_task_buffers(TINY)
    _same(bufs.load_episode(3), episodes[3])
    assert '"version": 2' in (cdir / "cache.json").read_text()


@pytest.mark.slow
def test_training_data_loading_bench_reads_the_same_frames_both_ways(root):
    from refexp_baselines.data import bench_loading

    r = bench_loading(TINY, steps=5)
    assert r["same_frames"] is True
    assert all(r[k] > 0 for k in r if k.endswith("_ms"))
