"""Meta-trajectory construction (paper section 3.5): reward masking, concatenation, target."""

import numpy as np
import pytest

from refexp_envs.datasets.episode import Episode, InMemoryTaskBuffers
from refexp_baselines.meta_trajectories import MetaTrajectorySampler, gather_batch

T = 5


def make_buffers(num_tasks=2, per_task=6):
    eps = []
    for t in range(num_tasks):
        for k in range(per_task):
            eid = len(eps)
            pixels = np.full((T + 1, 4, 4, 3), eid, dtype=np.uint8)
            proprio = np.full((T + 1, 4), eid, dtype=np.float32)
            actions = np.full((T, 4), eid, dtype=np.float32) + np.arange(T, dtype=np.float32)[:, None] / 10
            rewards = np.array([0, 0, 1, 1, 1], dtype=np.float32)  # every behaviour episode succeeds
            eps.append(Episode(pixels, proprio, actions, rewards, t))
    return InMemoryTaskBuffers(eps, num_tasks), eps


def _batch(mts, eps):
    """gather_batch over the episodes' own arrays, with each episode's id as its frame code."""
    lat = np.stack([np.full((T + 1, 1), i, np.float32) for i in range(len(eps))])
    return gather_batch(mts, lat, np.stack([e.proprio for e in eps]), np.stack([e.actions for e in eps]),
                        np.stack([e.rewards for e in eps]))


def test_reward_masking_and_concatenation():
    bufs, eps = make_buffers()
    s = MetaTrajectorySampler(bufs, k=3, naive=False, seed=0)
    mts = s.sample_batch(50)
    b = _batch(mts, eps)
    assert b["reward"].shape == (50, 3 * T) and b["action"].shape == (50, 3 * T, 4)
    for i, mt in enumerate(mts):
        assert all(eps[e].task == t for e, t in zip(mt.episode_ids, mt.tasks))
        np.testing.assert_array_equal(mt.reward_mask, (mt.tasks == mt.target).astype(np.float32))
        assert b["target"][i] == mt.target
        for j, eid in enumerate(mt.episode_ids):
            seg = slice(j * T, (j + 1) * T)
            expect = eps[eid].rewards if mt.tasks[j] == mt.target else np.zeros(T)
            np.testing.assert_array_equal(b["reward"][i, seg], expect)  # zeroed unless i_j == i*
            np.testing.assert_array_equal(b["action"][i, seg], eps[eid].actions)  # in order
            assert np.all(b["latent"][i, seg] == eid)  # o_0..o_{T-1} of episode j, in order


def test_target_uniform_and_tasks_with_replacement():
    bufs, _ = make_buffers(num_tasks=3)
    s = MetaTrajectorySampler(bufs, k=3, naive=False, seed=1)
    mts = s.sample_batch(3000)
    counts = np.bincount([m.target for m in mts], minlength=3) / 3000
    assert np.all(np.abs(counts - 1 / 3) < 0.04)
    # the target is independent of the trajectories' tasks: P(target == i_1) ~ 1/3
    same = np.mean([m.target == m.tasks[0] for m in mts])
    assert abs(same - 1 / 3) < 0.04
    # with replacement: repeated tasks occur (P(all distinct) = 2/9 for K = N = 3)
    distinct = np.mean([len(set(m.tasks)) == 3 for m in mts])
    assert abs(distinct - 2 / 9) < 0.04


def test_naive_sampler_one_buffer_own_rewards():
    bufs, eps = make_buffers()
    s = MetaTrajectorySampler(bufs, k=3, naive=True, seed=0)
    mts = s.sample_batch(50)
    b = _batch(mts, eps)
    for i, mt in enumerate(mts):
        assert np.all(mt.tasks == mt.target) and np.all(mt.reward_mask == 1)
        np.testing.assert_array_equal(b["reward"][i], np.concatenate([eps[e].rewards for e in mt.episode_ids]))


def test_gather_batch_layout():
    bufs, eps = make_buffers()
    s = MetaTrajectorySampler(bufs, k=2, seed=3)
    mts = s.sample_batch(4)
    n = len(eps)
    lat = np.stack([np.full((T + 1, 2), i, np.float32) for i in range(n)])
    pro = np.stack([e.proprio for e in eps])
    act = np.stack([e.actions for e in eps])
    rew = np.stack([e.rewards for e in eps])
    b = gather_batch(mts, lat, pro, act, rew)
    assert b["latent"].shape == (4, 2 * T, 2) and b["action"].shape == (4, 2 * T, 4)
    for i, m in enumerate(mts):
        for j in range(2):
            seg = slice(j * T, (j + 1) * T)
            assert np.all(b["latent"][i, seg] == m.episode_ids[j])
            assert b["start"][i, j * T] == 1 and b["start"][i, seg][1:].sum() == 0
            assert np.all(b["prev_action"][i, j * T] == 0) and b["prev_reward"][i, j * T] == 0
            np.testing.assert_array_equal(b["prev_action"][i, seg][1:], b["action"][i, seg][:-1])
            np.testing.assert_array_equal(b["reward"][i, seg], rew[m.episode_ids[j]] * m.reward_mask[j])


def test_bad_k():
    bufs, _ = make_buffers()
    with pytest.raises(ValueError):
        MetaTrajectorySampler(bufs, k=0)


def _desk_like_buffers(groups=3, m=4, empty_groups=(2,)):
    """Tasks g*m + j (group g = a desk, j its mechanism); the buffers of `empty_groups` hold nothing
    (held-out desks, as in Desk-v2's datasets)."""
    tasks = np.repeat(np.arange(groups * m), 2)
    tasks = tasks[~np.isin(tasks // m, empty_groups)]

    class Index:  # what the sampler reads: the task count and each task's episode ids
        num_tasks = groups * m

        def episode_ids(self, t):
            return np.flatnonzero(tasks == t)

    return Index(), tasks


def test_grouped_sampler_stays_within_one_desk_with_data():
    bufs, _ = _desk_like_buffers()
    s = MetaTrajectorySampler(bufs, k=4, naive=False, seed=3, choices=4)
    mts = s.sample_batch(2000)
    desks = np.array([m.target // 4 for m in mts])
    assert all(set(m.tasks // 4) == {m.target // 4} for m in mts)  # K buffers and target: one desk
    assert set(desks) == {0, 1} and abs(np.mean(desks == 0) - 0.5) < 0.05  # the desks with data, evenly
    assert abs(np.mean([m.target == m.tasks[0] for m in mts]) - 1 / 4) < 0.04  # target independent, 1/M
    naive = MetaTrajectorySampler(bufs, k=4, naive=True, seed=3, choices=4).sample_batch(500)
    assert {m.target for m in naive} == set(range(8))  # every task with episodes, never an empty buffer


def test_one_group_draws_as_without_groups():
    bufs, _ = make_buffers(num_tasks=3)
    a = MetaTrajectorySampler(bufs, k=3, seed=5).sample_batch(20)
    b = MetaTrajectorySampler(bufs, k=3, seed=5, choices=3).sample_batch(20)
    assert all(np.array_equal(x.episode_ids, y.episode_ids) and x.target == y.target for x, y in zip(a, b))
    with pytest.raises(ValueError, match="divide"):
        MetaTrajectorySampler(bufs, k=3, choices=2)
