"""Plain offline RL from an outside library (refexp_baselines.families.offline_lib, d3rlpy): the library
reads a Minari dataset written in RefExp's format, learns a trivially learnable case, resumes, and a run
is scored by the harness; bad config values are refused."""

import json

import numpy as np
import pytest

d3rlpy = pytest.importorskip("d3rlpy")

import gymnasium as gym  # noqa: E402
import torch  # noqa: E402

import refexp_envs  # noqa: E402,F401
from refexp_baselines.families import offline_lib  # noqa: E402

ENV = "RefExp/TwoDrawer-v1"
TINY = "refexp/two-drawer/libtest-v0"
PROPRIO = gym.spaces.Box(np.array([-1, -1, -1, 0], np.float32), np.array([1, 2, 1, 1], np.float32), dtype=np.float32)


def write_tiny_dataset(root, monkeypatch, episodes_per_task=6, T=8, seed=0, dataset_id=TINY):
    """A Minari dataset in RefExp's layout (Dict(pixels, proprio) observations, T+1 per episode, the task
    in each episode's options, infos and metadata, truncated at T), written with Minari's own API.

    The trivially learnable case: each frame is bright or dark at random; both tasks' behaviours take
    +0.5 or -0.5 on every action dim at random, and a step pays 1 iff the action's sign matches the frame
    (bright: +, dark: -). A Markov policy on the pixels can get every reward; the data's mean action is 0."""
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    rng = np.random.default_rng(seed)
    bufs, meta = [], []
    for i in range(2 * episodes_per_task):
        task = i % 2
        bright = rng.random(T + 1) < 0.5
        px = np.where(bright[:, None, None, None], 200, 30).astype(np.uint8) * np.ones((T + 1, 64, 64, 3), np.uint8)
        px = (px + rng.integers(0, 20, px.shape)).astype(np.uint8)
        sign = rng.choice([-1.0, 1.0], T)
        actions = (0.5 * sign[:, None] * np.ones((T, 4))).astype(np.float32)
        rewards = (np.where(bright[:T], 1.0, -1.0) == sign).astype(np.float32)
        trunc = np.zeros(T, bool)
        trunc[-1] = True
        proprio = rng.uniform(PROPRIO.low, PROPRIO.high, (T + 1, 4)).astype(np.float32)
        bufs.append(EpisodeBuffer(id=i, seed=i, options={"task": task}, observations={"pixels": px, "proprio": proprio},
                                  actions=actions, rewards=rewards, terminations=np.zeros(T, bool), truncations=trunc,
                                  infos={"task": [task] * (T + 1)}))
        meta.append({"task": task})
    space = gym.spaces.Dict({"pixels": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8), "proprio": PROPRIO})
    ds = minari.create_dataset_from_buffers(dataset_id, bufs, env=gym.spec(ENV), observation_space=space,
                                            action_space=gym.spaces.Box(-1, 1, (4,), np.float32),
                                            algorithm_name="test", author="test", author_email="test", code_permalink="test",
                                            description="test", eval_env=gym.spec(ENV), data_format="parquet",
                                            jpeg_encoding=False)
    ds.storage.update_episode_metadata(meta, list(range(len(bufs))))
    return dataset_id


def tiny_cfg(tmp_path, **kw):
    base = dict(env=ENV, dataset=TINY, seed=0, out=str(tmp_path / "run"), filters="8x8x4,8x4x2", feature_size=32,
                batch_size=32, steps=20, checkpoint_every=10)
    return offline_lib.OfflineLibConfig(**{**base, **kw})


def test_d3rlpy_cannot_read_the_dict_observations_itself_but_reads_the_converted_dataset(tmp_path, monkeypatch):
    write_tiny_dataset(tmp_path / "minari", monkeypatch, episodes_per_task=3, T=5)
    with pytest.raises(ValueError, match="Unsupported observation space: Dict"):
        d3rlpy.datasets.get_minari(TINY)  # the library's own loader: Box or goal-Dict observations only
    mdp, info = offline_lib.load_mdp_dataset(TINY, log=lambda m: None)
    assert info["episodes"] == 6 and info["episodes_per_task"] == {"0": 3, "1": 3}
    assert info["transitions"] == mdp.transition_count == 6 * 5  # exactly the recorded transitions
    ep = mdp.episodes[0]
    assert ep.observations[0].shape == (6, 3, 64, 64) and ep.observations[0].dtype == np.uint8
    assert ep.observations[1].shape == (6, 4) and not ep.terminated
    import minari

    raw = next(minari.load_dataset(TINY).iterate_episodes([0]))
    assert np.array_equal(ep.observations[0], raw.observations["pixels"].transpose(0, 3, 1, 2))
    assert np.array_equal(ep.actions[:5], raw.actions) and np.array_equal(ep.rewards[:5, 0], raw.rewards)
    t = d3rlpy.dataset.BasicTransitionPicker()(ep, 4)  # the last transition: o_4 -> o_5
    assert np.array_equal(t.next_observation[0], ep.observations[0][5]) and t.terminal == 0
    assert offline_lib.load_mdp_dataset(TINY, max_episodes=2, log=lambda m: None)[1]["episodes"] == 2


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    write_tiny_dataset(tmp_path / "minari", monkeypatch, episodes_per_task=2, T=4)
    data = offline_lib.load_mdp_dataset(TINY, log=lambda m: None)
    offline_lib.train(tiny_cfg(tmp_path, out=str(tmp_path / "whole")), log=lambda m: None, dataset=data)
    real, calls = offline_lib._checkpoint, []

    def save_then_interrupt(algo, d, state):
        real(algo, d, state)
        calls.append(state["step"])
        raise KeyboardInterrupt

    monkeypatch.setattr(offline_lib, "_checkpoint", save_then_interrupt)
    cfg = tiny_cfg(tmp_path, out=str(tmp_path / "cut"))
    with pytest.raises(KeyboardInterrupt):
        offline_lib.train(cfg, log=lambda m: None, dataset=data)
    monkeypatch.setattr(offline_lib, "_checkpoint", real)
    logs = []
    assert calls == [10] and offline_lib.train(cfg, log=logs.append, dataset=data)["steps"] == 20
    assert "offline_lib: resumed at step 10" in logs
    whole = torch.load(tmp_path / "whole" / "policy.pt", weights_only=True)  # plain state dicts
    cut = torch.load(tmp_path / "cut" / "policy.pt", weights_only=True)
    assert all(torch.equal(whole[k], cut[k]) for k in whole)
    whole = torch.load(tmp_path / "whole" / "algo.pt", weights_only=True)["q_funcs"]
    cut = torch.load(tmp_path / "cut" / "algo.pt", weights_only=True)["q_funcs"]
    assert all(torch.equal(whole[k], cut[k]) for k in whole)
    # a finished run is not retrained; another config in its directory is an error
    assert offline_lib.train(cfg, log=lambda m: None, dataset=data)["steps"] == 20
    with pytest.raises(ValueError, match="another config"):
        offline_lib.train(tiny_cfg(tmp_path, out=str(tmp_path / "cut"), feature_size=16), log=lambda m: None,
                          dataset=data)


def test_tiny_run_is_scored_by_the_harness(tmp_path, monkeypatch):
    from benchmark.run import evaluate

    write_tiny_dataset(tmp_path / "minari", monkeypatch, episodes_per_task=2, T=4)
    cfg = tiny_cfg(tmp_path, steps=2, checkpoint_every=2)
    offline_lib.train(cfg, log=lambda m: None)  # reads the dataset itself (minari.load_dataset)
    agent = offline_lib.OfflineIQLAgent(cfg.run_dir, ENV)
    assert agent.name == "offline-iql" and len(agent.version) == 12 and agent.dataset_id == TINY
    assert (agent.uses_task, agent.eligible, agent.uses_dataset) == (False, True, True)
    res = evaluate(agent, ENV, episodes=2, trials_per_task=1, workers=1, batch=2, progress=False)
    assert len(res["success_rate"]) == 2 and res["agent"] == "offline-iql"
    assert json.loads((cfg.run_dir / "config.json").read_text())["library"].startswith("d3rlpy ")
    # shipping copies the weights and records the training time; an unfinished or mislabelled run is refused
    monkeypatch.setattr(offline_lib, "SHIPPED_ROOT", tmp_path / "shipped")
    dst = offline_lib.ship(cfg.run_dir, ENV, 0)
    meta = json.loads((dst / "config.json").read_text())
    assert meta["steps"] == 2 and meta["train_wall_s"] >= 0 and meta["config"] == json.loads(
        (cfg.run_dir / "config.json").read_text())["config"]
    shipped = offline_lib.OfflineIQLAgent(env_id=ENV, seed=0)
    assert np.array_equal(shipped.act(obs_like(), 0.0, True), agent.act(obs_like(), 0.0, True))
    with pytest.raises(ValueError, match="not RefExp/ThreeDrawer-v1 seed 0"):
        offline_lib.ship(cfg.run_dir, "RefExp/ThreeDrawer-v1", 0)
    (cfg.run_dir / "done.json").unlink()
    with pytest.raises(FileNotFoundError, match="not a finished"):
        offline_lib.ship(cfg.run_dir, ENV, 0)
    # --algo cql trains with d3rlpy's CQL and acts through the same agent (its shipped runs: OfflineCQLAgent)
    cql = tiny_cfg(tmp_path, algo="cql", out=str(tmp_path / "cql"), steps=1, checkpoint_every=1, batch_size=8)
    offline_lib.train(cql, log=lambda m: None)
    agent = offline_lib.OfflineCQLAgent(cql.run_dir)
    assert agent.name == "offline-cql" and agent.act(obs_like(), 0.0, True).shape == (4,)


def obs_like():
    return {"pixels": np.zeros((64, 64, 3), np.uint8), "proprio": np.zeros(4, np.float32)}


@pytest.mark.slow
def test_learns_a_trivially_learnable_case(tmp_path, monkeypatch):
    """IQL (the baseline): the action that pays is read from the frame (bright: +, dark: -); the data's
    actions are random signs, so behaviour cloning alone gives ~0: only the rewards teach the sign.
    (~30 s on one busy core.)"""
    algo = "iql"
    write_tiny_dataset(tmp_path / "minari", monkeypatch, episodes_per_task=20, T=8)
    cfg = tiny_cfg(tmp_path, algo=algo, steps=600, checkpoint_every=600, batch_size=64)
    offline_lib.train(cfg, log=lambda m: None)
    agent = offline_lib.OfflineIQLAgent(cfg.run_dir)
    rng = np.random.default_rng(5)
    for value, sign in ((200, 1.0), (30, -1.0)):
        obs = [{"pixels": (value + rng.integers(0, 20, (64, 64, 3))).astype(np.uint8),
                "proprio": rng.uniform(PROPRIO.low, PROPRIO.high).astype(np.float32)} for _ in range(16)]
        a = agent.act_batch(obs, np.zeros(16), np.ones(16, bool))
        signed = a.mean(-1) * sign
        assert (signed > 0).all() and signed.mean() > 0.2, (algo, value, signed)  # untrained or cloned: ~0


def test_config_and_cli_refuse_bad_values(capsys):
    with pytest.raises(ValueError, match="algo"):
        offline_lib.OfflineLibConfig(algo="bc")
    with pytest.raises(ValueError, match="filters"):
        offline_lib.OfflineLibConfig(filters="16x8")
    with pytest.raises(ValueError, match="batch_size"):
        offline_lib.OfflineLibConfig(batch_size=0)
    with pytest.raises(SystemExit) as exc:
        offline_lib.main(["--steps", "0"])
    assert exc.value.code == 2 and "steps must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        offline_lib.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert exc.value.code == 0 and "--algo" in out and "PixelEncoder" in out
    assert offline_lib.OfflineLibConfig().dataset_id == "refexp/two-drawer/expert-v1"
    assert offline_lib.parse_filters("16x8x4,32x4x2") == [[16, 8, 4], [32, 4, 2]]


def test_agent_without_a_checkpoint_names_where_it_looked():
    from benchmark.agents import load_agent

    with pytest.raises(FileNotFoundError, match="no offline_lib run at .*offline-iql.*threedrawer-v1-seed7"):
        load_agent("refexp_baselines.families.offline_lib:OfflineIQLAgent", "RefExp/ThreeDrawer-v1", seed=7)
