"""An MLP on flattened fields: the simplest base model, with no symmetry of its own."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class FlatMLP(nn.Module):
    """Flatten every input field per example, concatenate, MLP, reshape into the outputs.

    Args:
        in_shapes: ``{name: per-example shape}``, e.g. ``{"x": (N, C), "adj": (N, N, 1)}``.
        out_shapes: ``{name: per-example shape}`` for a dict output, or one shape for a
            tensor output, e.g. ``(2,)`` for two logits.
        hidden, layers, dropout: MLP width, number of hidden layers and dropout.

    Padding (``mask`` False) is zeroed in node and pair inputs before flattening.
    """

    def __init__(
        self,
        in_shapes: dict[str, tuple[int, ...]],
        out_shapes: dict[str, tuple[int, ...]] | tuple[int, ...],
        hidden: int = 128,
        layers: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.in_shapes = {k: tuple(v) for k, v in in_shapes.items()}
        self.single = not isinstance(out_shapes, dict)
        self.out_shapes = {"out": tuple(out_shapes)} if self.single else dict(out_shapes)
        in_dim = sum(math.prod(s) for s in self.in_shapes.values())
        out_dim = sum(math.prod(s) for s in self.out_shapes.values())
        dims = [in_dim] + [hidden] * layers
        mods: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            mods += [nn.Linear(a, b), nn.GELU(), nn.Dropout(dropout)]
        mods.append(nn.Linear(dims[-1], out_dim))
        self.net = nn.Sequential(*mods)

    def forward(self, mask: Tensor | None = None, **fields: Tensor) -> Tensor | dict[str, Tensor]:
        parts = []
        for name, shape in self.in_shapes.items():
            x = fields[name]
            if tuple(x.shape[1:]) != shape:
                raise ValueError(
                    f"FlatMLP: field {name!r} has shape {tuple(x.shape)}, expected (B, *{shape})"
                )
            if mask is not None and x.dim() >= 3 and x.shape[1] == mask.shape[1]:
                m = mask.to(x.dtype).view(mask.shape + (1,) * (x.dim() - 2))
                if x.dim() >= 4 and x.shape[2] == mask.shape[1]:  # pair: mask both node axes
                    m = m * mask.to(x.dtype).view(mask.shape[0], 1, -1, *(1,) * (x.dim() - 3))
                x = x * m
            parts.append(x.reshape(x.shape[0], -1))
        y = self.net(torch.cat(parts, -1))
        outs, start = {}, 0
        for name, shape in self.out_shapes.items():
            size = math.prod(shape)
            outs[name] = y[:, start : start + size].reshape(y.shape[0], *shape)
            start += size
        return outs["out"] if self.single else outs
