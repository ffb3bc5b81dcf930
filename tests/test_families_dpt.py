"""DPT-style transformer (refexp_baselines.families.dpt): the causal mask hides the future, the trainer
learns a case whose answer is a function of the context, and the agent acts through the harness."""

import json

import numpy as np
import pytest
import torch

from refexp_baselines.families import dpt
from refexp_baselines.meta_trajectories import MetaTrajectorySampler, gather_batch
from refexp_baselines.train import RowIndex

ENV = "RefExp/TwoDrawer-v1"


def test_causal_mask_hides_the_future():
    torch.manual_seed(0)
    model = dpt.DPTModel(obs_dim=5, max_len=20, d_model=32, layers=2, heads=4).eval()
    x = torch.randn(2, 20, 5 + 4 + 2)
    y = x.clone()
    y[:, 12:] = torch.randn(2, 8, 11)  # change every step from 12 on
    with torch.no_grad():
        (m1, s1), (m2, s2) = model(x), model(y)
    assert torch.allclose(m1[:, :12], m2[:, :12], atol=1e-6) and torch.allclose(s1[:, :12], s2[:, :12], atol=1e-6)
    assert not torch.allclose(m1[:, 12:], m2[:, 12:])  # later outputs do see it
    with pytest.raises(ValueError, match="context"):
        model(torch.randn(1, 21, 11))


def synthetic_codes(episodes_per_task=200, T=5, obs_dim=8, seed=0):
    """Two tasks; task i's behaviour action is constant (+0.5 or -0.5 on every dim), its episodes
    rewarded at every step, its observations noise. With all K episodes from the target's buffer
    (the naive sampler) the target's action is fixed by the context (the actions before it, within
    and across episodes) everywhere except at the trial's first step, where nothing is seen yet."""
    rng = np.random.default_rng(seed)
    E = 2 * episodes_per_task
    tasks = np.repeat([0, 1], episodes_per_task)
    actions = np.where(tasks[:, None, None] == 0, 0.5, -0.5) * np.ones((E, T, 4))
    return {"latents": rng.normal(size=(E, T + 1, obs_dim)).astype(np.float32),
            "proprio": rng.normal(size=(E, T + 1, 4)).astype(np.float32), "actions": actions.astype(np.float32),
            "rewards": np.ones((E, T), np.float32), "tasks": tasks, "num_tasks": 2}


def test_tokens_weight_only_the_target_tasks_episodes():
    codes = synthetic_codes()
    mts = MetaTrajectorySampler(RowIndex(codes["tasks"], 2), 3, False, 0).sample_batch(8)
    batch = gather_batch(mts, codes["latents"], codes["proprio"], codes["actions"], codes["rewards"])
    tokens, actions, weight = dpt.tokens_from_batch(batch)
    assert tokens.shape == (8, 15, 8 + 4 + 4 + 2) and weight.shape == (8, 15)
    for b, m in enumerate(mts):
        assert list(weight[b].reshape(3, 5)[:, 0]) == list((m.tasks == m.target).astype(float))


@pytest.mark.slow
def test_learns_a_context_determined_action_and_acts_through_the_harness(tmp_path):
    from benchmark.run import evaluate

    codes = synthetic_codes()
    cfg = dpt.DPTConfig(env=ENV, obs_type="state", episodes=2, seed=0, out=str(tmp_path / "run"), d_model=32,
                        layers=2, heads=4, steps=300, batch=16, lr=1e-3, checkpoint_every=100, naive=True,
                        eval_every=300, eval_trials=1)
    summary = dpt.train(cfg, log=lambda m: None, codes=codes)
    assert summary["steps"] == 300 and set(summary["last_dev_eval"]) == {"success_ep1", "success_ep2", "exploration_score"}
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    model = dpt.DPTModel(meta["obs_dim"], meta["max_len"], 32, 2, 4)
    model.load_state_dict(torch.load(tmp_path / "run" / "model.pt", weights_only=True))  # a plain state dict
    torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    held_out = synthetic_codes(seed=1)  # new episodes (new observations), the same rule
    mts = MetaTrajectorySampler(RowIndex(held_out["tasks"], 2), 2, True, 99).sample_batch(64)
    tokens, actions, weight = (torch.as_tensor(x) for x in dpt.tokens_from_batch(
        gather_batch(mts, held_out["latents"], held_out["proprio"], held_out["actions"], held_out["rewards"])))
    with torch.no_grad():
        mean, _ = model(tokens)
    err = ((mean - actions) ** 2).mean(-1)
    determined = weight.clone()
    determined[:, 0] = 0  # the first step of the trial: nothing in context yet
    assert (err * determined).sum() / determined.sum() < 0.01  # learned (untrained: ~0.25)
    assert err[:, 5].mean() < 0.01  # including the next episode's first step: read from the previous episode
    first = err[:, 0][weight[:, 0] > 0]
    assert first.mean() > 0.1  # the undetermined step stays a guess on unseen observations
    # the run acts through the Agent protocol, one trial at a time and batched
    agent = dpt.DPTAgent(tmp_path / "run", ENV, seed=0)
    for batch in (1, 2):
        res = evaluate(agent, ENV, episodes=2, trials_per_task=1, workers=1, batch=batch, progress=False,
                       obs_type="state")
        assert len(res["success_rate"]) == 2
    # a finished run is not retrained; another config in its directory is an error
    assert dpt.train(cfg, log=lambda m: None, codes=codes)["steps"] == 300
    with pytest.raises(ValueError, match="another config"):
        dpt.train(dpt.DPTConfig(**{**cfg.__dict__, "lr": 1e-2}), log=lambda m: None, codes=codes)


def test_config_and_cli_refuse_bad_values():
    with pytest.raises(ValueError, match="multiple of heads"):
        dpt.DPTConfig(d_model=30, heads=4)
    with pytest.raises(SystemExit) as exc:
        dpt.main(["--obs-type", "rgb"])
    assert exc.value.code == 2
    assert dpt.DPTConfig(obs_type="state").dataset_id == "refexp/two-drawer/expert-state-v1"


def test_agent_without_a_checkpoint_names_where_it_looked(tmp_path):
    from benchmark.agents import load_agent

    with pytest.raises(FileNotFoundError, match="no DPT run at .*threedrawer-v1-seed7"):
        load_agent("refexp_baselines.families.dpt:DPTAgent", "RefExp/ThreeDrawer-v1", seed=7)
    with pytest.raises(FileNotFoundError, match="no DPT run"):
        dpt.DPTAgent(tmp_path)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """Sampling is driven by the saved sampler state and training draws nothing else (no dropout), so
    a run interrupted after its first checkpoint and resumed ends with an uninterrupted run's weights."""
    import refexp_baselines.train as T

    codes = synthetic_codes(episodes_per_task=10)
    kw = dict(env=ENV, obs_type="state", episodes=2, d_model=16, layers=1, heads=2, steps=60, batch=4,
              checkpoint_every=20)
    dpt.train(dpt.DPTConfig(**kw, out=str(tmp_path / "whole")), log=lambda m: None, codes=codes)
    real, saves = T.atomic_save, []

    def save_then_interrupt(obj, path):
        real(obj, path)
        saves.append(obj["step"])
        raise KeyboardInterrupt

    monkeypatch.setattr(T, "atomic_save", save_then_interrupt)
    cfg = dpt.DPTConfig(**kw, out=str(tmp_path / "cut"))
    with pytest.raises(KeyboardInterrupt):
        dpt.train(cfg, log=lambda m: None, codes=codes)
    monkeypatch.setattr(T, "atomic_save", real)
    logs = []
    assert saves == [20] and dpt.train(cfg, log=logs.append, codes=codes)["steps"] == 60
    assert "dpt: resumed at step 20" in logs
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)
    cut = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)
    assert all(torch.equal(whole[k], cut[k]) for k in whole)


@pytest.mark.slow
def test_pixels_run_uses_the_frames_stage_and_acts_on_pixels(tmp_path):
    """The pixel path end to end, tiny: local episodes, the shared frames stage (5 VAE steps), 20 DPT
    steps, and the run scored through the harness on pixels (the VAE encodes the agent's frames)."""
    from benchmark.run import evaluate

    cfg = dpt.DPTConfig(env=ENV, obs_type="pixels", dataset="local:2", frames_steps=5, seed=0, out=str(tmp_path / "run"),
                        runs_dir=str(tmp_path / "runs"), d_model=16, layers=1, heads=2, steps=20, batch=2,
                        checkpoint_every=10)
    assert dpt.train(cfg, log=lambda m: None)["steps"] == 20
    assert list((tmp_path / "runs").rglob("frames-*/codes.npz"))  # the method's own frames stage made the codes
    torch.load(tmp_path / "run" / "vae.pt", weights_only=True)
    res = evaluate(dpt.DPTAgent(tmp_path / "run", ENV), ENV, episodes=1, trials_per_task=1, workers=1, progress=False,
                   obs_type="pixels")
    assert len(res["success_rate"]) == 1


def test_agent_version_is_a_hash_of_what_it_loads(tmp_path):
    from refexp_baselines.families import files_version

    for name, data in (("config.json", b"{}"), ("model.pt", b"w1")):
        (tmp_path / name).write_bytes(data)
    v1 = files_version(tmp_path, ("config.json", "model.pt", "vae.pt"))
    assert v1 == files_version(tmp_path, ("config.json", "model.pt", "vae.pt")) and len(v1) == 12
    (tmp_path / "model.pt").write_bytes(b"w2")
    assert files_version(tmp_path, ("config.json", "model.pt", "vae.pt")) != v1


def test_desk_meta_trajectories_stay_within_one_train_desk(tmp_path, monkeypatch):
    """Desk-v2 (64 tasks, M = 4, desks 12-15 in no dataset): DPT's synthetic meta-trajectories draw their K
    buffers and target within one desk, as the reference method's (`MetaTrajectorySampler(choices=M)`)."""
    rng = np.random.default_rng(0)
    tasks = np.repeat(np.arange(48), 2)  # the train desks' tasks only
    E, T = len(tasks), 3
    codes = {"latents": rng.normal(size=(E, T + 1, 6)).astype(np.float32),
             "proprio": rng.normal(size=(E, T + 1, 4)).astype(np.float32),
             "actions": rng.uniform(-1, 1, (E, T, 4)).astype(np.float32), "rewards": np.zeros((E, T), np.float32),
             "tasks": tasks, "num_tasks": 64}
    drawn = []
    real = MetaTrajectorySampler.sample_batch
    monkeypatch.setattr(MetaTrajectorySampler, "sample_batch",
                        lambda self, n: drawn.append(real(self, n)) or drawn[-1])
    cfg = dpt.DPTConfig(env="RefExp/Desk-v2", obs_type="state", seed=0, out=str(tmp_path / "run"), d_model=16,
                        layers=1, heads=2, steps=3, batch=8, checkpoint_every=3)
    assert dpt.train(cfg, log=lambda m: None, codes=codes)["steps"] == 3
    mts = [m for batch in drawn for m in batch]
    assert mts and all(len({int(t) // 4 for t in (*m.tasks, m.target)}) == 1 for m in mts)
    assert max(int(m.target) for m in mts) < 48
