"""RefExp/Desk-v2: compositions, the held-out split in the registry, the interlock, the placed start,
the scripted mechanism policies and bad input."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding
from gymnasium.utils.env_checker import check_env

import refexp_envs
from refexp_envs import desk
from refexp_envs.desk import DESK_COMPOSITIONS, KINDS, DeskEnv
from refexp_envs.policies import ScriptedMechanismPolicy
from tests.tiers import quick_only

ENV = "RefExp/Desk-v2"


def test_registry_tasks_choices_k_and_split_in_one_place():
    entry = refexp_envs.ENVS[ENV]
    assert refexp_envs.num_tasks(ENV) == 64 and refexp_envs.num_choices(ENV) == 4 and refexp_envs.default_episodes(ENV) == 4
    assert entry.has_split and entry.test_compositions == (12, 13, 14, 15) == desk.DESK_TEST_COMPOSITIONS
    assert entry.tasks_of("test") == tuple(range(48, 64)) and entry.tasks_of("train") == tuple(range(48))
    assert [refexp_envs.split_of(ENV, t) for t in (0, 47, 48, 63)] == ["train", "train", "test", "test"]
    assert refexp_envs.DESK_COMPOSITIONS == len(DESK_COMPOSITIONS)
    env = gym.make(ENV, obs_type="state")
    u = env.unwrapped
    assert u.num_tasks == entry.num_tasks and u.num_mechanisms == entry.num_choices
    assert u.test_compositions == entry.test_compositions and env.spec.max_episode_steps == 50
    assert all(u.split_of(t) == entry.split_of(t) for t in range(64))
    env.close()
    for other in refexp_envs.DRAWER_ENV_IDS:  # the drawer envs: no split, M = N
        e = refexp_envs.ENVS[other]
        assert not e.has_split and e.split_of(0) is None and e.num_choices == e.num_tasks
    assert ENV not in refexp_envs.LATEST_ENV_IDS and ENV in refexp_envs.DATASET_ENV_IDS  # datasets, never a default


def test_compositions_are_the_documented_draw():
    assert desk.draw_compositions() == DESK_COMPOSITIONS


def test_compositions_every_kind_each_and_test_arrangements_new():
    arrangements = [tuple(k for k, _ in c) for c in DESK_COMPOSITIONS]
    assert len(DESK_COMPOSITIONS) == 16 and all(len(c) == 4 and set(a) == set(KINDS) for c, a in zip(DESK_COMPOSITIONS, arrangements))
    assert len(set(arrangements)) == 16
    train = set(arrangements[:12])
    assert not train & set(arrangements[12:])


@pytest.mark.parametrize("obs_type", quick_only(["pixels", "state"], quick=["state"]))  # pixels: the slow tier
def test_check_env(obs_type):
    env = gym.make(ENV, obs_type=obs_type)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    env.close()


@pytest.mark.slow
def test_start_state_is_the_documented_distribution():
    """Draws from np_random in the stated order (hand, gripper, light, then the task); the hand placed
    there with no physics step; every task of a composition the same first frame; the desk shown."""
    env = gym.make(ENV)
    u = env.unwrapped
    for seed in (0, 5):
        obs, _ = env.reset(seed=seed)
        rng, _ = seeding.np_random(seed)
        offset = rng.uniform(-np.array([0.08, 0.04, 0.04]), [0.08, 0.04, 0.04])
        effort = rng.uniform(-1.0, 1.0)
        light = rng.uniform(0.85, 1.15)
        task = int(rng.integers(64))
        np.testing.assert_allclose(u.data.xpos[u.model.body("hand").id], np.array(desk.HAND_INIT) + offset, atol=1e-5)
        np.testing.assert_allclose(u.data.qpos[u._finger_qpos], np.clip([effort, -effort], [0.0, -0.03], [0.04, 0.0]))
        np.testing.assert_allclose(u.model.light_diffuse, np.clip(u._light_diffuse * light, 0, 1))
        assert u.task == task and u.composition == task // 4 and not u.data.qvel.any()
        assert u.kinds() == tuple(k for k, _ in DESK_COMPOSITIONS[task // 4]) and not u.travels().any()
        time = u.data.time
        firsts = []
        for t in range(8, 12):  # composition 2, each slot paying
            firsts.append(env.reset(seed=seed, options={"task": t})[0])
            assert u.data.time == time  # placed, not settled
        for other in firsts[1:]:
            np.testing.assert_array_equal(other["pixels"], firsts[0]["pixels"])
            np.testing.assert_array_equal(other["proprio"], firsts[0]["proprio"])
        other = env.reset(seed=seed, options={"task": 12})[0]  # another desk: the same arm, another picture
        np.testing.assert_array_equal(other["proprio"], firsts[0]["proprio"])
        assert (other["pixels"] != firsts[0]["pixels"]).any()
    env.close()


def test_state_observation_shows_the_desk_not_the_task():
    env = gym.make(ENV, obs_type="state")
    obs = [env.reset(seed=1, options={"task": t})[0] for t in range(4, 8)]
    for o in obs[1:]:
        for key in o:
            np.testing.assert_array_equal(o[key], obs[0][key])
    kinds = env.unwrapped.kinds()
    np.testing.assert_array_equal(obs[0]["kinds"].argmax(1), [KINDS.index(k) for k in kinds])
    np.testing.assert_allclose(obs[0]["targets"], env.unwrapped.targets(), atol=1e-6)
    env.close()


def _run(env, task: int, slot: int, seed: int, noise: float = 0.0):
    obs, _ = env.reset(seed=seed, options={"task": task})
    policy = ScriptedMechanismPolicy.for_env(env, slot, noise=noise, seed=seed)
    u = env.unwrapped
    rewards, others = 0.0, False
    for _ in range(50):
        obs, reward, *_ = env.step(policy(obs))
        rewards += reward
        others |= bool(np.delete(u.engaged(), slot).any())
    return rewards, others


@pytest.mark.slow
def test_scripted_policies_work_each_kind_and_never_another():
    """Zero noise, 48 random starts and compositions (the measurement over 500 per kind:
    `python dev/desk_policies.py`): each policy succeeds, and never engages another mechanism."""
    env = gym.make(ENV, obs_type="state")
    rng = np.random.default_rng(0)
    by_kind = {k: [0, 0] for k in KINDS}
    for i in range(48):
        task = int(rng.integers(64))
        kind = desk.DESK_COMPOSITIONS[task // 4][task % 4][0]
        rewards, others = _run(env, task, task % 4, 20_000 + i)
        assert not others, (task, i)
        by_kind[kind][0] += rewards > 0
        by_kind[kind][1] += 1
    assert all(n >= 10 and wins == n for wins, n in by_kind.values()), by_kind
    env.close()


def test_interlock_one_mechanism_per_episode_and_a_wrong_one_pays_nothing():
    env = DeskEnv(obs_type="state", horizon=120)
    obs, _ = env.reset(seed=3, options={"task": 1})  # composition 0: slot 1 pays; work slot 0 (a drawer) first
    first = ScriptedMechanismPolicy.for_env(env, 0)
    for _ in range(50):
        obs, reward, *_ = env.step(first(obs))
        assert reward == 0.0
    assert env.succeeded()[0] and env._chosen == 0
    second = ScriptedMechanismPolicy.for_env(env, 1)  # then the paying one, in the same episode: locked
    for _ in range(70):
        obs, reward, *_ = env.step(second(obs))
        assert reward == 0.0
    assert env.travels()[1] < 0.005
    env.reset(seed=3, options={"task": 1})  # the next episode: free again, and it pays
    second = ScriptedMechanismPolicy.for_env(env, 1)
    assert sum(env.step(second(env._observation()))[1] for _ in range(50)) > 0
    env.close()


@pytest.mark.parametrize("kwargs, match", [
    ({"compositions": ((("drawer", 0), ("window", 0)),), "test_compositions": (0,)}, "unknown mechanism kind 'window'"),
    ({"compositions": ((("drawer", 0),), (("button", 0),)), "test_compositions": (1,)}, "M >= 2"),
    ({"compositions": ((("drawer", 0), ("button", 0)), (("button", 0), ("handle", 0))), "test_compositions": ()},
     "at least one test composition"),
    ({"test_compositions": tuple(range(16))}, "at least one train composition"),
    ({"test_compositions": (16,)}, "test_compositions"),
    ({"compositions": ((("drawer", 0), ("button", 0)), (("button", 0), ("handle", 0), ("drawer", 1)))}, "same number"),
    ({"compositions": ((("drawer", 7), ("button", 0)),), "test_compositions": (0,)}, "colour"),
    ({"obs_type": "rgb"}, "obs_type"),
    ({"hand_init": (0.0, 0.1, 0.3)}, "hand_init"),
])
def test_bad_arguments_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DeskEnv(obs_type=kwargs.pop("obs_type", "state"), **kwargs)


def test_bad_registry_entries_are_value_errors():
    entry = refexp_envs.ENVS[ENV]
    with pytest.raises(ValueError, match="at least one test composition"):
        dataclasses.replace(entry, env_kwargs=(("test_compositions", ()),))
    with pytest.raises(ValueError, match="choices"):
        dataclasses.replace(entry, choices=1)
    with pytest.raises(ValueError, match="train composition"):
        dataclasses.replace(entry, env_kwargs=(("test_compositions", tuple(range(16))),))
    with pytest.raises(ValueError, match="split must be"):
        entry.tasks_of("validation")


def test_task_out_of_range_and_bad_options_are_value_errors():
    env = gym.make(ENV, obs_type="state")
    with pytest.raises(ValueError, match="out of range"):
        env.reset(seed=0, options={"task": 64})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(seed=0, options={"look": 1})
    with pytest.raises(ValueError, match="unknown mechanism kind"):
        ScriptedMechanismPolicy("lever", (0, 0, 0))
    env.close()


def test_training_refuses_data_that_hold_a_test_desk():
    from refexp_baselines.data import ArrayTaskBuffers, check_split

    def bufs(tasks):
        z = np.zeros((len(tasks), 1), np.float32)
        return ArrayTaskBuffers(z, z, z, z, tasks, 64, required=[t for t in tasks])

    check_split(ENV, "train-only", bufs(list(range(48))))  # the train desks: accepted
    with pytest.raises(ValueError, match=r"held-out test tasks \[50\]"):
        check_split(ENV, "leaky", bufs(list(range(48)) + [50]))
    check_split("RefExp/TwoDrawer-v1", "drawers", ArrayTaskBuffers(*[np.zeros((2, 1))] * 4, [0, 1], 2))  # no split
    with pytest.raises(ValueError, match="at least one episode"):
        ArrayTaskBuffers(*[np.zeros((1, 1))] * 4, [0], 2)  # required defaults to every task
