"""Datasets: registry, build (end to end, determinism, interruption), buffers, verify, download."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

import refexp_envs  # noqa: F401  (before mujoco)
from refexp_envs.datasets import (
    REGISTRY,
    ChecksumError,
    DatasetNotFoundError,
    DownloadError,
    UnknownDatasetError,
    build_dataset,
    checksum_dir,
    dataset_path,
    download_dataset,
    load_task_buffers,
    pack_dataset,
    verify_dataset,
)
from refexp_envs.datasets import build as build_mod
from refexp_envs.datasets import checksum as ck
from refexp_envs.datasets.cli import main as cli_main
from refexp_envs.datasets.registry import archive_name, episode_seed

TINY = "refexp/two-drawer/tiny-v0"
TINY3 = "refexp/three-drawer/tiny-v0"


def _tiny_spec(dataset_id=TINY, base="refexp/two-drawer/dev-v0", per_task=2, horizon=8):
    return dataclasses.replace(
        REGISTRY[base], dataset_id=dataset_id, episodes_per_task=per_task, horizon=horizon, sha256=None
    )


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A private Minari dataset directory with the tiny ids registered."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    monkeypatch.setitem(REGISTRY, TINY, _tiny_spec())
    monkeypatch.setitem(REGISTRY, TINY3, _tiny_spec(TINY3, "refexp/three-drawer/dev-v0", per_task=1))
    return tmp_path / "minari"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny dataset built once (in process), for checksums to compare against."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    path = tmp_path_factory.mktemp("ref")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    REGISTRY[TINY] = _tiny_spec()
    try:
        out = build_dataset(TINY, workers=1, progress=False, shard_size=1)
        yield {"sha256": checksum_dir(out), "root": path, "record": ck.read_sidecar(out)}
    finally:
        REGISTRY.pop(TINY, None)
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


# ------------------------------------------------------------------------------------ registry
def test_registry_ids_and_pins():
    for slug, n in [("two-drawer", 2), ("three-drawer", 3), ("two-drawer-shift", 2)]:
        for version in (0, 1):
            for b, per_task in [("expert", 1000), ("noisy", 1000), ("dev", 20)]:
                s = REGISTRY[f"refexp/{slug}/{b}-v{version}"]
                assert s.episodes_per_task == per_task and s.num_tasks == n and s.obs_type == "pixels"
                assert s.env_id in refexp_envs.ENV_IDS and s.env_id.endswith(f"-v{version}")
                assert refexp_envs.num_tasks(s.env_id) == n
        state = REGISTRY[f"refexp/{slug}/expert-state-v1"]
        assert state.obs_type == "state" and state.seed == REGISTRY[f"refexp/{slug}/expert-v1"].seed
        assert f"refexp/{slug}/expert-state-v0" not in REGISTRY
    assert REGISTRY["refexp/two-drawer/noisy-v0"].noise > REGISTRY["refexp/two-drawer/expert-v0"].noise
    for slug in ("two-drawer", "three-drawer"):  # the expert's episodes under a random look
        for behaviour, appearance in (("expert-randlook", "random"), ("expert-randtex", "random-texture")):
            look = REGISTRY[f"refexp/{slug}/{behaviour}-v1"]
            assert look.seed == REGISTRY[f"refexp/{slug}/expert-v1"].seed and look.env_kwargs() == {"appearance": appearance}
            assert f"refexp/two-drawer-shift/{behaviour}-v1" not in REGISTRY  # the shift's look stays held out
    assert len({(s.seed, s.obs_type, s.look) for s in REGISTRY.values()}) == len(REGISTRY)
    assert set(refexp_envs.DATASET_ENV_IDS) == {s.env_id for s in REGISTRY.values()}
    # every v0 id keeps its pin; a pin is a SHA-256 or visibly absent (None), never a placeholder
    assert all(s.sha256 for s in REGISTRY.values() if s.version == 0)
    for s in REGISTRY.values():
        assert s.sha256 is None or (len(s.sha256) == 64 and int(s.sha256, 16) >= 0)
    # per-episode seeds depend on (dataset seed, index) only
    assert episode_seed(100, 5) == episode_seed(100, 5) != episode_seed(100, 6) != episode_seed(101, 5)


def test_dataset_descriptions_and_metadata_are_honest():
    for s in REGISTRY.values():
        if s.version >= 1:
            assert f"download {s.dataset_id}" in s.description and f"build {s.dataset_id}" in s.description
            assert ("evaluation and analysis only" in s.description) == ("Shift" in s.env_id)
    # the v0 description is part of the v0 data (and so of their pins): frozen
    assert REGISTRY["refexp/two-drawer/expert-v0"].description == (
        "RefExp/TwoDrawer-v0: 1000 rollouts per task of task-specific scripted experts (action noise "
        "0.2), 64x64 RGB pixels + proprioception, lossless parquet; buffer i = episodes whose "
        "metadata/infos 'task' is i."
    )


def test_unknown_id_lists_valid_ids(root):
    with pytest.raises(UnknownDatasetError, match="refexp/two-drawer/expert-v0"):
        build_dataset("refexp/two-drawer/nope-v0")
    assert cli_main(["info", "refexp/nope/expert-v0"]) == 2


def test_missing_dataset_says_build_or_download(root):
    with pytest.raises(DatasetNotFoundError, match="build"):
        load_task_buffers(TINY)
    assert cli_main(["verify", TINY]) == 1  # a runtime failure (2 is for usage errors)


# --------------------------------------------------------------------------------------- build
def test_build_end_to_end_minari_and_buffers(root, reference):
    import minari

    out = build_dataset(TINY, workers=1, progress=False, shard_size=3)
    assert out == dataset_path(TINY) and ck.is_complete(out)
    assert checksum_dir(out) == reference["sha256"]  # shard size does not matter
    assert not (root / ck.STAGING_DIR).exists()  # no leftovers at all

    ds = minari.load_dataset(TINY)
    assert ds.total_episodes == 4 and ds.total_steps == 4 * 8
    assert ds.storage.metadata["jpeg_encoding"] is False
    for i, ep in enumerate(ds.iterate_episodes()):
        assert ep.observations["pixels"].shape == (9, 64, 64, 3)
        assert np.all(ep.infos["task"] == i % 2)
    metas = list(ds.storage.get_episode_metadata(range(4)))
    assert [m["task"] for m in metas] == [0, 1, 0, 1]
    assert metas[1]["options"] == {"task": 1} and metas[1]["seed"] == REGISTRY[TINY].episode_seed(1)
    env = ds.recover_environment()
    try:
        assert env.unwrapped.horizon == 8 and env.unwrapped.num_tasks == 2
    finally:
        env.close()

    bufs = load_task_buffers(TINY)
    assert bufs.num_tasks == 2
    assert list(bufs.episode_ids(0)) == [0, 2] and list(bufs.episode_ids(1)) == [1, 3]
    lazy = load_task_buffers(TINY, cache=False)
    for i in range(4):
        a, b = bufs.load_episode(i), lazy.load_episode(i)
        assert a.task == b.task == i % 2
        assert a.pixels.dtype == np.uint8 and a.pixels.shape == (9, 64, 64, 3)
        for f in ("pixels", "proprio", "actions", "rewards"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))  # lossless, cache == parquet
    # the stored pixels are exactly what the env renders (lossless storage)
    from refexp_envs.datasets.collect import collect_episode
    import gymnasium as gym

    env = gym.make("RefExp/TwoDrawer-v0", horizon=8)
    try:
        ep = collect_episode(env, 1, REGISTRY[TINY].noise, REGISTRY[TINY].episode_seed(1))
    finally:
        env.close()
    np.testing.assert_array_equal(ep.pixels, bufs.load_episode(1).pixels)
    np.testing.assert_array_equal(ep.actions, bufs.load_episode(1).actions)
    assert len(bufs.load_episodes([3, 0, 3])) == 3
    arrays = bufs.as_arrays()  # memory-mapped, stacked
    assert isinstance(arrays["pixels"], np.memmap) and arrays["pixels"].shape == (4, 9, 64, 64, 3)
    np.testing.assert_array_equal(arrays["pixels"][3], lazy.load_episode(3).pixels)
    assert arrays["tasks"].tolist() == [0, 1, 0, 1] and arrays["actions"].shape == (4, 8, 4)
    # the one-copy batch path equals concatenating episodes (first T observations of each)
    rows = [[0, 1, 2], [3, 3, 0]]
    for b_ in (bufs, lazy):
        seq = b_.load_sequences(rows, steps=20)
        assert seq["pixels"].shape == (2, 20, 64, 64, 3) and seq["tasks"].tolist() == [[0, 1, 0], [1, 1, 0]]
        for r, row in enumerate(rows):
            eps = bufs.load_episodes(row)
            want = np.concatenate([e.pixels[:-1] for e in eps])[:20]
            np.testing.assert_array_equal(seq["pixels"][r], want)
            np.testing.assert_array_equal(seq["rewards"][r], np.concatenate([e.rewards for e in eps])[:20])
            np.testing.assert_array_equal(seq["actions"][r], np.concatenate([e.actions for e in eps])[:20])
    with pytest.raises(IndexError):
        bufs.load_episode(4)

    assert verify_dataset(TINY).ok
    assert cli_main(["verify", TINY]) == 0
    assert cli_main(["path", TINY]) == 0 and cli_main(["info", TINY]) == 0
    record = ck.read_sidecar(out)
    assert record["behaviour_success"] == 0.0 and record["episodes"] == 4  # horizon 8 is too short
    assert build_dataset(TINY, workers=1, progress=False) == out  # already built: no-op


@pytest.mark.slow  # two builds; the quick tier builds a v1 dataset in test_provenance.py
def test_v1_pixel_and_state_datasets(root, monkeypatch):
    """A tiny v1 pixel dataset and its state-only twin (same seed: the same episodes, no pixels)."""
    import minari

    pix_id, state_id = "refexp/two-drawer/tinyp-v1", "refexp/two-drawer/tinys-v1"
    monkeypatch.setitem(REGISTRY, pix_id, _tiny_spec(pix_id, "refexp/two-drawer/expert-v1"))
    monkeypatch.setitem(REGISTRY, state_id, _tiny_spec(state_id, "refexp/two-drawer/expert-state-v1"))
    build_dataset(pix_id, workers=1, progress=False, cache=False)
    build_dataset(state_id, workers=1, progress=False, cache=False)
    pix, state = minari.load_dataset(pix_id), minari.load_dataset(state_id)

    assert set(state.observation_space.spaces) == {"drawers", "handles", "proprio"}
    for dataset, obs_type in ((pix, None), (state, "state")):
        meta = dataset.storage.metadata
        assert "code_permalink" not in meta  # no invented URL
        assert "python -m refexp_envs.datasets build refexp/two-drawer/expert" in meta["description"]
        env = dataset.recover_environment()
        try:
            assert env.spec.id == "RefExp/TwoDrawer-v1" and env.spec.max_episode_steps == 50
            assert env.spec.kwargs.get("obs_type") == obs_type
        finally:
            env.close()
    for a, b in zip(pix.iterate_episodes(), state.iterate_episodes()):
        np.testing.assert_array_equal(a.observations["proprio"], b.observations["proprio"])
        np.testing.assert_array_equal(a.actions, b.actions)
        assert b.observations["handles"].shape == (9, 2, 3) and np.all(b.observations["drawers"] > -0.005)
    bufs = load_task_buffers(state_id, cache=False)
    ep = bufs.load_episode(bufs.episode_ids(1)[0])
    assert ep.pixels is None and ep.proprio.shape == (9, 4)


def test_v0_metadata_keeps_its_pinned_fields(reference):
    record = reference["record"]
    assert record["spec"]["dataset_id"] == TINY
    path = reference["root"] / TINY / "data" / "metadata.json"
    meta = json.loads(path.read_text())
    # part of the v0 data and so of the v0 pins: v0 datasets keep exactly what they shipped with
    assert meta["code_permalink"] == "https://github.com/refexp/refexp"
    assert meta["algorithm_name"] == "refexp_envs.policies.ScriptedDrawerPolicy(noise=0.2)"


def test_build_refuses_a_foreign_directory(root):
    from refexp_envs.datasets import DatasetBuildError

    (dataset_path(TINY) / "data").mkdir(parents=True)
    with pytest.raises(DatasetBuildError, match="--force"):
        build_dataset(TINY, workers=1, progress=False)


@pytest.mark.slow  # spawns worker processes; the quick tier's buffers: test_task_buffers_are_indexed_by_task
def test_three_tasks_and_parallel_determinism(root):
    """Worker processes (spawn) give the same bytes as one process."""
    a = build_dataset(TINY3, workers=2, progress=False, shard_size=1, cache=False)
    sha_parallel = checksum_dir(a)
    b = build_dataset(TINY3, workers=1, progress=False, shard_size=2, force=True, cache=False)
    assert checksum_dir(b) == sha_parallel
    bufs = load_task_buffers(TINY3)
    assert bufs.num_tasks == 3 and [list(bufs.episode_ids(t)) for t in range(3)] == [[0], [1], [2]]


def _copy_reference(reference) -> Path:
    import shutil

    out = dataset_path(TINY)
    shutil.copytree(Path(reference["root"]) / TINY, out)
    return out


def test_a_full_disk_during_a_build_is_a_one_line_error(root, monkeypatch, capsys):
    import errno

    def no_space(path, **arrays):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(build_mod.np, "savez", no_space)  # the first shard write fails
    assert cli_main(["build", TINY, "--workers", "1", "--quiet", "--no-cache"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: no space left on the disk of {root} writing ") and "MB free" in err
    assert "MINARI_DATASETS_PATH" in err and "run the same command again" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "Errno" not in err
    assert not dataset_path(TINY).exists()  # nothing half-built is published


def test_task_buffers_are_indexed_by_task(root, reference):
    """`bufs[i]` is buffer B_i: a lazy sequence of the episodes of task i (as README shows)."""
    _copy_reference(reference)
    for bufs in (load_task_buffers(TINY), load_task_buffers(TINY, cache=False)):
        assert len(bufs) == bufs.num_tasks == 2 and [b.task for b in bufs] == [0, 1]
        b0 = bufs[0]
        assert len(b0) == 2 and list(b0.episode_ids) == [0, 2] and bufs[-1].task == 1
        ep = b0[1]  # the second episode of task 0: dataset episode 2
        assert ep.task == 0 and ep.pixels.shape == (9, 64, 64, 3)
        np.testing.assert_array_equal(ep.actions, bufs.load_episode(2).actions)
        assert [e.task for e in bufs[1][:]] == [1, 1] and all(e.task == 1 for e in bufs[1])
        with pytest.raises(IndexError, match="tasks 0..1"):
            bufs[2]
        with pytest.raises(IndexError):
            b0[2]
        with pytest.raises(TypeError, match="indexed by task"):
            bufs["0"]
        assert "tasks=2" in repr(bufs) and repr(b0) == "TaskBuffer(task=0, episodes=2)"


def test_verify_detects_tampering(root, reference):
    out = _copy_reference(reference)
    assert verify_dataset(TINY).ok
    part = next((out / "data" / "2").glob("*.parquet"))
    raw = bytearray(part.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    part.write_bytes(bytes(raw))
    r = verify_dataset(TINY)
    assert not r.ok and r.expected == reference["sha256"] and r.actual != r.expected
    assert cli_main(["verify", TINY]) == 1


def test_checksum_ignores_dataset_size_and_json_layout(root, reference):
    out = _copy_reference(reference)
    before = checksum_dir(out)
    assert before == reference["sha256"]  # the checksum does not depend on where the dataset is
    meta_path = out / "data" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["dataset_size"] = 123.4  # Minari's size depends on the file system's directory sizes
    meta_path.write_text(json.dumps(meta, indent=4))
    assert checksum_dir(out) == before


@pytest.mark.slow
def test_interrupted_collection_resumes(root, reference, monkeypatch):
    real = build_mod.collect_shard
    calls = []

    def flaky(spec, shard, indices, out_path):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(shard)
        return real(spec, shard, indices, out_path)

    monkeypatch.setattr(build_mod, "collect_shard", flaky)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(TINY, workers=1, progress=False, shard_size=1)
    assert not dataset_path(TINY).exists()  # nothing that looks like a dataset
    assert cli_main(["list"]) == 0
    shards = sorted((root / ck.STAGING_DIR / ck.flat(TINY) / "shards").glob("*.npz"))
    assert len(shards) == 2

    calls.clear()
    monkeypatch.setattr(build_mod, "collect_shard", lambda *a: (calls.append(a[1]), real(*a))[1])
    out = build_dataset(TINY, workers=1, progress=False, shard_size=1)
    assert sorted(calls) == [2, 3]  # only the missing shards
    assert checksum_dir(out) == reference["sha256"]


@pytest.mark.slow  # two builds; the quick tier's interrupted build: test_interrupted_collection_resumes
def test_interrupted_assembly_leaves_no_dataset(root, reference, monkeypatch):
    real = build_mod._assemble

    def broken(*a, **k):
        real(*a, **k)
        raise KeyboardInterrupt  # after writing, before the checksum and the rename

    monkeypatch.setattr(build_mod, "_assemble", broken)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(TINY, workers=1, progress=False, shard_size=1)
    assert not dataset_path(TINY).exists()
    with pytest.raises(DatasetNotFoundError):
        load_task_buffers(TINY)
    monkeypatch.setattr(build_mod, "_assemble", real)
    out = build_dataset(TINY, workers=1, progress=False, shard_size=1)
    assert checksum_dir(out) == reference["sha256"]


@pytest.mark.slow  # two builds
def test_changed_spec_restarts_staging(root, reference, monkeypatch):
    real = build_mod.collect_shard

    def stop(spec, shard, *a):
        if shard == 1:
            raise KeyboardInterrupt
        return real(spec, shard, *a)

    monkeypatch.setattr(build_mod, "collect_shard", stop)
    monkeypatch.setitem(REGISTRY, TINY, dataclasses.replace(REGISTRY[TINY], seed=999))
    with pytest.raises(KeyboardInterrupt):
        build_dataset(TINY, workers=1, progress=False, shard_size=1)
    monkeypatch.setattr(build_mod, "collect_shard", real)
    monkeypatch.setitem(REGISTRY, TINY, _tiny_spec())
    out = build_dataset(TINY, workers=1, progress=False, shard_size=1)
    assert checksum_dir(out) == reference["sha256"]  # the seed-999 shard was not reused


# ------------------------------------------------------------------------------------ download
class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path.startswith("/truncated/"):
            name = self.path.split("/", 2)[2]
            data = (Path(self.directory) / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """An HTTP archive host on 127.0.0.1 with a bounded lifetime."""
    served = tmp_path / "www"
    served.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(served)))
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def published(reference, server, monkeypatch):
    """The reference tiny dataset packed into the served directory, its checksum in the registry."""
    served, url = server
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(reference["root"]))
    monkeypatch.setitem(REGISTRY, TINY, dataclasses.replace(_tiny_spec(), sha256=reference["sha256"]))
    archive = pack_dataset(TINY, served)
    assert archive.name == archive_name(TINY)
    # reproducible archive
    first = archive.read_bytes()
    assert pack_dataset(TINY, served).read_bytes() == first
    return served, url, archive


def _nothing_left(root: Path) -> bool:
    staging = root / ck.STAGING_DIR
    return not dataset_path(TINY).exists() and (not staging.exists() or not any(staging.iterdir()))


def test_download_good_archive(published, tmp_path, monkeypatch, reference):
    served, url, _ = published
    root = tmp_path / "fresh"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    monkeypatch.setenv("REFEXP_DATASETS_URL", url)  # the base URL from the environment
    out = download_dataset(TINY, progress=False, timeout=5)
    assert out == dataset_path(TINY) and ck.is_complete(out)
    assert verify_dataset(TINY).ok and checksum_dir(out) == reference["sha256"]
    bufs = load_task_buffers(TINY)
    assert bufs.num_tasks == 2 and bufs.load_episode(3).task == 1
    import minari

    assert minari.load_dataset(TINY).total_episodes == 4


def test_download_corrupt_archive(published, tmp_path, monkeypatch):
    served, url, archive = published
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 3 : len(raw) // 3 + 64] = os.urandom(64)
    archive.write_bytes(bytes(raw))
    root = tmp_path / "fresh"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    with pytest.raises(DownloadError, match="corrupt|checksum"):
        download_dataset(TINY, url=url, progress=False, timeout=5)
    assert _nothing_left(root)


def test_download_wrong_content_is_a_checksum_error(published, tmp_path, monkeypatch):
    served, url, archive = published
    monkeypatch.setitem(REGISTRY, TINY, dataclasses.replace(REGISTRY[TINY], sha256="0" * 64))
    root = tmp_path / "fresh"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        download_dataset(TINY, url=url, progress=False, timeout=5)
    assert _nothing_left(root)


def test_download_truncated_transfer(published, tmp_path, monkeypatch):
    served, url, _ = published
    root = tmp_path / "fresh"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    with pytest.raises(DownloadError, match="truncated"):
        download_dataset(TINY, url=url + "/truncated", progress=False, timeout=5)
    assert _nothing_left(root)


def test_download_unknown_id_missing_archive_and_no_host(published, tmp_path, monkeypatch):
    served, url, archive = published
    root = tmp_path / "fresh"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    with pytest.raises(UnknownDatasetError):
        download_dataset("refexp/two-drawer/nope-v0", url=url, progress=False)
    archive.unlink()
    with pytest.raises(DownloadError, match=r"404(.|\n)*refexp_envs.datasets build"):
        download_dataset(TINY, url=url, progress=False, timeout=5)
    assert _nothing_left(root)
    # nothing listening: says so and points to build
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="not reachable(.|\n)*python -m refexp_envs.datasets build"):
        download_dataset(TINY, url=f"http://127.0.0.1:{port}", progress=False, timeout=5)
    assert cli_main(["download", TINY, "--url", f"http://127.0.0.1:{port}", "--quiet"]) == 1
    assert _nothing_left(root)


def test_minari_remote_without_hf_is_a_clear_error(root, monkeypatch):
    import sys

    pytest.importorskip("minari")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # as if `minari[hf]` were not installed
    monkeypatch.delitem(sys.modules, "minari.storage.remotes.huggingface", raising=False)
    with pytest.raises(DownloadError, match=r"minari\[hf\]"):
        download_dataset(f"hf://refexp-nobody/{TINY}", progress=False)
    assert _nothing_left(root)


# ------------------------------------------------------------------ Minari remote (Hugging Face)
ORG = "refexp-test"


@pytest.fixture
def hub(reference, tmp_path, monkeypatch):
    """A stand-in hub on 127.0.0.1 that the real huggingface_hub client talks to (HF_ENDPOINT),
    its upload calls recorded and applied; the reference tiny dataset pinned in the registry."""
    pytest.importorskip("huggingface_hub")
    import huggingface_hub

    from fake_hub import FakeHub, hub_client_at

    server = FakeHub(tmp_path / "hub")
    for name in ("create_repo", "upload_folder", "upload_file"):  # the boundary of the client's writes
        monkeypatch.setattr(huggingface_hub.HfApi, name,
                            lambda api, *a, _f=getattr(server, name), **kw: _f(api, *a, **kw))
    monkeypatch.setitem(REGISTRY, TINY, dataclasses.replace(_tiny_spec(), sha256=reference["sha256"]))
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(reference["root"]))
    monkeypatch.delenv("MINARI_REMOTE", raising=False)
    with hub_client_at(server.url, tmp_path / "hf-home", monkeypatch):
        yield server
    server.close()


def test_publish_uploads_through_minari_and_downloads_verify_against_the_pin(hub, reference, tmp_path, monkeypatch, capsys):
    from refexp_envs.datasets.publish import publish_dataset

    assert publish_dataset(TINY, f"hf://{ORG}", token="hf_test") == f"hf://{ORG}/{TINY}"
    folders = [kw for name, kw in hub.uploads if name == "upload_folder"]
    assert folders == [{"repo_id": f"{ORG}/refexp", "folder_path": str(Path(reference["root"]) / TINY),
                        "path_in_repo": "two-drawer/tiny-v0", "repo_type": "dataset", "token": "hf_test"}]
    files = {kw["path_in_repo"] for name, kw in hub.uploads if name == "upload_file"}
    assert {"namespace_metadata.json", "two-drawer/namespace_metadata.json"} <= files  # Minari's namespaces
    assert all(kw["repo_type"] == "dataset" and kw["token"] == "hf_test" for _, kw in hub.uploads)
    resolved = [p for m, p in hub.requests if m == "GET" and "/resolve/" in p and "/tiny-v0/data/" in p]
    assert resolved  # the publish check downloaded it back through the remote
    # published twice: nothing uploaded again
    n = len(hub.uploads)
    assert publish_dataset(TINY, f"hf://{ORG}", check=False) == f"hf://{ORG}/{TINY}"
    assert len(hub.uploads) == n and "already published" in capsys.readouterr().err

    # a user: RefExp's download wraps Minari's, then checks the pin
    root = tmp_path / "user"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    assert cli_main(["download", TINY, "--remote", f"hf://{ORG}", "--quiet"]) == 0
    assert verify_dataset(TINY).ok and checksum_dir(dataset_path(TINY)) == reference["sha256"]
    bufs = load_task_buffers(TINY)
    assert bufs[1][0].task == 1 and len(bufs[0]) == 2
    assert not (root / ck.STAGING_DIR).exists() or not any((root / ck.STAGING_DIR).iterdir())

    # Minari alone (`MINARI_REMOTE=hf://<org> minari download ID`), then RefExp's verify
    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari-user"))
    monkeypatch.setenv("MINARI_REMOTE", f"hf://{ORG}")
    minari.download_dataset(TINY)
    assert minari.load_dataset(TINY).total_episodes == 4
    assert cli_main(["verify", TINY]) == 0
    # $MINARI_REMOTE is also what RefExp's download uses when no --remote is given
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "env-remote"))
    assert cli_main(["download", TINY, "--quiet"]) == 0 and verify_dataset(TINY).ok


def test_a_remote_copy_that_is_not_the_pinned_dataset_is_refused(hub, reference, tmp_path, monkeypatch):
    from refexp_envs.datasets.publish import publish_dataset

    publish_dataset(TINY, f"hf://{ORG}", check=False)
    shard = next((hub.root / ORG / "refexp" / "two-drawer" / "tiny-v0" / "data").rglob("*.parquet"))
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte on the hub
    shard.write_bytes(bytes(raw))
    root = tmp_path / "user"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        download_dataset(TINY, remote=f"hf://{ORG}", progress=False, cache=False)
    assert _nothing_left(root)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(reference["root"]))
    with pytest.raises(DownloadError, match="not the pinned"):  # the publish check catches it too
        publish_dataset(TINY, f"hf://{ORG}")


def test_remote_errors_are_one_clear_line(hub, reference, tmp_path, monkeypatch, capsys):
    from refexp_envs.datasets.publish import PublishError, publish_dataset

    root = tmp_path / "user"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    assert cli_main(["download", TINY, "--remote", f"hf://{ORG}", "--quiet"]) == 1  # nothing published
    err = capsys.readouterr().err
    assert err.startswith(f"error: could not download {TINY} from hf://{ORG}: ValueError: Couldn't find any version")
    assert f"python -m refexp_envs.datasets build {TINY}" in err and "Traceback" not in err
    assert _nothing_left(root)
    with pytest.raises(DownloadError, match=r"hf://<org>"):
        download_dataset(TINY, remote=f"hf://{ORG}/extra", progress=False)
    # publishing: only a pinned dataset that verifies
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(reference["root"]))
    monkeypatch.setitem(REGISTRY, TINY, dataclasses.replace(REGISTRY[TINY], sha256=None))
    with pytest.raises(PublishError, match="no pinned SHA-256"):
        publish_dataset(TINY, f"hf://{ORG}")
    monkeypatch.setitem(REGISTRY, TINY, dataclasses.replace(REGISTRY[TINY], sha256="0" * 64))
    assert cli_main(["publish", TINY, "--remote", f"hf://{ORG}"]) == 1
    assert "does not match its pin" in capsys.readouterr().err
    monkeypatch.delenv("MINARI_REMOTE", raising=False)
    assert cli_main(["publish", TINY]) == 2  # no remote: a usage error
    assert "no remote: pass --remote hf://<org>" in capsys.readouterr().err
    assert hub.uploads == []


@pytest.mark.slow
def test_a_fresh_process_reaches_the_hub_through_hf_endpoint_alone(hub, reference, tmp_path):
    """What a user runs: HF_ENDPOINT and MINARI_REMOTE in the environment, nothing patched."""
    import subprocess
    import sys

    from refexp_envs.datasets.publish import publish_dataset

    publish_dataset(TINY, f"hf://{ORG}", check=False)
    code = ("import dataclasses, sys; from refexp_envs.datasets.registry import REGISTRY; "
            f"REGISTRY[{TINY!r}] = dataclasses.replace(REGISTRY['refexp/two-drawer/dev-v0'], dataset_id={TINY!r}, "
            f"episodes_per_task=2, horizon=8, sha256={reference['sha256']!r}); "
            "from refexp_envs.datasets.cli import main; sys.exit(main(['download', sys.argv[1], '--quiet']))")
    env = {**os.environ, "MINARI_DATASETS_PATH": str(tmp_path / "fresh"), "MINARI_REMOTE": f"hf://{ORG}",
           "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-fresh")}
    p = subprocess.run([sys.executable, "-c", code, TINY], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "fresh" / TINY / "data" / "metadata.json").is_file()
    assert any(m == "GET" and "/resolve/" in path for m, path in hub.requests)


def test_desk_datasets_hold_the_train_tasks_only(root, monkeypatch):
    """Desk-v2's sets: the train compositions' tasks, interleaved; each episode works its task's paying
    mechanism (reward); the test compositions' tasks are in no dataset (their buffers are empty)."""
    import minari

    env = refexp_envs.ENVS["RefExp/Desk-v2"]
    train, test = env.tasks_of("train"), env.tasks_of("test")
    for behaviour, per_task in (("expert", 64), ("noisy", 64), ("dev", 2), ("expert-state", 64)):
        spec = REGISTRY[f"refexp/desk/{behaviour}-v2"]
        assert spec.data_tasks == train and spec.num_tasks == 64 and spec.episodes_per_task == per_task
        assert spec.num_episodes == 48 * per_task and "in no dataset" in spec.description
        assert {spec.task_of(i) for i in range(spec.num_episodes)} == set(train)
    assert REGISTRY["refexp/two-drawer/expert-v1"].data_tasks == (0, 1)  # the drawer sets: every task

    tiny = "refexp/desk/tiny-v2"  # 6 noiseless episodes of 30 steps: tasks 0-5 (desks 0 and 1)
    monkeypatch.setitem(REGISTRY, tiny, dataclasses.replace(REGISTRY["refexp/desk/expert-state-v2"], dataset_id=tiny,
                                                            episodes_per_task=1, horizon=30, noise=0.0,
                                                            sha256=None, tasks=train[:6]))
    out = build_dataset(tiny, workers=1, progress=False)
    meta = minari.load_dataset(tiny).storage.metadata
    assert meta["refexp"]["tasks"] == list(train[:6]) and "ScriptedMechanismPolicy" in meta["algorithm_name"]
    record = ck.read_sidecar(out)
    assert record["behaviour_success"] == 1.0 and len(record["behaviour_success_per_task"]) == 6
    bufs = load_task_buffers(tiny)
    assert len(bufs) == 64 and [len(bufs[t]) for t in range(6)] == [1] * 6
    assert all(len(bufs[t]) == 0 for t in range(6, 64)) and not set(test) & set(bufs.as_arrays()["tasks"].tolist())
    for t in range(6):
        ep = bufs[t][0]
        assert ep.task == t and ep.rewards.sum() > 0 and ep.pixels is None


def test_builds_table_reads_the_local_sidecars(reference, monkeypatch):
    from refexp_envs.datasets.markdown import builds_table

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(reference["root"]))
    monkeypatch.setitem(REGISTRY, TINY, dataclasses.replace(_tiny_spec(), sha256=reference["sha256"]))
    rows = [line for line in builds_table(0).splitlines() if TINY in line]
    assert len(rows) == 1 and "| 4 |" in rows[0] and "| the pin |" in rows[0] and "1 / " in rows[0]
    monkeypatch.setitem(REGISTRY, TINY, dataclasses.replace(_tiny_spec(), sha256="0" * 64))
    assert "differs from the pin" in builds_table(0)
    assert "refexp/two-drawer/expert-v1" not in builds_table(1)  # not built in this root: left out
