"""Learnable fixed inputs: fields of the absolute (world-frame) position that no group acts on.

A :class:`FixedInputs` module maps positions ``x`` (B, N, d) to ``m`` learnable values
``b(x)`` (B, N, m): a small MLP of the absolute position, multiplied by the indicator of an
optional domain box (zero outside it, so a model falls back to its equivariant self there),
dropped for whole examples with probability ``p_drop`` in training (so the strict model stays
usable), and optionally forced off in evaluation. Given to an equivariant model next to its
regular inputs, they let it depart from equivariance as much as the data ask; with them off
(zero) it is the strict model again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn


class FixedInputs(nn.Module):
    """``count`` learnable world-frame fields ``b(x)`` of ``dim``-dimensional positions.

    Args:
        dim: the dimension ``d`` of the positions.
        count: the number ``m`` of fixed inputs (0: always zero, the strict model).
        hidden: width of the MLP; ``layers``: its number of hidden layers.
        domain: ``(low, high)`` of the box where the fields live, each a number or a
            length-``d`` sequence; ``b(x) = 0`` outside it. None: everywhere.
        p_drop: probability that all fields of an example are dropped (zero) in training.
        off_at_eval: force the fields off in eval mode (the strict model at test time).
    """

    def __init__(
        self,
        dim: int = 1,
        count: int = 1,
        hidden: int = 32,
        layers: int = 2,
        domain: tuple[float | Sequence[float], float | Sequence[float]] | None = None,
        p_drop: float = 0.5,
        off_at_eval: bool = False,
    ):
        super().__init__()
        for name, value, low in (("dim", dim, 1), ("count", count, 0), ("hidden", hidden, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"FixedInputs: {name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(p_drop, (int, float)) and 0.0 <= p_drop <= 1.0):
            raise ValueError(f"FixedInputs: p_drop must be in [0, 1], got {p_drop!r}")
        self.dim, self.count, self.p_drop = dim, count, float(p_drop)
        self.off_at_eval = off_at_eval
        #: None: the default behaviour; True/False: forced on/off (see :func:`forced`).
        self.forced: bool | None = None
        mods: list[nn.Module] = []
        width = dim
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        mods.append(nn.Linear(width, max(count, 1)))
        self.net = nn.Sequential(*mods)
        if domain is None:
            self.register_buffer("low", None)
            self.register_buffer("high", None)
        else:
            low, high = (torch.as_tensor(v, dtype=torch.float32).expand(dim) for v in domain)
            if not bool((high > low).all()):
                raise ValueError(f"FixedInputs: domain {domain!r} needs low < high in every axis")
            self.register_buffer("low", low.clone())
            self.register_buffer("high", high.clone())

    def is_on(self) -> bool:
        """Whether the fields are used in the current mode (before per-example dropout)."""
        if self.count == 0:
            return False
        if self.forced is not None:
            return self.forced
        return self.training or not self.off_at_eval

    def inside(self, pos: Tensor) -> Tensor:
        """(B, N) float indicator of the domain box for positions (B, N, d)."""
        if self.low is None:
            return torch.ones(pos.shape[:-1], dtype=pos.dtype, device=pos.device)
        low, high = self.low.to(pos.dtype), self.high.to(pos.dtype)
        return ((pos >= low) & (pos <= high)).all(-1).to(pos.dtype)

    def forward(self, pos: Tensor, mask: Tensor | None = None, on: bool | None = None) -> Tensor:
        """Positions (B, N, d) -> fields (B, N, count); zero for padding (``mask`` False),
        outside the domain, for dropped examples and when off (``on=False`` overrides)."""
        if not isinstance(pos, Tensor) or pos.dim() != 3 or pos.shape[-1] != self.dim:
            shape = tuple(pos.shape) if isinstance(pos, Tensor) else type(pos).__name__
            raise ValueError(
                f"FixedInputs: positions of shape {shape}, expected (B, N, {self.dim})"
            )
        batch, n = pos.shape[:2]
        on = self.is_on() if on is None else (on and self.count > 0)
        if not on:
            return pos.new_zeros(batch, n, self.count)
        b = self.net(pos) * self.inside(pos).unsqueeze(-1)
        if self.training and self.p_drop > 0 and self.forced is None:
            keep = torch.rand(batch, device=pos.device) >= self.p_drop
            b = b * keep.to(b.dtype).view(batch, 1, 1)
        if mask is not None:
            b = b * mask.to(b.dtype).unsqueeze(-1)
        return b


@contextlib.contextmanager
def forced(model: nn.Module, on: bool) -> Iterator[nn.Module]:
    """Force every :class:`FixedInputs` inside ``model`` on (no dropout) or off, for a block."""
    mods = [m for m in model.modules() if isinstance(m, FixedInputs)]
    if not mods:
        raise ValueError(f"{type(model).__name__} has no FixedInputs module")
    saved = [m.forced for m in mods]
    try:
        for m in mods:
            m.forced = on
        yield model
    finally:
        for m, s in zip(mods, saved):
            m.forced = s
