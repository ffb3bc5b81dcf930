"""The CQL(H) penalty: its sign, and its effect on out-of-distribution Q values."""

import dataclasses

import torch

torch.set_num_threads(1)

from refexp_baselines.configs import AgentConfig
from refexp_baselines.cql import CQL, TanhGaussianActor

CFG = AgentConfig(hidden=32, batch=64, n_actions=4, backup="policy", actor_loss="sac")


def test_penalty_positive_for_constant_q():
    """For a constant Q = c, logsumexp_a Q - Q(data) = log sum exp(-log density) > 0."""
    torch.manual_seed(0)
    algo = CQL(6, 4, CFG)
    for p in algo.critic.parameters():
        torch.nn.init.zeros_(p)
    b = torch.randn(16, 6)
    q = algo.critic(b, torch.zeros(16, 4))
    g1, g2 = algo.conservative_penalty(b, b, torch.zeros(16, 4), q)
    assert g1.item() > 0 and g2.item() > 0


def test_tanh_gaussian_log_prob_is_finite_and_bounded_actions():
    torch.manual_seed(0)
    actor = TanhGaussianActor(6, 4, 32)
    a, logp = actor(torch.randn(100, 6))
    assert a.abs().max() <= 1 and torch.isfinite(logp).all()
    a_det, none = actor(torch.randn(3, 6), deterministic=True)
    assert none is None and a_det.shape == (3, 4)


def _train(cql_alpha, steps=200):
    torch.manual_seed(0)
    cfg = dataclasses.replace(CFG, cql_alpha=cql_alpha, gamma=0.0, lr_critic=1e-3)
    algo = CQL(3, 4, cfg)
    for _ in range(steps):
        b = torch.randn(64, 3)
        a = torch.full((64, 4), 0.5)  # the data only has one action; reward 0 everywhere
        algo.update(b, a, torch.zeros(64), b, torch.ones(64))
    b = torch.randn(256, 3)
    q_data = torch.min(*algo.critic(b, torch.full((256, 4), 0.5))).mean().item()
    q_ood = torch.min(*algo.critic(b, torch.rand(256, 4) * 2 - 1)).mean().item()
    return q_data, q_ood


def test_penalty_pushes_down_unseen_actions():
    q_data, q_ood = _train(cql_alpha=5.0)
    assert q_ood < q_data - 0.5  # conservative: actions not in the data are valued lower
    q_data0, q_ood0 = _train(cql_alpha=0.0)
    assert abs(q_data0) < 0.5 and (q_data0 - q_ood0) < (q_data - q_ood)  # no-cql: no such gap


def test_data_backup_needs_next_action_and_bootstraps_on_it():
    torch.manual_seed(0)
    cfg = dataclasses.replace(CFG, backup="data", cql_alpha=0.0, gamma=0.5, tau=1.0)
    algo = CQL(3, 4, cfg)
    b, a = torch.randn(8, 3), torch.zeros(8, 4)
    import pytest

    with pytest.raises(ValueError):
        algo.update(b, a, torch.zeros(8), b, torch.zeros(8))
    algo.update(b, a, torch.ones(8), b, torch.zeros(8), a_next_data=a)
