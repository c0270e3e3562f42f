"""Small building blocks shared by the samplers and the base models."""

from __future__ import annotations

from torch import nn


def mlp(dims: list[int], act: type[nn.Module] = nn.SiLU, last_act: bool = False) -> nn.Sequential:
    """``Linear(dims[0], dims[1]), act, ..., Linear(dims[-2], dims[-1])`` (``act`` also after the
    last layer when ``last_act``). Parameter names are ``<index>.weight`` / ``<index>.bias`` in
    that order, which saved checkpoints rely on."""
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2 or last_act:
            layers.append(act())
    return nn.Sequential(*layers)
