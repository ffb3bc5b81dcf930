"""The CQL(H) penalty: its sign, and its effect on out-of-distribution Q values."""

import dataclasses

import pytest
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


def test_data_backup_needs_the_next_data_action():
    cfg = dataclasses.replace(CFG, backup="data")
    algo = CQL(3, 4, cfg)
    b, a = torch.randn(8, 3), torch.zeros(8, 4)
    with pytest.raises(ValueError, match="a_next_data"):
        algo.update(b, a, torch.zeros(8), b, torch.zeros(8))


def test_data_backup_target_is_the_target_critic_at_the_next_data_action():
    """One update's TD error equals the one computed by hand with y = r + discount (1 - done)
    min Q_targ(b', a'_data); with backup = "policy" the same data give another target."""
    torch.manual_seed(0)
    b, a, b_next = torch.randn(8, 3), torch.rand(8, 4) * 2 - 1, torch.randn(8, 3)
    a_next, r, done = torch.rand(8, 4) * 2 - 1, torch.randn(8), (torch.arange(8) % 3 == 0).float()
    tds = {}
    for backup in ("data", "policy"):
        torch.manual_seed(1)
        algo = CQL(3, 4, dataclasses.replace(CFG, backup=backup, cql_alpha=0.0, gamma=0.5))
        with torch.no_grad():
            y = r + 0.5 * (1 - done) * torch.min(*algo.critic_targ(b_next, a_next))
            q1, q2 = algo.critic(b, a)
            expected = (0.5 * ((q1 - y) ** 2).mean() + 0.5 * ((q2 - y) ** 2).mean()).item()
        tds[backup] = (algo.update(b, a, r, b_next, done, a_next_data=a_next)["td"], expected)
    assert tds["data"][0] == pytest.approx(tds["data"][1], rel=1e-5)
    assert abs(tds["policy"][0] - tds["policy"][1]) > 1e-3  # the policy backup ignores a_next_data


def test_data_backup_converges_to_the_data_policy_values():
    """Two actions alternate in the data: a (reward 1) is followed by a' (reward 0) and a' by a,
    from the same state. In-sample (SARSA) values with gamma 0.5: Q(a) = 1 + Q(a')/2 and
    Q(a') = Q(a)/2, so Q(a) = 4/3, Q(a') = 2/3, whatever the actor prefers."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(CFG, backup="data", cql_alpha=0.0, gamma=0.5, tau=0.1, lr_critic=1e-2)
    algo = CQL(3, 4, cfg)
    b = torch.randn(32, 3).repeat(2, 1)
    a, a2 = torch.full((32, 4), 0.5), torch.full((32, 4), -0.5)
    acts, next_acts = torch.cat([a, a2]), torch.cat([a2, a])
    r = torch.cat([torch.ones(32), torch.zeros(32)])
    for _ in range(400):
        algo.update(b, acts, r, b, torch.zeros(64), a_next_data=next_acts)
    with torch.no_grad():
        q = torch.min(*algo.critic(b[:32], a)).mean().item()
        q2 = torch.min(*algo.critic(b[:32], a2)).mean().item()
    assert q == pytest.approx(4 / 3, abs=0.05) and q2 == pytest.approx(2 / 3, abs=0.05)
