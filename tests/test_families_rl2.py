"""RL^2 (refexp_baselines.families.rl2): the wrapper hook, the SB3 view of the vector env, a tiny run
that trains, resumes and is scored through the harness's SB3 path."""

import functools
import io
import json
import zipfile

import numpy as np
import pytest
import torch

import refexp_envs
from benchmark.agents import TrialWrapper
from benchmark.protocol import DEV_SECRET, secret_id
from refexp_baselines.families import rl2

ENV = "RefExp/TwoDrawer-v1"
TINY = dict(env=ENV, obs_type="state", steps=300, n_steps=150, batch_size=50, n_epochs=1, eval_every=150,
            eval_trials=1, checkpoint_every=150, progress=False)


def test_config_refuses_bad_values_and_cli_exits_2(tmp_path):
    with pytest.raises(ValueError, match="obs_type"):
        rl2.RL2Config(obs_type="rgb")
    with pytest.raises(ValueError, match="unknown env"):
        rl2.RL2Config(env="RefExp/Nope-v9")
    with pytest.raises(ValueError, match="steps"):
        rl2.RL2Config(steps=0)
    with pytest.raises(SystemExit) as exc:
        rl2.main(["--obs-type", "rgb"])
    assert exc.value.code == 2
    cfg = rl2.RL2Config(env="RefExp/ThreeDrawer-v1", obs_type="state", seed=3)
    assert cfg.k == refexp_envs.default_episodes("RefExp/ThreeDrawer-v1")
    assert cfg.run_dir.name == "threedrawer-v1-state-seed3"
    with pytest.raises(FileNotFoundError, match="not a finished"):
        rl2.ship(tmp_path)
    assert rl2.agent_name("pixels") == "rl2" and rl2.agent_name("state") == "rl2-state"


@pytest.mark.slow
def test_vector_env_wrappers_and_sb3_view():
    """The wrappers hook runs TrialWrapper in the spawned worker; sb3_vec_env gives SB3's autoreset:
    the trial's last observation in `terminal_observation`, the next trial's first one in `obs`."""
    with pytest.raises(TypeError, match="callables"):
        refexp_envs.make_vector_env(ENV, 1, wrappers=["not callable"])
    venv = refexp_envs.make_vector_env(ENV, 1, wrappers=[functools.partial(TrialWrapper, episodes=1)],
                                       autoreset_mode="SameStep", obs_type="state")
    env = rl2.sb3_vec_env(venv)
    try:
        env.seed(0)
        obs = env.reset()
        assert obs["episode_start"][0, 0] == 1.0 and obs["prev_reward"].shape == (1, 1)
        for t in range(refexp_envs.HORIZON):
            obs, rew, dones, infos = env.step(np.zeros((1, 4), np.float32))
            assert dones[0] == (t == refexp_envs.HORIZON - 1)
        assert infos[0]["TimeLimit.truncated"] and infos[0]["terminal_observation"]["episode_start"][0] == 0.0
        assert obs["episode_start"][0, 0] == 1.0  # already the next trial's first observation
    finally:
        env.close()
    plain = refexp_envs.make_vector_env(ENV, 1, obs_type="state")  # Gymnasium's default autoreset
    try:
        with pytest.raises(ValueError, match="SameStep"):
            rl2.sb3_vec_env(plain)
    finally:
        plain.close()


@pytest.mark.slow
def test_tiny_rl2_run_trains_saves_and_is_scored_by_the_harness(tmp_path, monkeypatch):
    from benchmark.run import evaluate

    cfg = rl2.RL2Config(**TINY, out=str(tmp_path / "run"))
    summary = rl2.train(cfg, log=lambda m: None)
    assert summary["env_steps"] == 300
    path = tmp_path / "run" / "model.zip"
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("data"))["_n_updates"] == 2  # two rollouts, one epoch each: it trained
        state = torch.load(io.BytesIO(zf.read("policy.pth")), weights_only=True)  # a plain state dict
    assert any("lstm_actor" in k for k in state)
    curve = rl2.read_curve(tmp_path / "run")
    assert [r["env_steps"] for r in curve] == [0, 150, 300]
    assert all(r["secret_id"] == secret_id(DEV_SECRET) and 0 <= r["success_ep1"] <= 1 for r in curve)
    # the harness scores the saved file through its SB3 path (its own process), as a submission
    res = evaluate(str(path), ENV, episodes=cfg.k, trials_per_task=1, workers=1, progress=False, obs_type="state",
                   isolation="process")
    assert res["agent"] == "sb3-RecurrentPPO-model" and len(res["success_rate"]) == cfg.k
    # the learning curve's last row is that file scored on the development secret, in-process
    dev = rl2.evaluate_model(path, cfg, trials_per_task=1)
    assert dev["success_rate"] == [curve[-1][f"success_ep{i + 1}"] for i in range(cfg.k)]
    # a finished run is not retrained
    assert rl2.train(cfg, log=lambda m: None)["env_steps"] == 300
    # shipped, it is scored per training seed as `rl2-state`, its online steps on record in the results
    monkeypatch.setattr(rl2, "SHIPPED_ROOT", tmp_path / "shipped")
    dst = rl2.ship(tmp_path / "run")
    assert dst == tmp_path / "shipped" / "rl2-state" / "twodrawer-v1-seed0"
    meta = json.loads((dst / "config.json").read_text())
    assert meta["env_steps"] == 300 and meta["train_wall_s"] > 0 and meta["config"]["obs_type"] == "state"
    res = evaluate("refexp_baselines.families.rl2:RL2StateAgent", ENV, episodes=cfg.k, trials_per_task=1, workers=1,
                   progress=False, obs_type="state", isolation="none")
    assert res["agent"] == "rl2-state" and res["online_steps"] == 300 and res["dataset_id"] is None
    assert res["trained_env_id"] == ENV and res["agent_version"] != "unversioned"
    with pytest.raises(FileNotFoundError, match="no shipped RL"):
        rl2.RL2Agent(env_id=ENV, seed=0)  # no pixels model shipped
    with pytest.raises(ValueError, match="state model"):
        rl2.RL2Agent(env_id=ENV, checkpoint=dst)


@pytest.mark.slow
def test_interrupted_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    cfg = rl2.RL2Config(**TINY, out=str(tmp_path / "run"))
    real = rl2.RL2Trainer.evaluate
    calls = []

    def interrupted_at_second_eval(self, model):
        calls.append(int(model.num_timesteps))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, model)

    monkeypatch.setattr(rl2.RL2Trainer, "evaluate", interrupted_at_second_eval)
    with pytest.raises(KeyboardInterrupt):
        rl2.train(cfg, log=lambda m: None)
    assert calls == [0, 150] and not (tmp_path / "run" / "done.json").exists()
    monkeypatch.setattr(rl2.RL2Trainer, "evaluate", real)
    logs = []
    assert rl2.train(cfg, log=logs.append)["env_steps"] == 300
    assert any("resumed" in m and "150" in m for m in logs)
    assert [r["env_steps"] for r in rl2.read_curve(tmp_path / "run")] == [0, 150, 300]
    with pytest.raises(ValueError, match="another config"):
        rl2.train(rl2.RL2Config(**{**TINY, "gamma": 0.5}, out=str(tmp_path / "run")), log=lambda m: None)
