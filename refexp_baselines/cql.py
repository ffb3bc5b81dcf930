"""Conservative Q-learning on belief states (paper section 3.7): CQL(H), twin critics, tanh-Gaussian actor.

Critic loss (per critic):
    cql_alpha * ( logsumexp_a Q(b, a)  -  E_{(b,a) ~ data} Q(b, a) )  +  1/2 (Q(b, a) - y)^2
where the logsumexp is estimated with importance sampling over mu = uniform on [-1, 1]^A plus the
current policy's actions at b and b' (as in the CQL paper's CQL(H)); y = r + gamma (1 - done)
min Q_targ(b', a') (the soft term - alpha log pi(a'|b') only with
`backup_entropy`: off by default, as in the reference CQL code for offline data, because the
behaviour actions saturate at the bounds, where tanh-Gaussian log-densities blow up). `cql_alpha = 0` is plain soft actor-critic ("no-cql").
For the first `bc_steps` updates the actor imitates the data actions (the reference CQL code's
`policy_eval_start` warm-up); the critic is trained from the start.

Two forms of the penalty from the CQL paper, both off by default (issue 22's remedies):
`cql_form = "rho"` is CQL(rho) with rho the current policy: the pushed-down term is the log-mean-exp
of Q over actions drawn from pi(b) alone (no uniform samples, no importance weights);
`cql_target_gap > 0` is the Lagrangian form: the weight becomes alpha' * cql_alpha with alpha' >= 0
learned by dual gradient steps so that the gap settles at the target (CQL's `with_lagrange`).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from refexp_baselines import nets

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nets.mlp(i, h, o, layers=3, act=nn.ReLU)


class TanhGaussianActor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256):
        super().__init__()
        self.net = mlp(obs_dim, hidden, 2 * act_dim)
        self.act_dim = act_dim

    def forward(self, b: torch.Tensor, deterministic: bool = False):
        mean, log_std = self.net(b).chunk(2, -1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        if deterministic:
            return torch.tanh(mean), None
        std = log_std.exp()
        u = mean + std * torch.randn_like(mean)
        a = torch.tanh(u)
        logp = (-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return a, logp

    def log_prob(self, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """log pi(a | b) of given actions in (-1, 1) (clipped away from the bounds)."""
        mean, log_std = self.net(b).chunk(2, -1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        a = a.clamp(-0.999, 0.999)
        u = torch.atanh(a)
        logp = (-0.5 * ((u - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return logp - torch.log1p(-a.pow(2)).sum(-1)


class TwinQ(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256):
        super().__init__()
        self.q1, self.q2 = mlp(obs_dim + act_dim, hidden, 1), mlp(obs_dim + act_dim, hidden, 1)

    def forward(self, b, a):
        x = torch.cat([b, a], -1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


class CQL(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, cfg):
        super().__init__()
        if getattr(cfg, "cql_form", "H") not in ("H", "rho"):
            raise ValueError(f"cql_form must be 'H' or 'rho', got {cfg.cql_form!r}")
        self.cfg = cfg
        self.actor = TanhGaussianActor(obs_dim, act_dim, cfg.hidden)
        self.critic = TwinQ(obs_dim, act_dim, cfg.hidden)
        self.critic_targ = TwinQ(obs_dim, act_dim, cfg.hidden)
        self.critic_targ.load_state_dict(self.critic.state_dict())
        for p in self.critic_targ.parameters():
            p.requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(getattr(cfg, "init_alpha", 1.0))))
        self.act_dim = act_dim
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), cfg.lr_actor)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), cfg.lr_critic)
        self.opt_alpha = torch.optim.Adam([self.log_alpha], cfg.lr_alpha)
        self.lagrangian = getattr(cfg, "cql_target_gap", 0.0) > 0
        if self.lagrangian:  # log alpha' of the Lagrangian form, alpha' = 1 at the start
            self.log_alpha_prime = nn.Parameter(torch.zeros(()))
            self.opt_alpha_prime = torch.optim.Adam([self.log_alpha_prime], cfg.lr_critic)

    def _q_sampled(self, b, a_rep):
        """Q of (b repeated n times, a_rep (n, B, A)) -> two (n, B)."""
        n = a_rep.shape[0]
        bb = b.unsqueeze(0).expand(n, *b.shape)
        return self.critic(bb, a_rep)

    def conservative_penalty(self, b, b_next, a_data, q_data):
        """CQL(H) gap per critic: logsumexp over mu-sampled actions minus the data actions' Q
        (with `cql_form = "rho"`: log-mean-exp over n actions of the current policy at b)."""
        n, B, A = self.cfg.n_actions, b.shape[0], self.act_dim
        if getattr(self.cfg, "cql_form", "H") == "rho":
            with torch.no_grad():
                a_pi, _ = self.actor(b.unsqueeze(0).expand(n, *b.shape))
            qp = self._q_sampled(b, a_pi)
            return [torch.logsumexp(qp[i], 0).mean() - math.log(n) - q_data[i].mean() for i in range(2)]
        a_rand = torch.rand(n, B, A, device=b.device) * 2 - 1
        logp_rand = A * math.log(0.5)
        with torch.no_grad():
            bn = b.unsqueeze(0).expand(n, *b.shape)
            bnn = b_next.unsqueeze(0).expand(n, *b_next.shape)
            a_pi, logp_pi = self.actor(bn)
            a_pin, logp_pin = self.actor(bnn)
        gaps = []
        qr, qp, qpn = self._q_sampled(b, a_rand), self._q_sampled(b, a_pi), self._q_sampled(b, a_pin)
        for i in range(2):
            cat = torch.cat([qr[i] - logp_rand, qp[i] - logp_pi, qpn[i] - logp_pin], 0)
            gaps.append(torch.logsumexp(cat, 0).mean() - q_data[i].mean())
        return gaps

    def update(self, b, a, r, b_next, done, bc: bool = False, discount=None, a_next_data=None) -> dict:
        """One critic + actor + temperature step on transitions (b, a, r, b', done).

        `r` may be an n-step discounted reward sum with `discount` = gamma^n per sample (default
        gamma). `bc`: the actor imitates the data actions instead of its usual loss (CQL's
        `policy_eval_start` warm-up); the critic is trained either way. `a_next_data`: with
        `backup = "data"` the target bootstraps on the data's next action (in-sample, SARSA-style)."""
        cfg = self.cfg
        alpha = self.log_alpha.exp().detach()
        discount = cfg.gamma if discount is None else discount
        with torch.no_grad():
            a_next, logp_next = self.actor(b_next)
            if getattr(cfg, "backup", "policy") == "data":
                if a_next_data is None:
                    raise ValueError("backup='data' needs a_next_data")
                a_next = a_next_data
            q1t, q2t = self.critic_targ(b_next, a_next)
            v_next = torch.min(q1t, q2t)
            if cfg.backup_entropy:
                v_next = v_next - alpha * logp_next
            y = r * cfg.reward_scale + discount * (1 - done) * v_next
        q1, q2 = self.critic(b, a)
        td = 0.5 * ((q1 - y) ** 2).mean() + 0.5 * ((q2 - y) ** 2).mean()
        info = {"td": td.item(), "q": q1.mean().item()}
        loss = td
        if cfg.cql_alpha > 0:
            g1, g2 = self.conservative_penalty(b, b_next, a, (q1, q2))
            weight = cfg.cql_alpha
            if self.lagrangian:  # dual step: alpha' grows while the gap exceeds the target, shrinks below it
                excess = 0.5 * (g1 + g2).detach() - cfg.cql_target_gap
                alpha_prime = self.log_alpha_prime.exp().clamp(0.0, 1e6)
                self.opt_alpha_prime.zero_grad(set_to_none=True)
                (-alpha_prime * cfg.cql_alpha * excess).backward()
                self.opt_alpha_prime.step()
                weight = cfg.cql_alpha * self.log_alpha_prime.exp().clamp(0.0, 1e6).item()
                loss = loss + weight * ((g1 - cfg.cql_target_gap) + (g2 - cfg.cql_target_gap))
                info["cql_weight"] = weight
            else:
                loss = loss + weight * (g1 + g2)
            info["cql_gap"] = 0.5 * (g1.item() + g2.item())
        self.opt_critic.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_critic.step()

        a_pi, logp = self.actor(b)
        if bc:
            actor_loss = (alpha * logp - self.actor.log_prob(b, a)).mean()
        elif getattr(cfg, "actor_loss", "sac") == "awr":
            # advantage-weighted regression onto the data actions (in-sample; picks modes, never
            # averages them): weights exp(A / temperature), A = Q(b, a) - Q(b, pi(b))
            with torch.no_grad():
                adv = torch.min(q1, q2).detach() - torch.min(*self.critic(b, a_pi))
                w = torch.exp(adv / cfg.awr_temperature).clamp(max=cfg.awr_max_weight)
            actor_loss = (alpha * logp - w * self.actor.log_prob(b, a)).mean()
            info["awr_weight"] = w.mean().item()
        else:
            q_pi = torch.min(*self.critic(b, a_pi))
            actor_loss = (alpha * logp - q_pi).mean()
        self.opt_actor.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.opt_actor.step()

        alpha_loss = -(self.log_alpha * (logp.detach() + cfg.target_entropy)).mean()
        self.opt_alpha.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.opt_alpha.step()

        with torch.no_grad():
            for p, pt in zip(self.critic.parameters(), self.critic_targ.parameters()):
                pt.mul_(1 - cfg.tau).add_(p, alpha=cfg.tau)
        info.update(actor=actor_loss.item(), alpha=alpha.item(), entropy=-logp.mean().item())
        return info

    def make_optimizers(self) -> None:
        """(Re)build the optimizers over the current parameters (after moving the module)."""
        cfg = self.cfg
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), cfg.lr_actor)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), cfg.lr_critic)
        self.opt_alpha = torch.optim.Adam([self.log_alpha], cfg.lr_alpha)
        if self.lagrangian:
            self.opt_alpha_prime = torch.optim.Adam([self.log_alpha_prime], cfg.lr_critic)

    def optim_state(self) -> dict:
        d = {"actor": self.opt_actor.state_dict(), "critic": self.opt_critic.state_dict(),
             "alpha": self.opt_alpha.state_dict()}
        if self.lagrangian:
            d["alpha_prime"] = self.opt_alpha_prime.state_dict()
        return d

    def load_optim_state(self, d: dict) -> None:
        self.opt_actor.load_state_dict(d["actor"])
        self.opt_critic.load_state_dict(d["critic"])
        self.opt_alpha.load_state_dict(d["alpha"])
        if self.lagrangian:
            self.opt_alpha_prime.load_state_dict(d["alpha_prime"])
