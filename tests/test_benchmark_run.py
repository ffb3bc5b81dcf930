"""benchmark.run: closed-form numbers of known agents, seeding, workers, resume, SB3, JSON, CLI.

Fast: state observations (the scripted agents read only the proprioception, so they behave the
same on pixels) and a few trials.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from benchmark import run
from benchmark.agents import PrevRewardWrapper
from benchmark.run import evaluate, trial_spec, write_json_atomic
from benchmark.schema import validate_results

ENV = "RefExp/TwoDrawer-v0"

COIN_AGENT = '''
import numpy as np
from refexp_envs.policies import ScriptedDrawerPolicy


class CoinAgent:
    """Opens one drawer per trial, chosen by its per-trial seed: successes depend on the seeding."""

    name = "coin"
    version = "0.1"

    def __init__(self, env_id, seed=0):
        import gymnasium as gym
        n = gym.spec(env_id).kwargs["num_drawers"]
        self.policies = [ScriptedDrawerPolicy(i, n) for i in range(n)]
        self.rng = np.random.default_rng(seed)

    def seed(self, seed):
        self.rng = np.random.default_rng(seed)

    def reset(self):
        self.drawer = int(self.rng.integers(len(self.policies)))

    def act(self, obs, reward, episode_start):
        return self.policies[self.drawer](obs)
'''


@pytest.fixture
def coin_agent(tmp_path, monkeypatch):
    (tmp_path / "coin_agent_mod.py").write_text(COIN_AGENT)
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers inherit sys.path
    return "coin_agent_mod:CoinAgent"


def _raw(res, key="raw_successes"):
    return np.asarray(res[key])


def test_trial_spec_depends_on_seed_and_trial_only():
    a, b = trial_spec(3, 7, 2, 3), trial_spec(3, 7, 2, 3)
    assert a == b and len(a.reset_seeds) == 3
    tasks = [trial_spec(0, i, 3, 1).task for i in range(300)]
    assert set(tasks) == {0, 1, 2} and abs(np.mean(np.array(tasks) == 0) - 1 / 3) < 0.1
    assert [trial_spec(1, i, 3, 1).task for i in range(300)] != tasks


def test_always_first_is_one_exactly_when_task_is_zero():
    res = evaluate("always-first", ENV, episodes=2, trials=6, seeds=(0, 1), workers=1, progress=False, obs_type="state")
    tasks, raw = _raw(res, "raw_tasks"), _raw(res)
    assert raw.shape == (2, 6, 2)
    expected = np.repeat((tasks == 0)[:, :, None], 2, axis=2).astype(int)
    np.testing.assert_array_equal(raw, expected)
    assert 0 < (tasks == 0).sum() < tasks.size  # the draws give both tasks
    assert res["success_rate"] == pytest.approx([(tasks == 0).mean()] * 2)
    assert res["bayes_optimal"] == [0.5, 1.0]
    assert res["eligible"] and res["dataset_id"] is None


def test_scripted_explorer_is_bayes_optimal_on_three_drawers():
    res = evaluate(
        "scripted-explorer", "RefExp/ThreeDrawer-v0", episodes=3, trials=6, seeds=(4,), workers=1,
        progress=False, obs_type="state",
    )
    tasks, raw = _raw(res, "raw_tasks")[0], _raw(res)[0]
    assert set(tasks) == {0, 1, 2}  # seed 4 draws every task in 6 trials
    np.testing.assert_array_equal(raw[:, 0], (tasks == 0).astype(int))  # = always-first's episode 1
    np.testing.assert_array_equal(raw[:, 1], (tasks <= 1).astype(int))
    np.testing.assert_array_equal(raw[:, 2], np.ones(6, int))
    assert res["bayes_optimal"] == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_scripted_explorer_two_drawers_and_oracle():
    res = evaluate("scripted-explorer", ENV, episodes=3, trials=6, seeds=(0,), workers=1, progress=False, obs_type="state")
    raw, tasks = _raw(res)[0], _raw(res, "raw_tasks")[0]
    np.testing.assert_array_equal(raw[:, 0], (tasks == 0).astype(int))
    assert raw[:, 1:].all()
    assert res["normalised_score"] == pytest.approx(((tasks == 0).mean() + 2) / 2.5)
    oracle = evaluate("oracle", ENV, episodes=2, trials=3, seeds=(0,), workers=1, progress=False, obs_type="state")
    assert _raw(oracle).all() and oracle["eligible"] is False


def test_random_almost_never_succeeds():
    res = evaluate("random", ENV, episodes=2, trials=8, seeds=(0,), workers=1, progress=False, obs_type="state")
    assert np.mean(res["success_rate"]) <= 0.15
    # Seeded per trial: trial i is the same whatever the number of trials around it.
    again = evaluate("random", ENV, episodes=2, trials=3, seeds=(0,), workers=1, progress=False, obs_type="state")
    assert again["raw_returns"][0] == res["raw_returns"][0][:3]


def test_results_do_not_depend_on_worker_count(coin_agent):
    kw = dict(episodes=1, trials=6, seeds=(0, 5), progress=False, obs_type="state")
    one = evaluate(coin_agent, ENV, workers=1, **kw)
    two = evaluate(coin_agent, ENV, workers=2, **kw)
    assert two["workers"] == 2 and one["workers"] == 1
    for key in ("raw_successes", "raw_tasks", "raw_returns", "success_rate", "normalised_score_ci"):
        assert one[key] == two[key], key
    # The coin's successes follow its per-trial seed, not the task: not a constant pattern.
    raw = _raw(one).ravel()
    assert 0 < raw.sum() < raw.size
    assert one["agent"] == "coin" and one["agent_version"] == "0.1"


def test_sb3_untrained_model(tmp_path):
    from stable_baselines3 import PPO

    env = PrevRewardWrapper(gym.make(ENV, obs_type="state"))
    model = PPO("MultiInputPolicy", env, n_steps=16, batch_size=16, seed=0, device="cpu")
    path = tmp_path / "untrained.zip"
    model.save(path)
    env.close()
    res = evaluate(str(path), ENV, episodes=1, trials=2, seeds=(0,), workers=1, progress=False, obs_type="state")
    validate_results(res)
    assert res["agent"] == "sb3-PPO-untrained" and len(res["agent_version"]) == 12
    assert _raw(res).shape == (1, 2, 1)


def test_sb3_recurrent_state_spans_the_trial(tmp_path):
    pytest.importorskip("sb3_contrib")
    from sb3_contrib import RecurrentPPO

    from benchmark.agents import load_agent

    env = PrevRewardWrapper(gym.make(ENV, obs_type="state"))
    model = RecurrentPPO("MultiInputLstmPolicy", env, n_steps=16, batch_size=16, seed=0, device="cpu")
    path = tmp_path / "lstm.zip"
    model.save(path)
    env.close()
    agent = load_agent(str(path), ENV, seed=0)
    starts = []
    predict = agent.model.predict

    def spy(obs, state=None, episode_start=None, deterministic=False):
        starts.append(bool(episode_start[0]))
        assert obs["episode_start"][0] == float(ep_start)
        return predict(obs, state=state, episode_start=episode_start, deterministic=deterministic)

    agent.model.predict = spy
    obs = {"drawers": np.zeros(2, np.float32), "proprio": np.array([0, 0.55, 0.2, 1], np.float32)}
    agent.reset()
    for ep_start in (True, False, True, False):  # two episodes of one trial
        agent.act(obs, 0.0, ep_start)
    assert starts == [True, False, False, False]  # the LSTM is reset at the trial start only
    assert agent._state is not None


def test_json_round_trip(tmp_path):
    res = evaluate("always-first", ENV, episodes=1, trials=2, seeds=(0, 1), workers=1, progress=False, obs_type="state")
    path = tmp_path / "r.json"
    write_json_atomic(path, res)
    back = json.loads(path.read_text())
    assert back == res
    validate_results(back)
    assert sorted(tmp_path.iterdir()) == [path]  # no temporary left behind


class _Interrupting:
    """always-first, but Ctrl-C arrives at the start of trial `at`."""

    def __init__(self, at: int | None):
        from benchmark.agents import AlwaysFirstAgent

        self.inner, self.at, self.trials = AlwaysFirstAgent(ENV), at, 0
        self.name, self.version = "interrupting", "1"

    def reset(self):
        if self.at is not None and self.trials == self.at:
            raise KeyboardInterrupt
        self.trials += 1

    def act(self, obs, reward, episode_start):
        return self.inner.act(obs, reward, episode_start)


def test_interrupted_run_keeps_finished_trials_and_resumes(tmp_path):
    ckpt = tmp_path / "run.partial.jsonl"
    kw = dict(episodes=1, trials=5, seeds=(0,), workers=1, progress=False, obs_type="state", checkpoint_path=ckpt)
    with pytest.raises(KeyboardInterrupt):
        evaluate(_Interrupting(at=3), ENV, **kw)
    lines = ckpt.read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "header" and len(lines) == 1 + 3
    # Mark a kept trial, so that the resumed results show it was read rather than rerun.
    rec = json.loads(lines[1])
    rec["returns"] = [123.0]
    lines[1] = json.dumps(rec)
    ckpt.write_text("\n".join(lines) + "\n" + '{"seed": 0, "tri')  # and a torn last line
    resumed = _Interrupting(at=None)
    res = evaluate(resumed, ENV, **kw)
    assert resumed.trials == 2  # only the two missing trials ran
    assert res["raw_returns"][0][rec["trial"]] == [123.0]
    assert _raw(res).shape == (1, 5, 1)
    kept = [json.loads(line) for line in ckpt.read_text().splitlines()]  # the torn line was dropped
    assert len(kept) == 1 + 5 and sorted(r["trial"] for r in kept[1:]) == list(range(5))


def test_checkpoint_of_another_run_is_refused(tmp_path):
    ckpt = tmp_path / "x.partial.jsonl"
    ckpt.write_text(json.dumps({"kind": "header", "agent_spec": "random"}) + "\n")
    with pytest.raises(ValueError, match="another run"):
        evaluate("always-first", ENV, episodes=1, trials=2, workers=1, progress=False, obs_type="state", checkpoint_path=ckpt)


def test_cli_writes_results_and_plot(tmp_path, capsys):
    rc = run.main([
        "--agent", "scripted-explorer", "--trials", "2", "--episodes", "2", "--seeds", "0", "--workers", "1",
        "--obs-type", "state", "--out", str(tmp_path), "--plot", "--no-progress",
    ])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Bayes-optimal" in out and "normalised score" in out
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["scripted-explorer_twodrawer-v0_K2_n2_s0_state.json", "scripted-explorer_twodrawer-v0_K2_n2_s0_state.png"]
    validate_results(json.loads((tmp_path / files[0]).read_text()))

    from benchmark import plot

    fig = tmp_path / "fig.png"
    assert plot.main([str(tmp_path / files[0]), str(tmp_path / files[0]), "--out", str(fig)]) == 0
    assert fig.read_bytes()[:4] == b"\x89PNG"
    assert plot.main([str(tmp_path / "missing.json"), "--out", str(fig)]) == 2


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--agent", "nope"], "valid names"),
        (["--agent", "random", "--seeds", "1", "1"], "distinct"),
        (["--agent", "random", "--trials", "0"], "trials must be"),
        (["--agent", "random", "--env", "RefExp/Nope-v0"], "unknown env id"),
    ],
)
def test_cli_bad_input(argv, message, tmp_path, capsys):
    rc = run.main(argv + ["--out", str(tmp_path), "--no-progress", "--obs-type", "state", "--workers", "1"])
    assert rc != 0
    assert message in capsys.readouterr().out
    assert not any(tmp_path.iterdir())
