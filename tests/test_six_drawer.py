"""RefExp/SixDrawer-v2: the 2 x 3 cabinet, its placed start, lean rendering and K = 6."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding

import refexp_envs
from refexp_envs import scene
from refexp_envs.drawers import DrawersEnv, SUCCESS_OPENING
from refexp_envs.policies import ScriptedDrawerPolicy

ENV = "RefExp/SixDrawer-v2"
KW = refexp_envs.SIX_DRAWER_V2


@pytest.fixture(scope="module")
def env():
    """One state-observation SixDrawer-v2 for the module: every test resets it with its own seed."""
    env = gym.make(ENV, obs_type="state")
    yield env
    env.close()


def test_registry_six_tasks_and_k_six(env):
    assert refexp_envs.num_tasks(ENV) == 6 and refexp_envs.default_episodes(ENV) == 6
    assert env.unwrapped.num_tasks == 6 and env.spec.max_episode_steps == 50


def test_layout_two_rows_of_three_stepped():
    handles = scene.handle_positions(6, rows=2)
    lower, upper = handles[:3], handles[3:]
    np.testing.assert_allclose(lower[:, 0], upper[:, 0])  # columns line up
    assert np.all(np.diff(lower[:, 0]) > 0.2)  # left to right, 0.25 m apart
    np.testing.assert_allclose(upper[:, 2] - lower[:, 2], scene.ROW_HEIGHT)
    np.testing.assert_allclose(upper[:, 1] - lower[:, 1], scene.ROW_STEP)  # the lower row stands in front
    np.testing.assert_allclose(scene.handle_positions(3), scene.handle_positions(3, rows=1))


@pytest.mark.parametrize("seed", [0, 1, 7, 123])
def test_start_state_is_the_documented_distribution(env, seed):
    """The docstring's Starting State, draw by draw: offsets from np_random in the stated order, the
    hand placed exactly there (no settle), fingers at the effort's position, velocities zero, the
    task drawn last (every task the same start)."""
    u = env.unwrapped
    obs, _ = env.reset(seed=seed)
    rng, _ = seeding.np_random(seed)
    arm = np.array(KW["arm_range"])
    offset = rng.uniform(-arm, arm)
    effort = rng.uniform(-1.0, -1.0 + KW["gripper_range"])
    rx, ry = KW["cabinet_range"]
    cabinet = rng.uniform([-rx, -ry], [rx, 0.0])
    light = rng.uniform(1 - KW["light_jitter"], 1 + KW["light_jitter"])
    task = int(rng.integers(6))
    target = np.array(KW["hand_init"]) + offset
    hand = u.data.xpos[u.model.body("hand").id]
    np.testing.assert_allclose(hand, target, atol=1e-5)
    np.testing.assert_allclose(u.data.mocap_pos[0], target, atol=1e-12)
    np.testing.assert_allclose(u.data.qpos[u._finger_qpos], np.clip([effort, -effort], [0.0, -0.03], [0.04, 0.0]))
    assert not u.data.qvel.any()
    np.testing.assert_allclose(u.handle_positions(), scene.handle_positions(6, 2) + [*cabinet, 0.0])
    np.testing.assert_allclose(u.model.light_diffuse, np.clip(u._light_diffuse * light, 0, 1))
    assert u.task == task and not obs["drawers"].any()
    qpos = u.data.qpos.copy()
    for t in range(6):  # the task never changes the start
        env.reset(seed=seed, options={"task": t})
        np.testing.assert_array_equal(u.data.qpos, qpos)


def test_start_is_placed_not_settled(env):
    """No physics step at reset: the simulated time stays where the start state left it."""
    u = env.unwrapped
    env.reset(seed=3)
    t0 = u.data.time
    env.reset(seed=4)
    assert u.data.time == t0


@pytest.mark.slow  # 300 episodes; in the quick tier the scripted explorer opens each drawer once
def test_scripted_policies_open_each_drawer_from_random_starts(env):
    """Zero noise, 50 starts per drawer: each policy opens its own drawer every time (the measurement
    over more starts and noise levels: `python -m benchmark.scripted_policies --env-ids RefExp/SixDrawer-v2`)."""
    for drawer in range(6):
        opened = 0
        for start in range(50):
            obs, _ = env.reset(seed=10_000 + start, options={"task": drawer})
            policy = ScriptedDrawerPolicy.for_env(env, drawer)
            for _ in range(50):
                obs, reward, *_ = env.step(policy(obs))
                if reward:
                    opened += 1
                    break
        assert opened == 50, (drawer, opened)


@pytest.mark.slow  # renders both model variants (the quick tier checks SixDrawer-v2's pixels in test_envs)
def test_lean_rendering_draws_fewer_objects_and_the_same_picture():
    lean = gym.make(ENV)
    full = gym.make(ENV, visual_meshes="decimated")
    worst = 0
    for drawer in (0, 4):
        a, _ = lean.reset(seed=drawer, options={"task": drawer})
        b, _ = full.reset(seed=drawer, options={"task": drawer})
        policy = ScriptedDrawerPolicy.for_env(lean, drawer)
        for _ in range(40):
            action = policy(a)
            a, *_ = lean.step(action)
            b, *_ = full.step(action)
            worst = max(worst, int((a["pixels"] != b["pixels"]).any(-1).sum()))
            np.testing.assert_array_equal(a["proprio"], b["proprio"])  # rendering only
        assert lean.unwrapped.drawer_openings()[drawer] >= SUCCESS_OPENING
    assert worst <= 24  # of 4096 pixels: merged meshes rasterise a few edge pixels differently
    counts = []
    for env in (lean, full):
        u = env.unwrapped
        renderer = u._renderer._renderer
        renderer.update_scene(u.data, camera=u._renderer._camera)
        counts.append(renderer.scene.ngeom)
    assert counts[0] <= counts[1] - 15, counts
    lean.close()
    full.close()


@pytest.mark.slow
def test_scripted_explorer_meets_the_bayes_optimal_curve_with_k_six():
    from benchmark.run import evaluate

    res = evaluate("scripted-explorer", ENV, trials_per_task=1, workers=1, progress=False, obs_type="state")
    assert res["episodes"] == 6 and res["num_drawers"] == 6
    np.testing.assert_allclose(res["success_rate"], [k / 6 for k in range(1, 7)])


@pytest.mark.parametrize("kwargs, match", [
    ({"num_drawers": 5, "rows": 2}, "rows"),
    ({"num_drawers": 6, "rows": 3}, "rows"),
    ({"rows": True}, "rows"),
    ({"start": "teleport"}, "start"),
    ({"hand_init": (0.0, 0.1, 0.3)}, "hand_init"),
    ({"hand_init": "middle"}, "hand_init"),
    ({"drawer_contacts": 1}, "drawer_contacts"),
    ({"visual_meshes": "merged"}, "visual_meshes"),
])
def test_bad_v2_arguments_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DrawersEnv(obs_type="state", **kwargs)


def test_task_out_of_range_is_a_value_error(env):
    with pytest.raises(ValueError, match="out of range"):
        env.reset(seed=0, options={"task": 6})
