"""Meta-trajectory construction (paper section 3.5): reward masking, concatenation, target, no copies."""

import numpy as np
import pytest

from refexp_envs.datasets.episode import Episode, InMemoryTaskBuffers
from refexp_baselines.meta_trajectories import MetaTrajectorySampler, gather_batch, view

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


def test_reward_masking_and_concatenation():
    bufs, eps = make_buffers()
    s = MetaTrajectorySampler(bufs, k=3, naive=False, seed=0)
    for _ in range(50):
        mt = s.sample()
        assert all(eps[i].task == t for i, t in zip(mt.episode_ids, mt.tasks))
        np.testing.assert_array_equal(mt.reward_mask, (mt.tasks == mt.target).astype(np.float32))
        v = view(bufs, mt)
        assert v.rewards.shape == (3 * T,) and v.actions.shape == (3 * T, 4)
        for j, eid in enumerate(mt.episode_ids):
            seg = slice(j * T, (j + 1) * T)
            expect = eps[eid].rewards if mt.tasks[j] == mt.target else np.zeros(T)
            np.testing.assert_array_equal(v.rewards[seg], expect)  # zeroed unless i_j == i*
            np.testing.assert_array_equal(v.actions[seg], eps[eid].actions)  # in order
            assert v.episode_start[j * T] and not v.episode_start[j * T + 1:(j + 1) * T].any()


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
    for mt in s.sample_batch(50):
        assert np.all(mt.tasks == mt.target) and np.all(mt.reward_mask == 1)
        v = view(bufs, mt)
        np.testing.assert_array_equal(v.rewards, np.concatenate([eps[i].rewards for i in mt.episode_ids]))


def test_no_copies_of_image_data():
    bufs, eps = make_buffers()
    mt = MetaTrajectorySampler(bufs, k=3, seed=0).sample()
    v = view(bufs, mt)
    for j, eid in enumerate(mt.episode_ids):
        assert v.pixels[j] is eps[eid].pixels  # the buffer's own array
        assert np.shares_memory(v.frame(j * T + 2), eps[eid].pixels)
        assert v.frame(j * T + 2)[0, 0, 0] == eid


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
