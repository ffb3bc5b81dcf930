"""RefExp/TwoDrawerSealedShift-v2: a look per trial from (secret, trial), physics of TwoDrawer-v1."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import refexp_envs
from benchmark.protocol import DEV_SECRET, PUBLIC_SECRET, look_seed, trial_specs
from refexp_envs import looks
from refexp_envs.policies import ScriptedDrawerPolicy

ENV = "RefExp/TwoDrawerSealedShift-v2"


def test_registry_trains_on_two_drawer_v1_data():
    entry = refexp_envs.ENVS[ENV]
    assert entry.trains_on == "RefExp/TwoDrawer-v1" and entry.default_dataset == "refexp/two-drawer/expert-v1"
    assert refexp_envs.num_tasks(ENV) == 2 and refexp_envs.default_episodes(ENV) == 3
    v1 = dict(refexp_envs.ENVS["RefExp/TwoDrawer-v1"].kwargs(), appearance="sealed")
    assert entry.kwargs() == v1  # TwoDrawer-v1's constructor arguments, the look aside


def test_same_secret_and_trial_same_look_else_another():
    a = look_seed(PUBLIC_SECRET, 0, 7)
    assert a == look_seed(PUBLIC_SECRET, 0, 7)
    others = {look_seed(PUBLIC_SECRET, 0, 8), look_seed(DEV_SECRET, 0, 7), look_seed(PUBLIC_SECRET, 1, 7)}
    assert a not in others and len(others) == 3
    assert looks.draw_look(a) == looks.draw_look(a) != looks.draw_look(look_seed(DEV_SECRET, 0, 7))


@pytest.mark.parametrize("bad", [17, b"bytes", "", 1.5])
def test_secret_of_the_wrong_type_is_a_value_error(bad):
    with pytest.raises(ValueError, match="secret"):
        look_seed(bad, 0, 0)
    with pytest.raises(ValueError, match="secret"):
        look_seed(None, 0, 0)  # (trial_specs reads None as "the default secret")
    with pytest.raises(ValueError, match="secret"):
        trial_specs(0, eval_seed=0, secret=bad, num_tasks=2, trials_per_task=1, episodes=3, looks=True)


def test_bad_look_seeds_and_factors_are_value_errors():
    for bad in (-1, 2**63, 1.5, True, "3"):
        with pytest.raises(ValueError, match="look seed"):
            looks.draw_look(bad)
    with pytest.raises(ValueError, match="factor"):
        looks.draw_look(0).without("sky")
    with pytest.raises(ValueError, match="look_left_out"):
        gym.make(ENV, obs_type="state", look_left_out=("sky",))
    with pytest.raises(ValueError, match="look_left_out"):
        gym.make("RefExp/TwoDrawer-v1", obs_type="state", look_left_out=("camera",))
    env = gym.make(ENV, obs_type="state")
    with pytest.raises(ValueError, match="look seed"):
        env.reset(seed=0, options={"task": 0, "look": -3})
    env.close()
    v1 = gym.make("RefExp/TwoDrawer-v1", obs_type="state")
    with pytest.raises(ValueError, match="reset options"):
        v1.reset(seed=0, options={"task": 0, "look": 3})  # only a sealed env takes a look
    v1.close()


def test_trial_specs_carry_the_look_of_secret_and_trial_for_every_training_seed():
    kw = dict(eval_seed=0, num_tasks=2, trials_per_task=3, episodes=3)
    public = [trial_specs(s, secret=PUBLIC_SECRET, looks=True, **kw) for s in (0, 1)]
    dev = trial_specs(0, secret=DEV_SECRET, looks=True, **kw)
    for seed_specs in public:
        assert [sp.look for sp in seed_specs] == [look_seed(PUBLIC_SECRET, 0, i) for i in range(6)]
    assert all(a.look != b.look for a, b in zip(public[0], dev))
    assert all(sp.look is None for sp in trial_specs(0, secret=PUBLIC_SECRET, **kw))  # other envs: no look


def test_only_the_look_changes_physics_and_starts_are_two_drawer_v1s():
    sealed = gym.make(ENV, obs_type="state")
    v1 = gym.make("RefExp/TwoDrawer-v1", obs_type="state")
    for seed, look in ((0, 11), (5, 12)):
        a, _ = sealed.reset(seed=seed, options={"task": 1, "look": look})
        b, _ = v1.reset(seed=seed, options={"task": 1})
        policy = ScriptedDrawerPolicy.for_env(v1, 1)
        for _ in range(30):
            for key in b:
                np.testing.assert_array_equal(a[key], b[key])
            action = policy(b)
            a, *_ = sealed.step(action)
            b, *_ = v1.step(action)
    for seed in range(4):  # without a look option the task draw is TwoDrawer-v1's too
        sealed.reset(seed=seed)
        v1.reset(seed=seed)
        assert sealed.unwrapped.task == v1.unwrapped.task
    sealed.close()
    v1.close()


def test_pixels_follow_the_look_and_nothing_else_reveals_it():
    env = gym.make(ENV)
    first = {}
    for look in (101, 102):
        for reset_seed in (3, 3, 4):
            obs, info = env.reset(seed=reset_seed, options={"task": 0, "look": look})
            assert set(obs) == {"pixels", "proprio"} and set(info) == {"success"}
            first.setdefault((look, reset_seed), []).append(obs["pixels"])
    np.testing.assert_array_equal(*first[(101, 3)])  # same look, same start: the same frame
    assert not np.array_equal(first[(101, 3)][0], first[(102, 3)][0])
    v1 = gym.make("RefExp/TwoDrawer-v1")
    plain, _ = v1.reset(seed=3, options={"task": 0})
    assert (first[(101, 3)][0] != plain).any(-1).mean() > 0.2  # most of the picture changes
    env.close()
    v1.close()


@pytest.mark.slow
def test_every_factor_varies_and_leaving_one_out_keeps_the_rest():
    drawn = [looks.draw_look(look_seed(PUBLIC_SECRET, 0, i)) for i in range(20)]
    for factor in looks.FACTORS:
        changed = set()
        for look in drawn:
            out = look.without(factor)
            changed |= {f.name for f in dataclasses.fields(out) if getattr(out, f.name) != getattr(look, f.name)}
            assert out.without(factor) == out
        assert changed, factor  # the factor is not at TwoDrawer-v1's look in some of 20 looks
        for other in set(looks.FACTORS) - {factor}:  # fields of another factor never change
            assert all(getattr(look.without(factor), f) == getattr(look, f)
                       for look in drawn for f in looks.FACTOR_FIELDS[other])
    bare = looks.SealedLook()
    for factor in looks.FACTORS:
        assert bare.without(factor) == bare
    env = gym.make(ENV, look_left_out=looks.FACTORS)  # every factor out: TwoDrawer-v1's picture
    v1 = gym.make("RefExp/TwoDrawer-v1")
    a, _ = env.reset(seed=2, options={"task": 0, "look": 5})
    b, _ = v1.reset(seed=2, options={"task": 0})
    np.testing.assert_array_equal(a["pixels"], b["pixels"])
    env.close()
    v1.close()


def test_harness_scores_the_sealed_shift_with_the_secrets_looks(monkeypatch):
    from benchmark.run import evaluate

    seen = []
    original = refexp_envs.drawers.DrawersEnv._apply_look

    def spy(self, look):
        seen.append(self.look_seed)
        return original(self, look)

    monkeypatch.setattr(refexp_envs.drawers.DrawersEnv, "_apply_look", spy)
    res = evaluate("scripted-explorer", ENV, trials_per_task=1, workers=1, progress=False, obs_type="state",
                   secret=PUBLIC_SECRET)  # in-process (a private secret runs in spawned workers)
    assert res["episodes"] == 3 and res["success_rate"] == [0.5, 1.0, 1.0]
    assert seen == [look_seed(PUBLIC_SECRET, 0, i) for i in range(2) for _ in range(3)]
