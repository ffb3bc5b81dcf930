"""The variational filter: ELBO terms on a tiny batch, reward input switch, no reset across episodes."""

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from refexp_baselines.belief import BeliefFilter, kl_div, to_tensors

B, K, T, Z = 3, 2, 4, 5


def tiny_batch(seed=0):
    g = np.random.default_rng(seed)
    L = K * T
    start = np.zeros((B, L), np.float32)
    start[:, ::T] = 1
    rew = (g.random((B, L)) > 0.5).astype(np.float32)
    prev_r = np.zeros_like(rew)
    prev_r[:, 1:] = rew[:, :-1]
    prev_r[start == 1] = 0
    act = g.uniform(-1, 1, (B, L, 4)).astype(np.float32)
    prev_a = np.zeros_like(act)
    prev_a[:, 1:] = act[:, :-1]
    prev_a[start == 1] = 0
    return to_tensors({"latent": g.normal(size=(B, L, Z)).astype(np.float32),
                       "proprio": g.normal(size=(B, L, 4)).astype(np.float32), "prev_action": prev_a,
                       "prev_reward": prev_r, "start": start, "action": act, "reward": rew,
                       "target": np.zeros(B), "tasks": np.zeros((B, K))}, "cpu")


def test_elbo_terms_finite_and_consistent():
    torch.manual_seed(0)
    f = BeliefFilter(Z, deter=8, stoch=3, hidden=8)
    batch = tiny_batch()
    loss, terms = f.loss(batch, reward_beta=10.0, free_nats=0.0, kl_balance=0.5)
    assert torch.isfinite(loss)
    assert terms["kl"] >= 0 and terms["obs_nll"] > 0 and terms["reward_nll"] > 0
    assert set(terms) >= {"next_reward_nll_ep1", "next_reward_nll_ep2+"}
    # beta weighs the reward terms: the loss grows with beta by exactly (delta beta) * reward nll
    torch.manual_seed(1)
    l1, t1 = f.loss(batch, reward_beta=1.0, free_nats=0.0, kl_balance=0.5)
    torch.manual_seed(1)
    l2, t2 = f.loss(batch, reward_beta=3.0, free_nats=0.0, kl_balance=0.5)
    assert abs((l2 - l1).item() - 2.0 * (t1["reward_nll"] + t1["next_reward_nll"])) < 1e-4
    loss.backward()
    assert all(p.grad is not None for n, p in f.named_parameters() if not n.startswith(("obs_", "dec_task")))
    # the task term (VariBAD-style reward decoding at other steps) adds beta * its NLL
    torch.manual_seed(1)
    l3, t3 = f.loss(batch, reward_beta=3.0, free_nats=0.0, kl_balance=0.5, task_samples=2)
    assert t3["task_nll"] > 0 and abs((l3 - l2).item() - 3.0 * t3["task_nll"]) < 1e-3
    l3.backward()
    assert all(p.grad is not None for n, p in f.named_parameters() if not n.startswith("obs_"))


def test_kl_zero_for_identical_and_positive_otherwise():
    m, s = torch.zeros(2, 3, 4), torch.ones(2, 3, 4)
    assert torch.allclose(kl_div((m, s), (m, s)), torch.zeros(2, 3))
    assert (kl_div((m + 1, s), (m, s)) > 0).all()


def test_posterior_sees_reward_only_when_enabled():
    torch.manual_seed(0)
    for reward_input in (True, False):
        f = BeliefFilter(Z, deter=8, stoch=3, hidden=8, reward_input=reward_input)
        h, s = f.initial(1)
        args = [torch.randn(1, Z), torch.randn(1, 4), torch.randn(1, 4)]
        _, _, _, p0 = f.step(h, s, *args, torch.tensor([0.0]), torch.tensor([0.0]), sample=False)
        _, _, _, p1 = f.step(h, s, *args, torch.tensor([1.0]), torch.tensor([0.0]), sample=False)
        assert (not torch.allclose(p0[0], p1[0])) == reward_input


def test_state_not_reset_between_episodes():
    torch.manual_seed(0)
    f = BeliefFilter(Z, deter=8, stoch=3, hidden=8)
    a, b = tiny_batch(0), tiny_batch(1)
    # same second episode, different first episode -> different state in the second episode
    for k in ("latent", "proprio", "prev_action", "prev_reward", "action", "reward"):
        b[k][:, T:] = a[k][:, T:]
    ha = f.rollout(a, sample=False)[0]
    hb = f.rollout(b, sample=False)[0]
    assert not torch.allclose(ha[:, T], hb[:, T])


@pytest.mark.slow  # an optimisation loop (the quick tier keeps the filter's shape and causality tests)
def test_filter_learns_reward_reconstruction():
    torch.manual_seed(0)
    f = BeliefFilter(Z, deter=16, stoch=4, hidden=16)
    opt = torch.optim.Adam(f.parameters(), 3e-3)
    batch = tiny_batch(2)
    first = None
    for _ in range(60):
        loss, terms = f.loss(batch, reward_beta=10.0, free_nats=0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first or terms["reward_nll"]
    assert terms["reward_nll"] < 0.5 * first
