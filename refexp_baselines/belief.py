"""The recurrent variational filter and its extended ELBO (paper section 3.6), RSSM-style.

State: deterministic h_t (GRU) and stochastic s_t (diagonal Gaussian).
    h_t = GRU(h_{t-1}, [s_{t-1}, a_{t-1}, episode_start_t])
    prior      p(s_t | h_t)
    posterior  q(s_t | h_t, o_t, r_{t-1})     (r only when `reward_input`; "no-reward-belief" drops it)
Observation o_t = (frame code e_t from the frozen frame VAE, proprio_t), both normalised.
The state is NOT reset between the episodes of a meta-trajectory; `episode_start` is an input.

Extended ELBO per step (maximised; `loss` returns its negative, averaged over batch and time):
    log O(o_t | h_t, s_t) + beta * [log R(r_{t-1} | h_t, s_t) + log R(r_t | h_t, s_t, a_t)]
    - KL(q(s_t | ...) || p(s_t | h_t))          (KL balancing + free nats, as in DreamerV2)
The reward term reconstructs the reward the posterior was given (the paper's term) and also
predicts the reward of the action taken next; the second half is our addition (docs/method.md):
it is what makes the belief carry the task across the episode boundary.

The belief handed to the agent is [h_t, mean_t, std_t] of the posterior.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.distributions as D

from refexp_baselines import nets

MIN_STD = 0.1


def mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nets.mlp(i, h, o, layers=2, act=nn.SiLU)


class BeliefFilter(nn.Module):
    def __init__(self, latent: int, proprio: int = 4, action: int = 4, deter: int = 128, stoch: int = 16,
                 hidden: int = 128, reward_input: bool = True):
        super().__init__()
        self.latent, self.proprio, self.action = latent, proprio, action
        self.deter, self.stoch, self.reward_input = deter, stoch, reward_input
        obs = latent + proprio
        self.register_buffer("obs_mean", torch.zeros(obs))
        self.register_buffer("obs_std", torch.ones(obs))
        self.gru_in = nn.Sequential(nn.Linear(stoch + action + 1, hidden), nn.SiLU())
        self.gru = nn.GRUCell(hidden, deter)
        self.prior_net = mlp(deter, hidden, 2 * stoch)
        self.embed = nn.Sequential(nn.Linear(obs + (1 if reward_input else 0), hidden), nn.SiLU())
        self.post_net = mlp(deter + hidden, hidden, 2 * stoch)
        self.dec_obs = mlp(deter + stoch, hidden, obs)
        self.dec_reward = mlp(deter + stoch, hidden, 1)
        self.dec_next_reward = mlp(deter + stoch + action, hidden, 1)
        self.dec_task_reward = mlp(deter + stoch + obs, hidden, 1)

    @property
    def belief_dim(self) -> int:
        return self.deter + 2 * self.stoch

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.obs_mean.copy_(mean)
        self.obs_std.copy_(std.clamp_min(1e-3))

    def initial(self, batch: int, device=None):
        dev = device or self.obs_mean.device
        return torch.zeros(batch, self.deter, device=dev), torch.zeros(batch, self.stoch, device=dev)

    @staticmethod
    def _dist(x):
        mean, std = x.chunk(2, -1)
        return mean, F.softplus(std) + MIN_STD

    def step(self, h, s, latent, proprio, prev_action, prev_reward, start, sample: bool = True):
        """One filter update. All inputs (B, .); start/prev_reward (B,). Returns h, s, prior, post."""
        start = start.reshape(-1, 1)
        keep = 1.0 - start  # a new episode: the previous action/reward are not carried in
        x = self.gru_in(torch.cat([s, prev_action * keep, start], -1))
        h = self.gru(x, h)
        prior = self._dist(self.prior_net(h))
        obs = (torch.cat([latent, proprio], -1) - self.obs_mean) / self.obs_std
        inp = [obs, (prev_reward.reshape(-1, 1) * keep)] if self.reward_input else [obs]
        post = self._dist(self.post_net(torch.cat([h, self.embed(torch.cat(inp, -1))], -1)))
        s = post[0] + post[1] * torch.randn_like(post[1]) if sample else post[0]
        return h, s, prior, post

    def belief(self, h, post) -> torch.Tensor:
        return torch.cat([h, post[0], post[1]], -1)

    def rollout(self, batch: dict, sample: bool = True):
        """Filter a batch of meta-trajectories (tensors (B, L, .)). Returns stacked h, s, prior, post."""
        B, L = batch["latent"].shape[:2]
        h, s = self.initial(B, batch["latent"].device)
        hs, ss, pm, ps, qm, qs = [], [], [], [], [], []
        for t in range(L):
            h, s, prior, post = self.step(h, s, batch["latent"][:, t], batch["proprio"][:, t],
                                          batch["prev_action"][:, t], batch["prev_reward"][:, t],
                                          batch["start"][:, t], sample)
            hs.append(h), ss.append(s), pm.append(prior[0]), ps.append(prior[1]), qm.append(post[0])
            qs.append(post[1])
        st = lambda x: torch.stack(x, 1)  # noqa: E731
        return st(hs), st(ss), (st(pm), st(ps)), (st(qm), st(qs))

    def loss(self, batch: dict, reward_beta: float = 10.0, free_nats: float = 0.5, kl_balance: float = 0.8,
             task_samples: int = 0):
        """Negative extended ELBO per step, and its terms (floats) for logging.

        `task_samples` > 0 adds the VariBAD-style task term: from the state at t, predict the reward
        r_{t'-1} seen with the observation o_{t'} at `task_samples` random other steps t' of the same
        meta-trajectory (past and future). It makes the state carry "which drawer pays" at every step."""
        h, s, prior, post = self.rollout(batch, sample=True)
        feat = torch.cat([h, s], -1)
        obs = (torch.cat([batch["latent"], batch["proprio"]], -1) - self.obs_mean) / self.obs_std
        obs_nll = 0.5 * ((self.dec_obs(feat) - obs) ** 2).sum(-1)  # (B, L)
        r_logit = self.dec_reward(feat).squeeze(-1)
        r_nll = F.binary_cross_entropy_with_logits(r_logit, batch["prev_reward"].clamp(0, 1), reduction="none")
        nr_logit = self.dec_next_reward(torch.cat([feat, batch["action"]], -1)).squeeze(-1)
        nr_nll = F.binary_cross_entropy_with_logits(nr_logit, batch["reward"].clamp(0, 1), reduction="none")
        kl_lhs = kl_div(post, prior, stop_post=True)
        kl_rhs = kl_div(post, prior, stop_prior=True)
        kl_raw = kl_div(post, prior)
        kl = kl_balance * kl_lhs.clamp_min(free_nats) + (1 - kl_balance) * kl_rhs.clamp_min(free_nats)
        loss = (obs_nll + reward_beta * (r_nll + nr_nll) + kl).mean()
        task_nll = None
        if task_samples > 0:
            B, L = obs.shape[:2]
            idx = torch.randint(L, (B, L, task_samples), device=obs.device)
            o2 = torch.gather(obs.unsqueeze(1).expand(B, L, L, obs.shape[-1]), 2,
                              idx.unsqueeze(-1).expand(B, L, task_samples, obs.shape[-1]))
            r2 = torch.gather(batch["prev_reward"].clamp(0, 1).unsqueeze(1).expand(B, L, L), 2, idx)
            f2 = feat.unsqueeze(2).expand(B, L, task_samples, feat.shape[-1])
            t_logit = self.dec_task_reward(torch.cat([f2, o2], -1)).squeeze(-1)
            task_nll = F.binary_cross_entropy_with_logits(t_logit, r2, reduction="none").mean(-1)
            loss = loss + reward_beta * task_nll.mean()
        later = batch["episode_index"] > 0 if "episode_index" in batch else None
        terms = {"obs_nll": obs_nll.mean().item(), "reward_nll": r_nll.mean().item(),
                 "next_reward_nll": nr_nll.mean().item(), "kl": kl_raw.mean().item()}
        if task_nll is not None:
            terms["task_nll"] = task_nll.mean().item()
            if later is not None:
                terms["task_nll_ep1"] = task_nll[~later].mean().item()
                terms["task_nll_ep2+"] = task_nll[later].mean().item()
        if later is not None:
            terms["next_reward_nll_ep1"] = nr_nll[~later].mean().item()
            terms["next_reward_nll_ep2+"] = nr_nll[later].mean().item()
        return loss, terms


def kl_div(post, prior, stop_post=False, stop_prior=False):
    """KL(post || prior) of diagonal Gaussians, summed over dims -> (B, L)."""
    (qm, qs), (pm, ps) = post, prior
    if stop_post:
        qm, qs = qm.detach(), qs.detach()
    if stop_prior:
        pm, ps = pm.detach(), ps.detach()
    return D.kl_divergence(D.Normal(qm, qs), D.Normal(pm, ps)).sum(-1)


def to_tensors(batch: dict, device) -> dict:
    out = {k: torch.as_tensor(v, device=device) for k, v in batch.items() if k not in ("target", "tasks")}
    starts = out["start"].cumsum(1) - 1  # episode index within the meta-trajectory
    out["episode_index"] = starts
    return {k: (v.float() if k != "episode_index" else v) for k, v in out.items()}
