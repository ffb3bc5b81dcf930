"""A tiny configuration learns a trivially learnable case.

Offline contextual bandit in the shape of the drawer problem: the "belief" says which side pays
(one-hot), the data holds uniformly random actions, and the reward is 5 * a[0] on the paying side's
sign. CQL must move its deterministic action to the paying side in both contexts, from data alone.
"""

import dataclasses

import torch

torch.set_num_threads(1)

from refexp_baselines.configs import AgentConfig  # noqa: E402
from refexp_baselines.cql import CQL  # noqa: E402


import pytest  # noqa: E402

pytestmark = pytest.mark.slow  # optimisation loops

@pytest.mark.parametrize("actor_loss", ["awr", "sac"])
def test_cql_learns_belief_conditioned_choice(actor_loss):
    torch.manual_seed(0)
    cfg = dataclasses.replace(AgentConfig(), hidden=32, batch=64, n_actions=4, cql_alpha=1.0, gamma=0.0,
                              lr_actor=1e-3, lr_critic=1e-3, bc_steps=0, backup="policy",
                              actor_loss=actor_loss, awr_temperature=0.5)
    algo = CQL(2, 4, cfg)
    for _ in range(200):
        task = torch.randint(2, (64,))
        b = torch.nn.functional.one_hot(task, 2).float()
        a = torch.rand(64, 4) * 2 - 1
        r = 5 * a[:, 0] * (task.float() * 2 - 1)
        algo.update(b, a, r, b, torch.ones(64))
    with torch.no_grad():
        act, _ = algo.actor(torch.eye(2), deterministic=True)
    assert act[0, 0] < -0.4 and act[1, 0] > 0.4, act


def test_bc_warmup_imitates_data():
    torch.manual_seed(0)
    cfg = dataclasses.replace(AgentConfig(), hidden=32, batch=64, n_actions=4, lr_actor=3e-3, lr_critic=1e-3,
                              backup="policy")
    algo = CQL(2, 4, cfg)
    target = torch.tensor([0.7, -0.5, 0.2, -0.9])
    for _ in range(150):
        b = torch.randn(64, 2)
        a = (target + 0.05 * torch.randn(64, 4)).clamp(-1, 1)
        algo.update(b, a, torch.zeros(64), b, torch.ones(64), bc=True)
    with torch.no_grad():
        act, _ = algo.actor(torch.randn(8, 2), deterministic=True)
    assert (act - target).abs().max() < 0.35, act  # the entropy bonus pulls the mean in a little
