"""benchmark.protocol + benchmark.run: task-balanced trials, the evaluation secret, closed-form
scores of known agents, batched = unbatched, workers, resume, the results file, the CLI.

Fast: state observations (the scripted agents read only the proprioception, so they behave the
same on pixels) and a few trials. Tests that spawn processes are marked `slow`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from benchmark import protocol, run
from benchmark.agents import PrevRewardWrapper, ScriptedExplorerAgent
from benchmark.protocol import resolve_secret, secret_id, trial_specs
from benchmark.results import write_json_atomic
from benchmark.run import evaluate
from benchmark.schema import validate_results
from tests.tiers import quick_only

ENV = "RefExp/TwoDrawer-v0"
FAST = dict(workers=1, progress=False, obs_type="state")

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


class BatchExplorer:
    """scripted-explorer with the batched hooks: one explorer per slot (for batched = unbatched)."""

    name, version = "batch-explorer", "1"

    def __init__(self, env_id=ENV, bad_shape=False):
        self.env_id, self.bad_shape = env_id, bad_shape
        self.single = ScriptedExplorerAgent(env_id)
        self.slots = []

    def reset(self):
        self.single.reset()

    def act(self, obs, reward, episode_start):
        return self.single.act(obs, reward, episode_start)

    def reset_batch(self, seeds):
        self.slots = [ScriptedExplorerAgent(self.env_id) for _ in seeds]

    def act_batch(self, obs, rewards, episode_starts):
        out = np.stack([a.act(o, float(r), bool(s)) for a, o, r, s in zip(self.slots, obs, rewards, episode_starts)])
        return out[:, :2] if self.bad_shape else out


class Recorder:
    """Remembers the per-trial seed and every first observation it was shown."""

    name, version = "recorder", "1"

    def __init__(self):
        from refexp_envs.policies import ScriptedDrawerPolicy

        self.policy = ScriptedDrawerPolicy(0, 2)
        self.seeds, self.first_obs = [], []

    def seed(self, s):
        self.seeds.append(s)

    def reset(self):
        pass

    def act(self, obs, reward, episode_start):
        if episode_start:
            self.first_obs.append({k: np.array(v) for k, v in obs.items()})
        return self.policy(obs)


@pytest.fixture
def coin_agent(tmp_path, monkeypatch):
    (tmp_path / "coin_agent_mod.py").write_text(COIN_AGENT)
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers inherit sys.path
    return "coin_agent_mod:CoinAgent"


def _raw(res, key="raw_successes"):
    return np.asarray(res[key])


# ---------------------------------------------------------------------------------- the protocol
def test_trial_specs_are_task_balanced_and_seeded():
    specs = trial_specs(3, eval_seed=0, secret="s", num_tasks=3, trials_per_task=4, episodes=2)
    tasks = [sp.task for sp in specs]
    assert sorted(tasks) == [0] * 4 + [1] * 4 + [2] * 4 and tasks != sorted(tasks)  # balanced, shuffled
    assert len({sp.agent_seed for sp in specs}) == 12 and all(len(sp.reset_seeds) == 2 for sp in specs)
    other_seed = trial_specs(4, eval_seed=0, secret="s", num_tasks=3, trials_per_task=4, episodes=2)
    assert [sp.agent_seed for sp in other_seed] != [sp.agent_seed for sp in specs]


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True, None])
def test_trials_per_task_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="trials_per_task must be a positive integer"):
        trial_specs(0, eval_seed=0, secret="s", num_tasks=2, trials_per_task=bad, episodes=1)


def test_secret_is_a_string_and_never_recorded(monkeypatch):
    for bad in (5, b"bytes", ["x"]):
        with pytest.raises(ValueError, match="must be a string"):
            resolve_secret(bad)
    with pytest.raises(ValueError, match="non-empty"):
        resolve_secret("")
    assert resolve_secret(None, environ={}) == protocol.PUBLIC_SECRET
    assert resolve_secret(None, environ={"REFEXP_EVAL_SECRET": protocol.DEV_SECRET}) == protocol.DEV_SECRET
    assert resolve_secret("given", environ={"REFEXP_EVAL_SECRET": "env-secret"}) == "given"
    # a private secret in the environment is readable through /proc/<pid>/environ: refused, with the way out
    with pytest.raises(ValueError, match="--eval-secret-file"):
        resolve_secret(None, environ={"REFEXP_EVAL_SECRET": "env-secret"})
    monkeypatch.setenv("REFEXP_EVAL_SECRET", "hush-hush-123")
    with pytest.raises(ValueError, match="--eval-secret-file"):
        evaluate("always-first", ENV, episodes=1, trials_per_task=1, **FAST)
    assert os.environ["REFEXP_EVAL_SECRET"] == "hush-hush-123"  # restored for the caller
    res = evaluate("always-first", ENV, episodes=1, trials_per_task=1, secret="hush-hush-123", **FAST)
    assert res["secret_id"] == secret_id("hush-hush-123") and "hush-hush-123" not in json.dumps(res)


def test_secret_changes_the_task_order_and_nothing_the_agent_sees():
    def score(secret):
        rec = Recorder()
        res = evaluate(rec, ENV, episodes=2, trials_per_task=4, secret=secret, **FAST)
        return rec, res

    (a, ra), (b, rb) = score("one secret"), score("another secret")
    assert a.seeds == b.seeds  # the agent's per-trial seeds
    assert len(a.first_obs) == len(b.first_obs) == 16
    for x, y in zip(a.first_obs, b.first_obs):  # the first observation of every episode
        assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
    assert ra["raw_tasks"] != rb["raw_tasks"]  # a different task order ...
    assert sorted(ra["raw_tasks"][0]) == sorted(rb["raw_tasks"][0])  # ... of the same balanced tasks
    assert ra["secret_id"] != rb["secret_id"]


@pytest.mark.parametrize("env_id", quick_only(["RefExp/TwoDrawer-v1", "RefExp/ThreeDrawer-v1"]))
def test_secret_independence_on_v1_pixels(env_id):
    """Same agent-visible seeds and first frames under two secrets, on the v1 start distribution."""
    if env_id not in gym.registry:
        pytest.skip(f"{env_id} is not registered in this tree")
    frames = []
    for secret in ("a", "b"):
        rec = Recorder()
        res = evaluate(rec, env_id, episodes=1, trials_per_task=2, secret=secret, workers=1, progress=False)
        frames.append((rec.seeds, [o["pixels"] for o in rec.first_obs], res["raw_tasks"]))
    (sa, fa, ta), (sb, fb, tb) = frames
    assert sa == sb and all(np.array_equal(x, y) for x, y in zip(fa, fb))
    assert len({x.tobytes() for x in fa}) > 1  # v1: different starts
    assert sorted(ta[0]) == sorted(tb[0])


# --------------------------------------------------------------------------- closed-form scores
@pytest.mark.parametrize("env_id,n", quick_only([(ENV, 2), ("RefExp/ThreeDrawer-v0", 3)], quick=[(ENV, 2)]))
def test_exploration_score_is_zero_for_always_first_and_one_for_the_explorer(env_id, n):
    first = evaluate("always-first", env_id, episodes=3, trials_per_task=2, training_seeds=(0, 1), **FAST)
    tasks, raw = _raw(first, "raw_tasks"), _raw(first)
    np.testing.assert_array_equal(raw, np.repeat((tasks == 0)[:, :, None], 3, axis=2).astype(int))
    assert first["success_rate"] == pytest.approx([1 / n] * 3)
    assert first["exploration_score"] == pytest.approx(0.0) and first["exploration_score_ci"] == pytest.approx([0, 0])
    assert first["seeds_at_bayes_optimal"] == 0
    explorer = evaluate("scripted-explorer", env_id, episodes=3, trials_per_task=2, training_seeds=(0, 1), **FAST)
    assert explorer["success_rate"] == pytest.approx([min(1, k / n) for k in (1, 2, 3)])
    assert explorer["exploration_score"] == pytest.approx(1.0)
    assert explorer["seeds_at_bayes_optimal"] == 2
    assert explorer["bayes_optimal"] == pytest.approx([min(1, k / n) for k in (1, 2, 3)])
    assert explorer["eligible"] and explorer["dataset_id"] is None
    # deterministic agents on v0's single start: every trial of a cell is the same rollout
    assert all(c["distinct"] == 1 for c in explorer["distinct_rollouts"])


def test_one_episode_has_no_exploration_score_and_the_oracle_is_not_eligible():
    res = evaluate("oracle", ENV, episodes=1, trials_per_task=1, **FAST)
    assert _raw(res).all() and res["eligible"] is False
    assert res["exploration_score"] is None and res["exploration_score_ci"] is None


def test_random_is_seeded_per_trial():
    res = evaluate("random", ENV, episodes=2, trials_per_task=2, **FAST)
    assert np.mean(res["success_rate"]) <= 0.25
    again = evaluate("random", ENV, episodes=2, trials_per_task=2, **FAST)
    assert again["raw_returns"] == res["raw_returns"] and again["raw_rollouts"] == res["raw_rollouts"]
    assert len({r for row in res["raw_rollouts"] for r in row}) == 4  # random actions: distinct rollouts


# ------------------------------------------------------------------------------- batched, workers
@pytest.mark.slow
def test_batched_and_one_at_a_time_give_the_same_trials():
    kw = dict(episodes=3, trials_per_task=3, training_seeds=(0, 1), **FAST)
    one = evaluate(BatchExplorer(), ENV, batch=1, **kw)
    many = evaluate(BatchExplorer(), ENV, batch=4, **kw)  # chunks of 4 and 2 per seed
    for key in ("raw_successes", "raw_tasks", "raw_returns", "raw_rollouts"):
        assert one[key] == many[key], key
    assert many["batch"] == 4 and many["exploration_score"] == pytest.approx(1.0)


def test_act_batch_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"act_batch returned shape \(2, 2\) for 2 trials"):
        evaluate(BatchExplorer(bad_shape=True), ENV, episodes=1, trials_per_task=1, batch=2, **FAST)


@pytest.mark.slow
def test_results_do_not_depend_on_worker_count(coin_agent):
    kw = dict(episodes=1, trials_per_task=3, training_seeds=(0, 5), progress=False, obs_type="state")
    one = evaluate(coin_agent, ENV, workers=1, **kw)
    two = evaluate(coin_agent, ENV, workers=2, batch=2, **kw)
    assert two["workers"] == 2 and one["workers"] == 1
    for key in ("raw_successes", "raw_tasks", "raw_returns", "raw_rollouts", "success_rate", "ci_low"):
        assert one[key] == two[key], key
    raw = _raw(one).ravel()  # the coin's successes follow its per-trial seed, not the task
    assert 0 < raw.sum() < raw.size
    assert one["agent"] == "coin" and one["agent_version"] == "0.1"


# ----------------------------------------------------------------------------------------- SB3
@pytest.mark.parametrize("isolation", quick_only(["none", "auto"], quick=()))  # auto: a sandbox process
def test_sb3_untrained_model(tmp_path, isolation):
    from stable_baselines3 import PPO

    env = PrevRewardWrapper(gym.make(ENV, obs_type="state"))
    model = PPO("MultiInputPolicy", env, n_steps=16, batch_size=16, seed=0, device="cpu")
    path = tmp_path / "untrained.zip"
    model.save(path)
    env.close()
    res = evaluate(str(path), ENV, episodes=1, trials_per_task=1, isolation=isolation, **FAST)
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


# --------------------------------------------------------------------------------- files, resume
def test_json_round_trip_and_file_mode(tmp_path):
    res = evaluate("always-first", ENV, episodes=1, trials_per_task=1, training_seeds=(0, 1), **FAST)
    path = tmp_path / "r.json"
    old = os.umask(0o022)
    try:
        write_json_atomic(path, res)
    finally:
        os.umask(old)
    assert json.loads(path.read_text()) == res
    validate_results(json.loads(path.read_text()))
    assert sorted(tmp_path.iterdir()) == [path]  # no temporary left behind
    assert path.stat().st_mode & 0o777 == 0o644  # the umask's permissions, not mkstemp's 0600


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
    kw = dict(episodes=1, trials_per_task=3, checkpoint_path=ckpt, **FAST)
    with pytest.raises(KeyboardInterrupt):
        evaluate(_Interrupting(at=4), ENV, **kw)
    lines = ckpt.read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "header" and len(lines) == 1 + 4
    rec = json.loads(lines[1])  # mark a kept trial, so the resumed results show it was read, not rerun
    rec["returns"] = [123.0]
    lines[1] = json.dumps(rec)
    ckpt.write_text("\n".join(lines) + "\n" + '{"training_seed": 0, "tri')  # and a torn last line
    resumed, said = _Interrupting(at=None), []
    res = evaluate(resumed, ENV, log=said.append, **kw)
    assert resumed.trials == 2  # only the two missing trials ran
    assert said == [f"resuming: 4 of 6 trials already done (kept in {ckpt})"]
    assert res["raw_returns"][0][rec["trial"]] == [123.0]
    kept = [json.loads(line) for line in ckpt.read_text().splitlines()]  # the torn line was dropped
    assert len(kept) == 1 + 6 and sorted(r["trial"] for r in kept[1:]) == list(range(6))


def test_trial_log_of_another_run_is_refused(tmp_path):
    ckpt = tmp_path / "x.partial.jsonl"
    ckpt.write_text(json.dumps({"kind": "header", "agent_spec": "random"}) + "\n")
    with pytest.raises(ValueError, match="another run"):
        evaluate("always-first", ENV, episodes=1, trials_per_task=1, checkpoint_path=ckpt, **FAST)


# ------------------------------------------------------------------------------------------- CLI
CLI = ["--agent", "scripted-explorer", "--trials-per-task", "1", "--episodes", "2", "--workers", "1",
       "--obs-type", "state", "--no-progress"]


def test_cli_writes_results_and_plot_and_does_not_recompute_a_finished_run(tmp_path, capsys):
    assert run.main(CLI + ["--out", str(tmp_path), "--plot"]) == 0
    out = capsys.readouterr().out
    assert "Bayes-optimal" in out and "exploration score 1.000" in out and "(the default env)" in out
    # piped (80 columns here), the score line stays one line: nothing wraps it
    assert any(line.startswith("exploration score 1.000 [") and "seeds at the Bayes-optimal curve; success after a failed episode" in line
               and line.endswith("never ranked)")
               for line in out.splitlines()), out
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["scripted-explorer_twodrawer-v1_K2_tpt1_s0_state.json", "scripted-explorer_twodrawer-v1_K2_tpt1_s0_state.png"]
    path = tmp_path / files[0]
    validate_results(json.loads(path.read_text()))
    before = path.read_bytes()
    assert run.main(CLI + ["--out", str(tmp_path)]) == 0
    assert "already scored" in capsys.readouterr().out and path.read_bytes() == before
    assert run.main(CLI + ["--out", str(tmp_path), "--force"]) == 0
    assert "already scored" not in capsys.readouterr().out
    assert json.loads(path.read_text())["date"] >= json.loads(before)["date"]

    from benchmark import plot

    fig = tmp_path / "fig.png"
    assert plot.main([str(path), str(path), "--out", str(fig)]) == 0
    assert fig.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit) as exit_:
        plot.main([str(tmp_path / "missing.json"), "--out", str(fig)])
    assert exit_.value.code == 2


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--agent", "nope"], "unknown agent 'nope'"),
        (["--agent", "random", "--seeds", "1", "1"], "distinct"),
        (["--agent", "random", "--trials-per-task", "0"], "trials_per_task must be a positive integer"),
        (["--agent", "random", "--trials-per-task", "x"], "invalid int value"),
        (["--agent", "random", "--env", "RefExp/Nope-v0"], "unknown env id"),
        (["--agent", "random", "--batch", "0"], "batch must be a positive integer"),
        (["--agent", "missing/agent.pt"], "no agent bundle"),
        (["--agent", "random", "--eval-secret", "my-private-secret"], "--eval-secret-file"),
        (["--agent", "random", "--eval-secret-file", "/nonexistent/secret"], "cannot read the evaluation secret"),
        (["--agent", "random", "--isolation", "chroot"], "invalid choice"),
        (["--agent", "random", "--act-timeout-s", "0"], "act_timeout_s must be positive"),
    ],
)
def test_cli_usage_errors_exit_2(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        run.main(argv + ["--out", str(tmp_path), "--no-progress", "--obs-type", "state", "--workers", "1"])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_cli_refuses_a_bad_name_before_importing_heavy_modules():
    code = ("import sys\nfrom benchmark.run import main\ntry:\n    main(['--agent', 'nope'])\n"
            "except SystemExit as e:\n    print(e.code, sorted(m for m in ('torch', 'mujoco', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2 []"
    assert "unknown agent 'nope'" in out.stderr


def test_cli_help_names_the_module_and_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        run.main(["--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m benchmark.run")
    assert "(default: 50)" in text and "(default: 8)" in text


@pytest.mark.parametrize("module", ["benchmark.run", "benchmark.plot", "benchmark.eval_speed",
                                    "benchmark.render_profile", "refexp_baselines.train", "refexp_baselines.report"])
def test_every_cli_names_itself_and_shows_defaults(module, capsys):
    import importlib

    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: python -m {module}") and "(default:" in text


@pytest.mark.slow
def test_render_profile_refuses_bad_input_and_keeps_the_frame(capsys):
    """The profile hides never-seen objects only to time them: the frame it reports stays identical."""
    from benchmark import render_profile

    for bad in (["--rounds", "0"], ["--env", "RefExp/Nope-v0"]):
        with pytest.raises(SystemExit) as exit_:
            render_profile.main(bad)
        assert exit_.value.code == 2
    assert render_profile.main(["--episodes", "1", "--frames", "2", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "geom 0 floor" in out and "this frame identical: True" in out


SNOOP_AGENT = '''
import os
from refexp_envs.policies import ScriptedDrawerPolicy


class Snoop:
    """Reports, as its version, whether the evaluation secret is in its process's environment."""

    name = "snoop"

    def __init__(self, env_id, seed=0):
        self.version = os.environ.get("REFEXP_EVAL_SECRET", "no-secret-here")
        self.policy = ScriptedDrawerPolicy(0, 2)

    def reset(self):
        pass

    def act(self, obs, reward, episode_start):
        assert "REFEXP_EVAL_SECRET" not in os.environ, "the secret reached the agent's process"
        return self.policy(obs)
'''


@pytest.mark.slow
def test_a_private_secret_never_reaches_the_agents_process(tmp_path, monkeypatch):
    (tmp_path / "snoop_agent_mod.py").write_text(SNOOP_AGENT)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("REFEXP_EVAL_SECRET", protocol.DEV_SECRET)
    res = evaluate("snoop_agent_mod:Snoop", ENV, episodes=1, trials_per_task=1, workers=1, progress=False,
                   obs_type="state", isolation="process")
    assert res["agent_version"] == "no-secret-here" and res["workers"] == 1
    assert res["secret_id"] == secret_id(protocol.DEV_SECRET)
    assert os.environ["REFEXP_EVAL_SECRET"] == protocol.DEV_SECRET  # restored for the caller
