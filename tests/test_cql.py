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


@pytest.mark.slow  # an optimisation loop; quick: test_rho_form_pushes_down_the_policy_actions
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


@pytest.mark.slow  # an optimisation loop; quick: test_rho_form_pushes_down_the_policy_actions
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


def test_rho_form_is_zero_for_constant_q_and_rejects_unknown_forms():
    """CQL(rho): log-mean-exp of Q over policy actions minus Q(data) is 0 when Q is constant."""
    torch.manual_seed(0)
    algo = CQL(6, 4, dataclasses.replace(CFG, cql_form="rho"))
    for p in algo.critic.parameters():
        torch.nn.init.zeros_(p)
    b = torch.randn(16, 6)
    g1, g2 = algo.conservative_penalty(b, b, torch.zeros(16, 4), algo.critic(b, torch.zeros(16, 4)))
    assert abs(g1.item()) < 1e-6 and abs(g2.item()) < 1e-6
    with pytest.raises(ValueError, match="cql_form"):
        CQL(6, 4, dataclasses.replace(CFG, cql_form="h"))


@pytest.mark.slow
def test_rho_form_pushes_down_the_policy_actions():
    """With the rho form the actions the actor proposes end up valued below the data action."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(CFG, cql_alpha=5.0, cql_form="rho", gamma=0.0, lr_critic=1e-3, bc_steps=0)
    algo = CQL(3, 4, cfg)
    for _ in range(200):
        b = torch.randn(64, 3)
        algo.update(b, torch.full((64, 4), 0.5), torch.zeros(64), b, torch.ones(64))
    b = torch.randn(256, 3)
    a_pi, _ = algo.actor(b)
    q_pi = torch.min(*algo.critic(b, a_pi)).mean().item()
    q_data = torch.min(*algo.critic(b, torch.full((256, 4), 0.5))).mean().item()
    assert q_pi < q_data - 0.1


def _lagrangian_weight(target_gap, steps=20):
    torch.manual_seed(0)
    cfg = dataclasses.replace(CFG, cql_alpha=1.0, cql_target_gap=target_gap, gamma=0.0, lr_critic=1e-3)
    algo = CQL(3, 4, cfg)
    for _ in range(steps):
        b = torch.randn(64, 3)
        info = algo.update(b, torch.full((64, 4), 0.5), torch.zeros(64), b, torch.ones(64))
    return info["cql_weight"], info["cql_gap"]


def test_lagrangian_weight_follows_the_gap_to_its_target():
    """alpha' rises while the gap is above the target and falls while it is below (from alpha' = 1;
    the gap starts near 5: log-sum-exp of a near-constant Q over 12 importance-weighted samples)."""
    w_low, gap_low = _lagrangian_weight(target_gap=0.01)
    w_high, gap_high = _lagrangian_weight(target_gap=100.0)
    assert gap_low > 0.01 and w_low > 1.01
    assert gap_high < 100.0 and w_high < 0.99
    no = CQL(3, 4, CFG)  # off by default: no dual variable at all
    assert not no.lagrangian and not hasattr(no, "log_alpha_prime") and "alpha_prime" not in no.optim_state()
    on = CQL(3, 4, dataclasses.replace(CFG, cql_alpha=1.0, cql_target_gap=1.0))  # a resumed stage restores it
    on.update(torch.randn(8, 3), torch.zeros(8, 4), torch.zeros(8), torch.randn(8, 3), torch.ones(8))
    again = CQL(3, 4, on.cfg)
    again.load_state_dict(on.state_dict()), again.load_optim_state(on.optim_state())
    assert again.log_alpha_prime.item() == on.log_alpha_prime.item() != 0.0
    assert again.opt_alpha_prime.state_dict()["state"][0]["step"] == 1


def test_new_penalty_options_at_default_keep_every_stage_hash():
    """cql_form / cql_target_gap at their defaults leave the agent stage's hash (and so every trained
    stage and shipped bundle) as it was; set, they name a new stage."""
    from refexp_baselines import configs as C

    cfg = C.variant("ours", env_id="RefExp/TwoDrawer-v1", seed=3)
    agent = dataclasses.asdict(cfg.agent)
    for k in ("cql_form", "cql_target_gap"):
        agent.pop(k)
    keys = C.stage_keys(cfg)
    assert keys["agent"] == C._hash({"up": keys["belief"], "agent": agent})
    for change in ({"cql_form": "rho"}, {"cql_target_gap": 5.0}):
        other = dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, **change))
        assert C.stage_keys(other)["agent"] != keys["agent"]
