"""Kronecker-factored GGN blocks: the interface every marglik layer implements.

A :class:`KronLayer` records its input ``x`` and its pre-activation output ``s`` during a
capture pass. Given the gradients ``g`` of the network output with respect to ``s`` (one
per backpropagated vector, see :mod:`lps.marglik.laplace`), it accumulates sums of outer
products, and turns them into eigenvalue pairs ``(eg (nb, q), ea (nb, p))``: the GGN block
of one parameter tensor is approximated by ``nb`` Kronecker blocks with eigenvalues
``eg[b, i] * ea[b, j]``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["KronLayer", "Readout", "ResidualLayer", "add_outer", "kron_eigs"]

Eigs = list[tuple[Tensor, Tensor]]


def add_outer(stats: dict[str, Tensor], key: str, rows: Tensor) -> None:
    """``stats[key] += rows^T rows`` for rows ``(..., M, p)`` (batched over leading dims)."""
    rows = rows.detach().double()
    outer = rows.transpose(-1, -2) @ rows
    stats[key] = stats[key] + outer if key in stats else outer


def kron_eigs(g_sum: Tensor, a_sum: Tensor, rows: float) -> tuple[Tensor, Tensor]:
    """Eigenvalues of ``(g_sum / rows) (x) a_sum``, batched: ``(nb, q)``, ``(nb, p)``."""
    g_sum = g_sum.reshape(-1, *g_sum.shape[-2:])
    a_sum = a_sum.reshape(-1, *a_sum.shape[-2:])
    eg = torch.linalg.eigvalsh(g_sum).clamp_min(0) / rows
    ea = torch.linalg.eigvalsh(a_sum).clamp_min(0)
    return eg, ea


class KronLayer(nn.Module):
    """A layer that records ``(x, s)`` while ``capturing`` and owns its GGN factors."""

    def __init__(self) -> None:
        super().__init__()
        self.capturing = False
        self.captured: tuple[Tensor, Tensor] | None = None

    def _record(self, x: Tensor, s: Tensor) -> None:
        if self.capturing:
            self.captured = (x, s)

    def kron_accumulate(self, stats: dict[str, Tensor], x: Tensor, gs: list[Tensor]) -> None:
        """Add this batch's factor sums; ``gs[k]`` is ``d(v_k . f) / ds``, shaped like ``s``."""
        raise NotImplementedError

    def kron_eigen(self, stats: dict[str, Tensor], n: int) -> dict[str, Eigs]:
        """Eigen pairs per local parameter name, for ``n`` data points in all."""
        raise NotImplementedError


class ResidualLayer(KronLayer):
    """A sum of named paths plus a per-channel bias: ``s = sum_p path_p(x) + bias``.

    Subclasses name their path attributes in ``path_names`` (a missing path is ``None``),
    give the number of positions that share a path's weights (``positions``) and the bias
    gradient rows of one backpropagated ``g`` (``bias_rows``, ``(B, c_out)``). Each path is
    its own KronLayer-like module with ``kron_accumulate`` / ``kron_eigen``.
    """

    path_names: tuple[str, ...] = ()
    positions: float = 1.0

    def paths(self) -> dict[str, nn.Module]:
        """The layer's present paths by name, in ``path_names`` order."""
        return {k: p for k in self.path_names if (p := getattr(self, k)) is not None}

    def path_outputs(self, x: Tensor) -> dict[str, Tensor]:
        """Each path's contribution to ``s`` (shaped like ``s``)."""
        return {k: p(x) for k, p in self.paths().items()}

    def bias_rows(self, g: Tensor) -> Tensor:
        """``d(v . f) / d bias`` from ``g = d(v . f) / ds``: ``(B, c_out)``."""
        raise NotImplementedError

    def kron_accumulate(self, stats, x, gs):
        for name, path in self.paths().items():
            path.kron_accumulate(stats.setdefault(name, {"positions": self.positions}), x, gs)
        for g in gs:
            add_outer(stats, "G_bias", self.bias_rows(g))

    def kron_eigen(self, stats, n):
        out = {}
        for name, path in self.paths().items():
            for k, v in path.kron_eigen(stats[name], n).items():
                out[f"{name}.{k}"] = v
        eg = torch.linalg.eigvalsh(stats["G_bias"]).clamp_min(0)[None]
        out["bias"] = [(eg, torch.ones(1, 1, dtype=eg.dtype))]
        return out


class Readout(KronLayer):
    """``f = W h + b``: a linear head (h ``(B, D)`` -> f ``(B, K)``), KFAC for W, exact for b."""

    def __init__(self, d_in: int, d_out: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d_out, d_in) / d_in**0.5)
        self.bias = nn.Parameter(torch.zeros(d_out)) if bias else None

    def forward(self, h: Tensor) -> Tensor:
        if h.ndim != 2 or h.shape[1] != self.weight.shape[1]:
            raise ValueError(
                f"Readout: expected input (B, {self.weight.shape[1]}), got {tuple(h.shape)}"
            )
        s = h @ self.weight.T
        if self.bias is not None:
            s = s + self.bias
        self._record(h, s)
        return s

    def kron_accumulate(self, stats, x, gs):
        add_outer(stats, "A", x)
        for g in gs:
            add_outer(stats, "G", g)

    def kron_eigen(self, stats, n):
        out = {"weight": [kron_eigs(stats["G"], stats["A"], n)]}
        if self.bias is not None:
            eg = torch.linalg.eigvalsh(stats["G"]).clamp_min(0)[None]
            out["bias"] = [(eg, torch.ones(1, 1, dtype=eg.dtype))]
        return out
