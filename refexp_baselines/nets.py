"""The one small MLP builder the belief model and the agent share."""

from __future__ import annotations

import torch.nn as nn


def mlp(inp: int, hidden: int, out: int, layers: int = 2, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """`layers` Linear layers with `act` between them: `(..., inp) -> (..., out)`."""
    mods: list[nn.Module] = []
    d = inp
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden), act()]
        d = hidden
    mods.append(nn.Linear(d, out))
    return nn.Sequential(*mods)
