"""Residual-pathway set layers: a permutation-equivariant path plus a dense path.

Sets are ``(B, N, C)`` with a fixed size ``N``. A :class:`ResidualSetLayer` computes
``s_i = a x_i + b mean_j x_j + free(x)_i + bias`` and ``relu``: the first two terms are the
general S_n-equivariant linear map (``a I + b 11^T / N`` per pair of channels), the free
path is any linear map of the flattened set.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lps.marglik.kron import Readout, ResidualLayer, add_outer, kron_eigs
from lps.marglik.layers import DensePath

__all__ = ["ResidualSetLayer", "ResidualSetNet", "SetEquivariantPath"]


class SetEquivariantPath(nn.Module):
    """``out_i = a x_i + b mean_j x_j``: ``(B, N, C) -> (B, N, D)``, exactly S_n-equivariant."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.randn(c_out, c_in) / c_in**0.5)
        self.b = nn.Parameter(torch.randn(c_out, c_in) / c_in**0.5)

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.a.T + (x.mean(1, keepdim=True) @ self.b.T)

    def prior_mean_square(self, x: Tensor, prec: dict[str, float]) -> float:
        """``E ||out||^2 / out.numel()`` over ``a ~ N(0, 1/delta_a)``, ``b ~ N(0, 1/delta_b)``."""
        own = float(x.pow(2).sum(-1).mean()) / prec["a"]
        return own + float(x.mean(1).pow(2).sum(-1).mean()) / prec["b"]

    def kron_accumulate(self, stats, x, gs):
        add_outer(stats, "A_a", x.reshape(-1, x.shape[-1]))
        add_outer(stats, "A_b", x.mean(1))
        for g in gs:
            add_outer(stats, "G_a", g.reshape(-1, g.shape[-1]))
            add_outer(stats, "G_b", g.sum(1))

    def kron_eigen(self, stats, n):
        return {
            "a": [kron_eigs(stats["G_a"], stats["A_a"], n * stats["positions"])],
            "b": [kron_eigs(stats["G_b"], stats["A_b"], n)],
        }


class ResidualSetLayer(ResidualLayer):
    """``relu(equiv(x) + free(x) + bias)`` on ``(B, n, c_in)`` -> ``(B, n, c_out)``."""

    path_names = ("equiv", "free")

    def __init__(self, c_in: int, c_out: int, n: int, free: bool = True, equiv: bool = True):
        super().__init__()
        if not free and not equiv:
            raise ValueError("ResidualSetLayer: needs at least one path (equiv or free)")
        self.n, self.c_in = n, c_in
        self.positions = float(n)
        self.equiv = SetEquivariantPath(c_in, c_out) if equiv else None
        self.free = DensePath((n, c_in), (n, c_out)) if free else None
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3 or x.shape[1:] != (self.n, self.c_in):
            raise ValueError(
                f"ResidualSetLayer: expected input (B, {self.n}, {self.c_in}), got {tuple(x.shape)}"
            )
        s = sum(self.path_outputs(x).values()) + self.bias
        self._record(x, s)
        return torch.relu(s)

    def bias_rows(self, g: Tensor) -> Tensor:
        return g.sum(1)


class ResidualSetNet(nn.Module):
    """Residual set layers, a mean over the set and a linear head: ``(B, n, c_in) -> (B, K)``."""

    def __init__(
        self,
        n: int,
        c_in: int,
        classes: int,
        channels: int = 16,
        layers: int = 2,
        free: bool = True,
        equiv: bool = True,
    ) -> None:
        super().__init__()
        dims = [c_in] + [channels] * layers
        self.layers = nn.ModuleList(
            ResidualSetLayer(dims[i], dims[i + 1], n, free, equiv) for i in range(layers)
        )
        self.head = Readout(channels, classes)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.head(x.mean(1))
