"""--backend ray: the same bits as local for the harness (and a worker killed mid-run loses and
doubles nothing), bad addresses fail fast, Ray missing says how to install it.

One local Ray (2 CPUs, no dashboard) is started for the module; tests marked `ray` skip when the
`ray` extra is not installed, and are slow (Ray starts processes): the quick tier keeps the checks
of flags and addresses, which start nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from benchmark.run import evaluate
from refexp_envs.backend import Backend, BackendError, check_reachable, connect_ray

ENV = "RefExp/TwoDrawer-v0"
RAW = ("raw_successes", "raw_tasks", "raw_returns", "raw_rollouts")


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        connect_ray(None, num_cpus=2)
    yield ray
    ray.shutdown()


def test_backend_flags_are_checked():
    with pytest.raises(ValueError, match="backend must be one of"):
        Backend("spark")
    with pytest.raises(ValueError, match="needs --backend ray"):
        Backend("local", "127.0.0.1:6379")


def test_unreachable_address_fails_within_seconds():
    t = time.perf_counter()
    with pytest.raises(BackendError, match="10.255.255.1:6379"):
        check_reachable("10.255.255.1:6379", timeout=1.0)  # unroutable: would hang without the timeout
    with pytest.raises(BackendError, match="no Ray cluster answers"):
        check_reachable("127.0.0.1:1")
    with pytest.raises(BackendError, match="must be host:port"):
        check_reachable("nohost")
    assert time.perf_counter() - t < 10


@pytest.mark.slow  # spawns a process
def test_cli_without_ray_says_how_to_install_it(tmp_path):
    """A `ray` module that fails to import stands in for Ray not being installed: exit 2."""
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "__init__.py").write_text("raise ImportError('no ray here')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    cmd = [sys.executable, "-m", "benchmark.run", "--agent", "random", "--backend", "ray", "--no-progress",
           "--out", str(tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2
    assert 'pip install -e ".[ray]"' in out.stderr


@pytest.mark.slow
@pytest.mark.ray
def test_harness_on_ray_equals_local(ray_local):
    kw = dict(episodes=2, trials_per_task=3, training_seeds=(0, 4), progress=False, obs_type="state", batch=2)
    local = evaluate("random", ENV, workers=1, **kw)
    on_ray = evaluate("random", ENV, workers=2, backend="ray", **kw)
    assert on_ray["workers"] == 2
    for key in RAW + ("success_rate", "ci_low", "ci_high"):
        assert on_ray[key] == local[key], key
    assert len(set(np.ravel(local["raw_rollouts"]))) > 1  # the trials differ: the comparison has teeth
    explorer = [evaluate("scripted-explorer", ENV, workers=w, backend=b, **kw) for w, b in ((1, "local"), (2, "ray"))]
    assert explorer[0]["raw_successes"] == explorer[1]["raw_successes"]
    assert np.asarray(explorer[0]["raw_successes"]).sum() > 0


@pytest.mark.slow
@pytest.mark.ray
def test_harness_on_ray_resumes(ray_local, tmp_path):
    ckpt = tmp_path / "run.partial.jsonl"
    kw = dict(episodes=1, trials_per_task=3, progress=False, obs_type="state", batch=2, workers=2, backend="ray")
    full = evaluate("random", ENV, **kw)
    evaluate("random", ENV, checkpoint_path=ckpt, **kw)
    lines = ckpt.read_text().splitlines()
    ckpt.write_text("\n".join(lines[:4]) + "\n")  # an interrupted run: 3 of 6 trials kept
    said: list[str] = []
    resumed = evaluate("random", ENV, checkpoint_path=ckpt, log=said.append, **kw)
    assert any(s.startswith("resuming: 3 of 6 trials already done") for s in said)
    for key in RAW:
        assert resumed[key] == full[key], key


@pytest.mark.slow
@pytest.mark.ray
def test_killed_worker_is_retried_and_nothing_is_lost_or_doubled(ray_local, tmp_path):
    from tests.ray_agents import PID_DIR

    shutil.rmtree(PID_DIR, ignore_errors=True)
    # the project's own test agent, trusted (--isolation none): the Ray backend refuses untrusted agents
    kw = dict(episodes=1, trials_per_task=6, training_seeds=(0,), progress=False, obs_type="state", batch=2,
              isolation="none")
    agent = "tests.ray_agents:PidRandomAgent"
    local = evaluate(agent, ENV, workers=1, **kw)  # PID_DIR absent: nothing announced
    PID_DIR.mkdir()
    killed: list[int] = []

    def killer():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            pids = [int(p.name) for p in PID_DIR.iterdir()] if PID_DIR.is_dir() else []
            pids = [p for p in pids if p != os.getpid()]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    ckpt = tmp_path / "run.partial.jsonl"
    try:
        on_ray = evaluate(agent, ENV, workers=2, backend="ray", checkpoint_path=ckpt, **kw)
    finally:
        thread.join(timeout=130)
        pids = {int(p.name) for p in PID_DIR.iterdir()}
        shutil.rmtree(PID_DIR, ignore_errors=True)
    assert killed, "no worker announced itself"
    assert len(pids - set(killed)) >= 1  # the work went on in another (restarted) process
    for key in RAW:
        assert on_ray[key] == local[key], key
    trials = [line for line in ckpt.read_text().splitlines()[1:]]
    assert len(trials) == 12 and len(set(trials)) == 12  # every trial logged exactly once


def _weights(path):
    import torch

    b = torch.load(path, weights_only=False)
    return {f"{part}.{k}": v for part in ("frames", "belief", "actor") for k, v in b[part].items()}


@pytest.mark.slow
@pytest.mark.ray
def test_tiny_sweep_on_ray_trains_the_same_weights_and_scores(ray_local, tmp_path):
    import torch

    from refexp_baselines.sweep import run_sweep
    from refexp_envs.backend import Backend
    from tests.test_sweep import tiny_sweep

    local = run_sweep(tiny_sweep(tmp_path / "local", agents=("ours",), trials_per_task=1), log=lambda s: None)
    collected = tmp_path / "local" / "runs" / "data"  # the collected episodes, unless (conftest) both sweeps
    if collected.exists():                           # share them through $REFEXP_DATA_CACHE
        shutil.copytree(collected, tmp_path / "ray" / "runs" / "data")
    sc = tiny_sweep(tmp_path / "ray", agents=("ours",), trials_per_task=1)
    on_ray = run_sweep(sc, Backend("ray"), log=lambda s: None)
    assert sorted(on_ray["graph"][k] for k in on_ray["ran"]) == sorted(local["graph"][k] for k in local["ran"])
    for seed in (0, 1):
        a, b = (_weights(next((tmp_path / side / "runs").glob(f"*/*/seed{seed}/agent-*/agent.pt"))) for side in ("local", "ray"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ra, rb = (json.loads(open(r["results"][0]).read()) for r in (local, on_ray))
    for key in RAW:
        assert ra[key] == rb[key], key
    log = [json.loads(line) for line in (tmp_path / "ray" / "out" / "sweep_log.jsonl").read_text().splitlines()]
    assert all(rec["node_id"] for rec in log)  # every stage says which Ray node ran it


@pytest.mark.slow
@pytest.mark.ray
def test_dataset_built_on_ray_has_the_local_checksum_and_resumes(ray_local, tmp_path, monkeypatch):
    from refexp_envs.datasets import build as B
    from refexp_envs.datasets import checksum as ck
    from refexp_envs.datasets.registry import REGISTRY
    from tests.test_datasets import TINY, _tiny_spec

    monkeypatch.setitem(REGISTRY, TINY, _tiny_spec(per_task=3))
    kw = dict(progress=False, shard_size=1, cache=False)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "local"))
    local = ck.checksum_dir(B.build_dataset(TINY, workers=1, **kw))

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "ray"))
    real_assemble = B._assemble

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(B, "_assemble", interrupted)
    with pytest.raises(KeyboardInterrupt):  # collected on Ray, interrupted before assembly
        B.build_dataset(TINY, backend="ray", **kw)
    shards = sorted((ck.staging_path(TINY) / "shards").glob("shard_*.npz"))
    assert len(shards) == 6
    for s in shards[::2]:  # as if three shards had not arrived
        s.unlink()
    monkeypatch.setattr(B, "_assemble", real_assemble)
    out = B.build_dataset(TINY, backend="ray", **kw)
    assert ck.checksum_dir(out) == local
    assert ck.read_sidecar(out)["sha256"] == local


def test_dataset_cli_refuses_an_unreachable_ray_address():
    from refexp_envs.datasets.cli import main as cli_main

    assert cli_main(["build", "refexp/two-drawer/dev-v0", "--backend", "ray", "--ray-address", "127.0.0.1:1"]) == 2
    assert cli_main(["build", "refexp/two-drawer/dev-v0", "--ray-address", "127.0.0.1:1"]) == 2
