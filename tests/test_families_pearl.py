"""PEARL-style posterior sampling (refexp_baselines.families.pearl): the context encoder is permutation
invariant and narrows with context, Thompson sampling draws different z (and tasks) in episode 1 under
different agent seeds, the trainer learns a case whose task is in the rewards, and bad input is refused."""


import numpy as np
import pytest
import torch

from refexp_baselines.families import pearl

ENV = "RefExp/TwoDrawer-v1"


def test_encoder_is_permutation_invariant_and_ignores_masked_transitions():
    torch.manual_seed(0)
    enc = pearl.ContextEncoder(trans_dim=11, z_dim=5, hidden=32)
    x = torch.randn(3, 20, 11)
    perm = torch.randperm(20)
    with torch.no_grad():
        (m1, v1), (m2, v2) = enc.posterior(x), enc.posterior(x[:, perm])
        assert torch.allclose(m1, m2, atol=1e-5) and torch.allclose(v1, v2, atol=1e-6)
        mask = torch.zeros(3, 20)
        mask[:, :7] = 1
        y = x.clone()
        y[:, 7:] = torch.randn(3, 13, 11)  # masked-out transitions change: nothing changes
        (m3, v3), (m4, v4) = enc.posterior(x, mask), enc.posterior(y, mask)
        assert torch.allclose(m3, m4) and torch.allclose(v3, v4)
        m5, v5 = enc.posterior(x[:, :7])
        assert torch.allclose(m3, m5, atol=1e-5) and torch.allclose(v3, v5, atol=1e-6)
    with pytest.raises(ValueError, match="encoder takes 11"):
        enc.posterior(torch.randn(1, 4, 10))


def test_posterior_narrows_with_context_and_is_the_prior_without():
    torch.manual_seed(0)
    enc = pearl.ContextEncoder(trans_dim=6, z_dim=4, hidden=16)
    x = torch.randn(2, 50, 6)
    with torch.no_grad():
        m0, v0 = enc.posterior(x[:, :0])
        assert torch.equal(m0, torch.zeros(2, 4)) and torch.equal(v0, torch.ones(2, 4))  # the prior
        variances = [enc.posterior(x[:, :n])[1] for n in (1, 5, 20, 50)]
    for a, b in zip([v0] + variances, variances):
        assert (b < a).all()  # every transition adds precision


def synthetic_codes(episodes_per_task=60, T=6, obs_dim=8, seed=0):
    """Two tasks with the same observations (noise) and the same rewarded behaviour scale: task i's
    behaviour action is +0.5 (task 0) or -0.5 (task 1) on every dim and is rewarded at every step. Under
    task i the other task's action pays nothing, so only rewards tell the tasks apart in a mixed context."""
    rng = np.random.default_rng(seed)
    E = 2 * episodes_per_task
    tasks = np.repeat([0, 1], episodes_per_task)
    actions = np.where(tasks[:, None, None] == 0, 0.5, -0.5) * np.ones((E, T, 4))
    return {"latents": rng.normal(size=(E, T + 1, obs_dim)).astype(np.float32),
            "proprio": rng.normal(size=(E, T + 1, 4)).astype(np.float32), "actions": actions.astype(np.float32),
            "rewards": np.ones((E, T), np.float32), "tasks": tasks, "num_tasks": 2}


def tiny_cfg(tmp_path, **kw):
    base = dict(env=ENV, obs_type="state", seed=0, out=str(tmp_path / "run"), z_dim=4, enc_hidden=32, hidden=32,
                context=16, tasks_per_batch=8, query=8, steps=20, bc_steps=5, checkpoint_every=10, n_step=2)
    return pearl.PEARLConfig(**{**base, **kw})


def test_sampler_mixes_other_tasks_with_zeroed_rewards():
    codes = synthetic_codes()
    obs = np.concatenate([codes["latents"], codes["proprio"]], -1)
    s = pearl.TransitionSampler(obs, codes["actions"], codes["rewards"], codes["tasks"], 2, mix_other=0.5, seed=0)
    targets = np.array([0, 1] * 50)
    eps, steps, own = s.draw(targets, 40)
    assert (codes["tasks"][eps] == targets[:, None]).astype(float).tolist() == own.tolist()
    assert 0.4 < own.mean() < 0.6
    assert (pearl.TransitionSampler(obs, codes["actions"], codes["rewards"], codes["tasks"], 2, 0.0, 0)
            .draw(targets, 40)[2] == 1).all()
    ret, idx, done = pearl.nstep_targets(np.ones((1, 5), np.float32), 2, 0.5)
    assert ret.tolist() == [[1.5, 1.5, 1.5, 1.5, 1.0]] and idx.tolist() == [2, 3, 4, 4, 4]
    assert done.tolist() == [0, 0, 0, 1, 1]


def agent_from_untrained_run(tmp_path, **kw):
    cfg = tiny_cfg(tmp_path, steps=1, **kw)
    pearl.train(cfg, log=lambda m: None, codes=synthetic_codes(episodes_per_task=4))
    return pearl.PEARLAgent(cfg.run_dir, ENV)


def state_obs(n, rng):
    """State observations as TwoDrawer-v1's state env gives them (drawers 2 + handles 2 x 3 = the toy's 8)."""
    return [{"drawers": rng.normal(size=2).astype(np.float32), "handles": rng.normal(size=(2, 3)).astype(np.float32),
             "proprio": rng.normal(size=4).astype(np.float32)} for _ in range(n)]


def test_thompson_sampling_draws_from_the_prior_in_episode_one_by_agent_seed(tmp_path):
    agent = agent_from_untrained_run(tmp_path)
    obs = state_obs(4, np.random.default_rng(0))
    obs = [obs[0]] * 4  # the same first observation in every trial
    agent.reset_batch([1, 2, 3, 1])
    a = agent.act_batch(obs, np.zeros(4), np.ones(4, bool))
    z = agent._z.clone()
    assert all(torch.equal(m, torch.zeros(4)) and torch.equal(v, torch.ones(4)) for m, v in agent.last_posterior)
    assert not torch.allclose(z[0], z[1]) and not torch.allclose(z[1], z[2])  # different seeds, different z
    assert torch.equal(z[0], z[3]) and np.array_equal(a[0], a[3])  # the same seed, the same draw
    assert not np.allclose(a[0], a[1])
    # within the episode z is held; the next episode draws again from a posterior that has narrowed
    rng = np.random.default_rng(1)
    for _ in range(5):
        agent.act_batch(state_obs(4, rng), np.ones(4), np.zeros(4, bool))
    assert torch.equal(agent._z, z)
    agent.act_batch(state_obs(4, rng), np.zeros(4), np.ones(4, bool))
    assert not torch.equal(agent._z, z) and all(len(c) == 5 for c in agent._context)
    assert all((v < 1).all() for _, v in agent.last_posterior)
    # one trial at a time (the harness's seed() then reset()) draws what slot 0 drew
    agent.seed(1)
    agent.reset()
    agent.act(obs[0], 0.0, True)
    assert torch.equal(agent._z[0], z[0])
    with pytest.raises(ValueError, match="reset_batch"):
        agent.act_batch(obs, np.zeros(4), np.ones(4, bool))


@pytest.mark.slow
def test_learns_a_task_read_from_rewards_and_acts_through_the_harness(tmp_path):
    """On the toy, with half of each context from the other task (rewards zeroed), the posterior given a
    task's episodes separates the tasks, the actor then takes that task's action, episode 1's draws from
    the prior go to both tasks across agent seeds, and the run is scored by the harness."""
    from benchmark.run import evaluate

    codes = synthetic_codes()
    # trivially learnable: one-step targets with a short discount (Q ~ the reward), a Q-maximising actor, no KL
    # (the task is an interaction of action and reward, which the encoder finds sooner without it)
    cfg = tiny_cfg(tmp_path, mix_other=0.5, actor_loss="sac", cql_alpha=0.0, kl_weight=0.0, gamma=0.5, n_step=1,
                   steps=1500, bc_steps=100, lr=3e-3, query=16, tasks_per_batch=16, checkpoint_every=500,
                   eval_every=1500, eval_trials=1, episodes=2)
    summary = pearl.train(cfg, log=lambda m: None, codes=codes)
    assert summary["steps"] == 1500 and set(summary["last_dev_eval"]) == {"success_ep1", "success_ep2", "exploration_score"}
    for name in ("model.pt", "state.pt"):
        torch.load(tmp_path / "run" / name, weights_only=True)
    _, _, model = pearl.load_model(tmp_path / "run")
    held = synthetic_codes(seed=1)
    obs = torch.as_tensor(np.concatenate([held["latents"], held["proprio"]], -1))
    acts, rews = torch.as_tensor(held["actions"]), torch.as_tensor(held["rewards"])
    with torch.no_grad():
        x = model.transitions(obs[:, :-1], acts, rews, obs[:, 1:])  # (E, T, D): each episode one context
        mean, var = model.encoder.posterior(x)
        a, _ = model.actor(torch.cat([model.norm(obs[:, 0]), mean], -1), deterministic=True)
    sign = np.where(held["tasks"] == 0, 1.0, -1.0)
    assert (a.mean(-1).numpy() * sign > 0.25).mean() > 0.95  # the task's own action, read from the context
    assert (var.min(-1).values < 0.05).all()  # narrowed along the direction that tells the tasks apart
    # episode 1, prior draws: different agent seeds take both tasks' actions
    agent = pearl.PEARLAgent(tmp_path / "run", ENV)
    lat = held["latents"][0, 0]
    ob = {"drawers": lat[:2], "handles": lat[2:].reshape(2, 3), "proprio": held["proprio"][0, 0]}
    agent.reset_batch(list(range(40)))
    signs = np.sign(agent.act_batch([ob] * 40, np.zeros(40), np.ones(40, bool)).mean(-1))
    assert (signs > 0).sum() >= 5 and (signs < 0).sum() >= 5
    # the run acts through the Agent protocol on the real env's state observations, one trial at a time and batched
    for batch in (1, 2):
        res = evaluate(pearl.PEARLAgent(tmp_path / "run", ENV), ENV, episodes=2, trials_per_task=1, workers=1,
                       batch=batch, progress=False, obs_type="state")
        assert len(res["success_rate"]) == 2
    # a finished run is not retrained; another config in its directory is an error
    assert pearl.train(cfg, log=lambda m: None, codes=codes)["steps"] == 1500
    with pytest.raises(ValueError, match="another config"):
        pearl.train(pearl.PEARLConfig(**{**cfg.__dict__, "mix_other": 0.2}), log=lambda m: None, codes=codes)


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    import refexp_baselines.train as T

    codes = synthetic_codes(episodes_per_task=10)
    pearl.train(tiny_cfg(tmp_path, out=str(tmp_path / "whole"), steps=30), log=lambda m: None, codes=codes)
    real, saves = T.atomic_save, []

    def save_then_interrupt(obj, path):
        real(obj, path)
        saves.append(obj["step"])
        raise KeyboardInterrupt

    monkeypatch.setattr(T, "atomic_save", save_then_interrupt)
    cfg = tiny_cfg(tmp_path, out=str(tmp_path / "cut"), steps=30)
    with pytest.raises(KeyboardInterrupt):
        pearl.train(cfg, log=lambda m: None, codes=codes)
    monkeypatch.setattr(T, "atomic_save", real)
    logs = []
    assert saves == [10] and pearl.train(cfg, log=logs.append, codes=codes)["steps"] == 30
    assert "pearl: resumed at step 10" in logs
    whole = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)
    cut = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)
    assert all(torch.equal(whole[k], cut[k]) for k in whole)


def test_config_and_cli_refuse_bad_values(capsys):
    with pytest.raises(ValueError, match="mix_other"):
        pearl.PEARLConfig(mix_other=1.0)
    with pytest.raises(ValueError, match="actor_loss"):
        pearl.PEARLConfig(actor_loss="ppo")
    with pytest.raises(ValueError, match="z_dim"):
        pearl.PEARLConfig(z_dim=0)
    with pytest.raises(SystemExit) as exc:
        pearl.main(["--mix-other", "2"])
    assert exc.value.code == 2 and "mix_other must be in [0, 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        pearl.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())  # help lines wrap at the terminal's width
    assert exc.value.code == 0
    for flag, words in (("--mix-other", "other tasks' data"), ("--actor-loss", "advantage-weighted"),
                        ("--z-dim", "task latent")):
        assert flag in out and words in out
    assert pearl.PEARLConfig(obs_type="state").dataset_id == "refexp/two-drawer/expert-state-v1"


def test_agent_without_a_checkpoint_names_where_it_looked(tmp_path):
    from benchmark.agents import load_agent

    with pytest.raises(FileNotFoundError, match="no PEARL run at .*threedrawer-v1-seed7"):
        load_agent("refexp_baselines.families.pearl:PEARLAgent", "RefExp/ThreeDrawer-v1", seed=7)
    with pytest.raises(FileNotFoundError, match="no PEARL run"):
        pearl.PEARLAgent(tmp_path)


def test_shipped_checkpoints_are_small_plain_state_dicts_of_one_config():
    versions = set()
    for s in range(5):
        d = pearl.shipped_dir(ENV, s)
        for name in ("model.pt", "vae.pt"):
            assert (d / name).stat().st_size <= 1_000_000
            torch.load(d / name, weights_only=True)
        agent = pearl.PEARLAgent(env_id=ENV, seed=s)
        assert agent.cfg.seed == s and agent.cfg.env == ENV and agent.vae is not None
        assert (agent.cfg.mix_other, agent.cfg.actor_loss, agent.cfg.steps) == (0.5, "awr", 10000)
        versions.add(agent.version)
    assert len(versions) == 1  # the five seeds are one agent version
