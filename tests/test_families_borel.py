"""BOReL-style offline VariBAD (refexp_baselines.families.borel): the two variants are one config field
apart, relabelling gives the reward decoder's rewards, the agent carries its belief across the episodes of
a trial and forgets it at a trial's start, the trainer learns a case that needs the belief, and the
harness scores a run directory."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from refexp_baselines.families import borel
from refexp_baselines.meta_trajectories import MetaTrajectory, MetaTrajectorySampler
from refexp_baselines.train import RowIndex

ENV = "RefExp/TwoDrawer-v1"
ROOT = Path(__file__).resolve().parents[1]


def synthetic_codes(episodes_per_task=100, T=5, obs_dim=8, seed=0, revealing=False):
    """Two tasks. Both behaviours act uniformly at random, the next observation records the action's first
    component (o_{t+1}[0] = a_t[0], as a drawer records which way it was pulled) and task 0 pays when it
    was positive, task 1 when negative: the task is in the rewards, and once one step is seen, the
    rewarded sign is known. `revealing`: the behaviours also differ in a reward-free way the states
    record (o_{t+1}[1] = a_t[1], positive in task 0's data, negative in task 1's), so the states give the
    task away, as RefExp's task-specific behaviour policies do."""
    rng = np.random.default_rng(seed)
    E = 2 * episodes_per_task
    tasks = np.repeat([0, 1], episodes_per_task)
    sign = np.where(tasks == 0, 1.0, -1.0)[:, None]
    actions = rng.uniform(-1, 1, size=(E, T, 4)).astype(np.float32)
    if revealing:
        actions[:, :, 1] = sign * rng.uniform(0.1, 1, size=(E, T))
    lat = rng.normal(size=(E, T + 1, obs_dim)).astype(np.float32)
    lat[:, 0, :2] = 0.0
    lat[:, 1:, :2] = actions[:, :, :2]
    return {"latents": lat, "proprio": rng.normal(size=(E, T + 1, 4)).astype(np.float32), "actions": actions,
            "rewards": (actions[:, :, 0] * sign > 0).astype(np.float32), "tasks": tasks, "num_tasks": 2}


def tiny(tmp_path, name="run", **kw):
    base = dict(env=ENV, obs_type="state", episodes=2, out=str(tmp_path / name), deter=16, stoch=4, hidden=32,
                belief_steps=20, relabel_warmup=10, belief_batch=8, relabel_donors=4, agent_hidden=32,
                agent_steps=20, agent_batch=32, bc_steps=5, pool_trajectories=40, checkpoint_every=10)
    return borel.BOReLConfig(**{**base, **kw})


def test_the_two_variants_differ_by_the_relabel_field_only():
    a, b = dataclasses.asdict(borel.variant("borel")), dataclasses.asdict(borel.variant("borel-no-rr"))
    assert {k for k in a if a[k] != b[k]} == {"relabel"}
    assert a["relabel"] is True and b["relabel"] is False
    assert borel.variant("borel").name == "borel" and borel.variant("borel-no-rr").name == "borel-no-rr"
    assert borel.variant("borel") == borel.BOReLConfig()  # the defaults are `borel`
    assert borel.BOReLNoRRAgent.variant_name == "borel-no-rr"
    with pytest.raises(ValueError, match="unknown BOReL variant"):
        borel.variant("borel-rr")


def test_gather_gives_each_meta_trajectory_its_targets_rewards():
    codes = synthetic_codes(episodes_per_task=5)
    E, T = codes["rewards"].shape
    table = np.random.default_rng(0).integers(0, 2, size=(E, 2, T)).astype(np.float32)
    mts = [MetaTrajectory(np.array([0, 3]), np.array([0, 0]), 1, np.ones(2, np.float32)),
           MetaTrajectory(np.array([7, 8]), np.array([1, 1]), 1, np.ones(2, np.float32))]
    b = borel.gather(mts, codes, table)
    assert np.array_equal(b["reward"][0], np.concatenate([table[0, 1], table[3, 1]]))
    assert np.array_equal(b["reward"][1], np.concatenate([table[7, 1], table[8, 1]]))
    # prev_reward is the reward shifted within each episode, 0 at every episode start
    assert np.array_equal(b["prev_reward"][0], np.concatenate([[0], table[0, 1, :-1], [0], table[3, 1, :-1]]))
    plain = borel.gather(mts, codes)
    assert np.array_equal(plain["reward"][1], np.concatenate([codes["rewards"][7], codes["rewards"][8]]))
    # the relabelling sampler draws the source buffer and the target task independently
    ms = borel.RelabelSampler(RowIndex(codes["tasks"], 2), 3, seed=0).sample_batch(200)
    pairs = {(int(m.tasks[0]), m.target) for m in ms}
    assert pairs == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert all((codes["tasks"][m.episode_ids] == m.tasks).all() and len(set(m.tasks)) == 1 for m in ms)


def test_relabelled_rewards_are_the_reward_decoders():
    """The table keeps each episode's recorded rewards under its own task and puts the reward decoder's
    thresholded prediction, for the final beliefs of the other task's recorded meta-trajectories,
    everywhere else."""
    torch.manual_seed(0)
    codes = synthetic_codes(episodes_per_task=6)
    cfg = borel.BOReLConfig(env=ENV, obs_type="state", episodes=2, deter=8, stoch=4, hidden=16)
    filt = borel.make_filter(cfg, 8)
    with torch.no_grad():  # a decoder whose answer depends on both the belief and the observation
        for p in filt.dec_task_reward.parameters():
            p.mul_(20.0)
    table = borel.relabel_table(filt, codes, 2, donors=3, seed=5)
    E, T = codes["rewards"].shape
    own = codes["tasks"]
    assert np.array_equal(table[np.arange(E), own], codes["rewards"])
    feats = borel.donor_features(filt, codes, 2, 3, 5)  # (N, donors, F), the same draw
    obs = np.concatenate([codes["latents"], codes["proprio"]], -1)[:, 1:]
    obs = (torch.as_tensor(obs) - filt.obs_mean) / filt.obs_std
    for e in range(E):
        j = 1 - own[e]
        with torch.no_grad():
            p = torch.stack([torch.sigmoid(filt.dec_task_reward(torch.cat([f.expand(T, -1), obs[e]], -1)).squeeze(-1))
                             for f in feats[j]]).mean(0)
        assert np.array_equal(table[e, j], (p > 0.5).float().numpy())
    other = table[np.arange(E), 1 - own]
    assert 0 < other.mean() < 1 and not np.array_equal(other, codes["rewards"])  # it does change rewards


@pytest.mark.slow
def test_learns_a_case_that_needs_the_belief_and_relabels_it_correctly(tmp_path):
    """On `synthetic_codes` (the task in the rewards only), 600 filter steps and 1500 RL steps: the belief
    names the task on held data, the actor pulls the rewarded way wherever a step has been seen (chance
    0.5), and the relabelled rewards agree with the other task's true rewards."""
    codes, held = synthetic_codes(), synthetic_codes(seed=1)
    cfg = tiny(tmp_path, relabel=False, belief_steps=600, belief_lr=4e-3, agent_steps=1500, agent_batch=64,
               bc_steps=100, pool_trajectories=200, awr_temperature=0.3, checkpoint_every=100)
    summary = borel.train(cfg, log=lambda m: None, codes=codes)
    assert summary["agent_steps"] == 1500 and summary["variant"] == "borel-no-rr"
    filt = borel.train_belief(cfg, codes)  # loads the finished stage
    assert min(borel.task_accuracy(filt, held, 2)) > 0.9
    table = borel.relabel_table(filt, held, 2, 4, 0)
    E = len(held["tasks"])
    assert (table[np.arange(E), 1 - held["tasks"]] == 1 - held["rewards"]).mean() > 0.85
    pool = borel.belief_pool(cfg, filt, held, None, torch.device("cpu"))  # recorded held meta-trajectories
    targets = np.array([m.target for m in MetaTrajectorySampler(RowIndex(held["tasks"], 2), 2, naive=True,
                                                                seed=cfg.seed + 7).sample_batch(200)])
    agent = borel.BOReLAgent(cfg.run_dir)
    with torch.no_grad():
        a, _ = agent.actor.float()(pool["feat"], deterministic=True)
    right = (a[..., 0] * torch.as_tensor(np.where(targets == 0, 1.0, -1.0))[:, None] > 0).float()
    assert right[:, 1:].mean() > 0.9  # untrained: ~0.5
    # a finished run is not retrained; another config in its directory is an error
    assert borel.train(cfg, log=lambda m: None, codes=codes)["agent_steps"] == 1500
    with pytest.raises(ValueError, match="another config"):
        borel.train(dataclasses.replace(cfg, relabel=True, relabel_warmup=300), log=lambda m: None, codes=codes)


@pytest.mark.slow
def test_probe_shows_the_plain_belief_reads_the_task_from_the_states_and_the_relabelled_one_does_not(tmp_path):
    """Where the states give the task away (`revealing`), the belief trained without relabelling still
    names the states' task with every reward zeroed; the one trained with BOReL's relabelling follows the
    rewards (the issue's question, on a toy: dev/borel_probe.py asks it of RefExp runs)."""
    codes, held = synthetic_codes(revealing=True), synthetic_codes(seed=1, revealing=True)
    np.savez(tmp_path / "held.npz", **held)
    spec = importlib.util.spec_from_file_location("borel_probe", ROOT / "dev" / "borel_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    res = {}
    for relabel in (False, True):
        cfg = tiny(tmp_path, f"rr{int(relabel)}", relabel=relabel, belief_steps=600, relabel_warmup=300,
                   belief_batch=16, belief_lr=4e-3, agent_steps=20, pool_trajectories=40, checkpoint_every=100)
        logs = []
        summary = borel.train(cfg, log=logs.append, codes=codes)
        assert summary["variant"] == cfg.name
        out = tmp_path / f"probe{int(relabel)}.json"
        assert probe.main([str(cfg.run_dir), "--codes", str(tmp_path / "held.npz"), "--trajectories", "100",
                           "--out", str(out)]) == 0
        (res[cfg.name],) = json.loads(out.read_text())
    assert any("relabelled rewards from step 300" in m for m in logs)
    assert set(summary["relabelled_rewards"]) == {"own_rewarded", "other_rewarded", "other_changed"}
    table = np.load(tmp_path / "rr1" / "relabel.npz")["table"]
    assert table.shape == (200, 2, 5) and np.array_equal(table[np.arange(200), codes["tasks"]], codes["rewards"])
    plain, rr = res["borel-no-rr"], res["borel"]
    assert plain["variant"] == "borel-no-rr" and plain["test_episodes"] == 100
    for readout in ("decoder", "linear"):
        assert len(plain[readout]["accuracy_recorded"]) == 2
        assert min(plain[readout]["accuracy_recorded"]) > 0.9 and min(rr[readout]["accuracy_recorded"]) > 0.9
        assert min(plain[readout]["accuracy_rewards_zeroed"]) > 0.9, readout  # reads the task from the states
    assert max(rr["decoder"]["accuracy_rewards_zeroed"]) < 0.6  # follows the rewards
    assert max(rr["linear"]["accuracy_rewards_zeroed"]) < 0.6  # measured: decoder 0.31, 0.29; linear 0.34, 0.26
    with pytest.raises(SystemExit) as exc:
        probe.main([str(tmp_path / "nothing")])
    assert exc.value.code == 2


def test_agent_carries_its_belief_across_episodes_and_forgets_it_at_a_trial_start(tmp_path):
    codes = synthetic_codes(episodes_per_task=10)
    borel.train(tiny(tmp_path), log=lambda m: None, codes=codes)
    for f in ("config.json", "belief.pt", "actor.pt", "relabel.npz", "belief_state.pt", "agent_state.pt"):
        assert (tmp_path / "run" / f).is_file()
    for f in ("belief.pt", "actor.pt", "belief_state.pt", "agent_state.pt"):
        torch.load(tmp_path / "run" / f, weights_only=True)
    agent = borel.BOReLAgent(tmp_path / "run")
    assert agent.name == "borel" and agent.trained_env_id == ENV
    assert len(agent.version) == 12 and agent.version == borel.run_version(tmp_path / "run")
    rng = np.random.default_rng(3)
    obs = [{"drawers": rng.normal(size=2).astype(np.float32), "handles": rng.normal(size=(2, 3)).astype(np.float32),
            "proprio": rng.normal(size=4).astype(np.float32)} for _ in range(4)]

    def trial():
        acts = []
        for ep in range(2):  # the same observations in both episodes
            for t, o in enumerate(obs):
                acts.append(agent.act(o, 0.0 if t == 0 else 1.0, t == 0))
        return np.stack(acts)

    agent.reset()
    assert not agent.h.any()
    first = trial()
    assert agent.h.any()
    assert not np.allclose(first[0], first[4])  # episode 2 starts from what episode 1 left in the belief
    agent.reset()  # a new trial: no memory
    assert not agent.h.any()
    assert np.array_equal(trial(), first)
    # batched: each slot is its own trial
    agent.reset_batch([0, 1])
    both = agent.act_batch([obs[0], obs[1]], np.zeros(2), np.ones(2, bool))
    agent.reset()
    assert np.allclose(both[0], agent.act(obs[0], 0.0, True))
    with pytest.raises(ValueError, match="reset_batch"):
        agent.act_batch([obs[0]] * 3, np.zeros(3), np.ones(3, bool))


@pytest.mark.slow
def test_harness_scores_a_tiny_run_directory(tmp_path):
    from benchmark.run import evaluate

    codes = synthetic_codes(episodes_per_task=10)
    borel.train(tiny(tmp_path, relabel=False), log=lambda m: None, codes=codes)
    agent = borel.BOReLAgent(tmp_path / "run")
    assert agent.name == "borel-no-rr"
    for batch in (1, 2):
        res = evaluate(agent, ENV, episodes=2, trials_per_task=1, workers=1, batch=batch, progress=False,
                       obs_type="state")
        assert len(res["success_rate"]) == 2 and res["agent"] == "borel-no-rr"
        assert res["agent_version"] == agent.version


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """Interrupted once in the belief stage (at its relabelling warm-up's end) and once in the RL
    stage, a run resumed each time ends with an uninterrupted run's weights."""
    import refexp_baselines.train as T

    codes = synthetic_codes(episodes_per_task=10)
    borel.train(tiny(tmp_path, "whole"), log=lambda m: None, codes=codes)
    real, saves = T.atomic_save, []

    def save_then_interrupt(obj, path):
        real(obj, path)
        saves.append((path.name, obj["step"]))
        if len(saves) in (1, 3):
            raise KeyboardInterrupt

    monkeypatch.setattr(T, "atomic_save", save_then_interrupt)
    cfg, logs = tiny(tmp_path, "cut"), []
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            borel.train(cfg, log=logs.append, codes=codes)
    assert borel.train(cfg, log=logs.append, codes=codes)["agent_steps"] == 20
    assert saves[:3] == [("belief_state.pt", 10), ("belief_state.pt", 20), ("agent_state.pt", 10)]
    assert [m for m in logs if "resumed" in m] == ["borel: belief resumed at step 10", "borel: agent resumed at step 10"]
    for f in ("belief.pt", "actor.pt"):
        whole = torch.load(tmp_path / "whole" / f, weights_only=True)
        cut = torch.load(tmp_path / "cut" / f, weights_only=True)
        assert all(torch.equal(whole[k], cut[k]) for k in whole), f
    assert np.array_equal(np.load(tmp_path / "whole" / "relabel.npz")["table"],
                          np.load(tmp_path / "cut" / "relabel.npz")["table"])


def test_config_and_cli_refuse_bad_values(capsys):
    with pytest.raises(ValueError, match="relabel_warmup"):
        borel.BOReLConfig(belief_steps=100, relabel_warmup=100)
    borel.BOReLConfig(belief_steps=100, relabel_warmup=100, relabel=False)  # unused without relabelling
    with pytest.raises(ValueError, match="task_samples"):
        borel.BOReLConfig(task_samples=0)
    with pytest.raises(ValueError, match="backup"):
        borel.BOReLConfig(backup="mean")
    with pytest.raises(ValueError, match="obs_type"):
        borel.BOReLConfig(obs_type="rgb")
    with pytest.raises(ValueError, match="agent_steps"):
        borel.BOReLConfig(agent_steps=0)
    for argv in (["--obs-type", "rgb"], ["--cql-alpha", "-1"], ["--belief-steps", "x"], ["--env", "RefExp/Nope-v1"]):
        with pytest.raises(SystemExit) as exc:
            borel.main(argv)
        assert exc.value.code == 2, argv
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        borel.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--no-relabel" in out and "BOReL's reward relabelling" in out and "--cql-alpha" in out
    assert borel.BOReLConfig(obs_type="state").dataset_id == "refexp/two-drawer/expert-state-v1"
    assert borel.BOReLConfig(relabel=False).run_dir == Path("runs/families/borel-no-rr/twodrawer-v1-pixels-seed0")


def test_agent_without_a_checkpoint_names_where_it_looked(tmp_path):
    from benchmark.agents import load_agent

    with pytest.raises(FileNotFoundError, match="no BOReL run at .*borel/threedrawer-v1-seed7"):
        load_agent("refexp_baselines.families.borel:BOReLAgent", "RefExp/ThreeDrawer-v1", seed=7)
    with pytest.raises(FileNotFoundError, match="no BOReL run at .*borel-no-rr/twodrawer-v1-seed9"):
        load_agent("refexp_baselines.families.borel:BOReLNoRRAgent", ENV, seed=9)
    with pytest.raises(FileNotFoundError, match="no BOReL run"):
        borel.BOReLAgent(tmp_path)


@pytest.mark.slow
def test_pixels_run_uses_the_frames_stage_acts_on_pixels_and_is_probed(tmp_path):
    """The pixel path end to end, tiny: local episodes, the shared frames stage (5 VAE steps), a few
    filter and RL steps, the run scored through the harness on pixels (the VAE encodes the agent's
    frames), and the probe on held episodes collected and encoded by the run's own VAE."""
    from benchmark.run import evaluate

    cfg = borel.BOReLConfig(env=ENV, obs_type="pixels", dataset="local:2", frames_steps=5, seed=0,
                            out=str(tmp_path / "run"), runs_dir=str(tmp_path / "runs"), deter=8, stoch=4, hidden=16,
                            belief_steps=6, relabel_warmup=3, belief_batch=2, relabel_donors=2, agent_hidden=16,
                            agent_steps=6, agent_batch=16, bc_steps=2, pool_trajectories=4, checkpoint_every=3)
    assert borel.train(cfg, log=lambda m: None)["agent_steps"] == 6
    assert list((tmp_path / "runs").rglob("frames-*/codes.npz"))  # the method's own frames stage made the codes
    torch.load(tmp_path / "run" / "vae.pt", weights_only=True)
    res = evaluate(borel.BOReLAgent(tmp_path / "run", ENV), ENV, episodes=1, trials_per_task=1, workers=1,
                   progress=False, obs_type="pixels")
    assert len(res["success_rate"]) == 1
    spec = importlib.util.spec_from_file_location("borel_probe", ROOT / "dev" / "borel_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    held = probe.collect_held(tmp_path / "run", per_task=2)
    assert held["latents"].shape[-1] == json.loads((tmp_path / "run" / "config.json").read_text())["code_dim"]
    out = probe.probe(tmp_path / "run", held, trajectories=4)
    for readout in ("decoder", "linear"):
        assert len(out[readout]["accuracy_recorded"]) == len(out[readout]["accuracy_rewards_zeroed"]) == cfg.k
