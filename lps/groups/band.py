"""Soft permutation matrices stored as a band around the sorted order.

A soft permutation ``A`` (M, N, N) from a sorting relaxation is concentrated near its hard
permutation ``p`` (M, N), ``A[m, i, j] ~ [p[m, i] == j]``. With its columns put in sorted
order, ``Q[m, i, r] = A[m, i, p[m, r]]``, the mass lies near the diagonal, and a band of
half-width ``w`` holds it in (M, N, 2w + 1) numbers: ``values[m, i, w + d] = Q[m, i, i + d]``,
zero where ``i + d`` falls outside [0, N). SoftSort, Sinkhorn and the gradient for node
fields then cost O(N w) per row and channel instead of O(N^2).

Trailing axes of the dense operands (channels, or a second node axis) are flattened into
one feature axis ``F``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class BandedSoft:
    """A soft permutation matrix in band form: ``values`` (M, N, 2w + 1), sorted columns.

    ``transposed`` marks the soft matrix ``A^T`` of the inverse element; ``values`` always
    describe ``A`` relative to the sort index ``p`` of the element that was sampled.
    """

    values: Tensor
    transposed: bool = False

    @property
    def width(self) -> int:
        """Half-width ``w`` of the band."""
        return (self.values.shape[-1] - 1) // 2

    def to_dense(self, sort_index: Tensor) -> Tensor:
        """(M, N, N) matrix ``A`` (or ``A^T`` when transposed), given the sort index ``p``."""
        q = sorted_dense(self.values)
        m, n, _ = q.shape
        dense = torch.zeros_like(q).scatter_(2, sort_index.unsqueeze(1).expand(m, n, n), q)
        return dense.transpose(1, 2) if self.transposed else dense


def sorted_dense(values: Tensor) -> Tensor:
    """(M, N, N) matrix ``Q`` (columns in sorted order) of a band (M, N, 2w + 1)."""
    m, n, width2 = values.shape
    cols, valid = band_columns(n, (width2 - 1) // 2, values.device)
    return values.new_zeros(m, n, n).scatter_add(2, cols.expand(m, n, -1), values * valid)


def band_columns(n: int, width: int, device) -> tuple[Tensor, Tensor]:
    """(N, 2w + 1) column ``i + d`` of each band entry (clamped into range) and its validity."""
    offsets = torch.arange(-width, width + 1, device=device)
    cols = torch.arange(n, device=device).unsqueeze(1) + offsets
    valid = (cols >= 0) & (cols < n)
    return cols.clamp(0, n - 1), valid


def _diagonals(n: int, width: int):
    """``(o, d, lo, hi)`` per diagonal ``d = o - w``: rows ``lo <= i < hi`` have ``i + d`` in
    range."""
    for o in range(2 * width + 1):
        d = o - width
        lo, hi = max(0, -d), min(n, n - d)
        if lo < hi:
            yield o, d, lo, hi


def band_outer(u: Tensor, v: Tensor, width: int) -> Tensor:
    """(M, N, 2w + 1) band of ``u v^T``: ``out[m, i, w + d] = <u[m, i], v[m, i + d]>``.

    ``u`` and ``v`` are (M, N, ...) with the same trailing shape.
    """
    m, n = u.shape[:2]
    u, v = u.reshape(m, n, -1), v.reshape(m, n, -1)
    out = u.new_zeros(m, n, 2 * width + 1)
    for o, d, lo, hi in _diagonals(n, width):
        out[:, lo:hi, o] = (u[:, lo:hi] * v[:, lo + d : hi + d]).sum(-1)
    return out


def pair_product_grad(a: Tensor, u: Tensor, v: Tensor) -> Tensor:
    """(M, N, N) gradient of ``<U, A V A^T>`` wrt a dense ``A`` (M, N, N), summed over the
    channels of ``U`` and ``V`` (M, N, N, ...): ``U_c A V_c^T + U_c^T A V_c``."""
    m, n = v.shape[:2]
    u, v = u.reshape(m, n, n, -1), v.reshape(m, n, n, -1)
    av_t = torch.einsum("mjb,mabc->mjac", a, v)  # [j, a, c] = (A V_c^T)[j, a]
    av = torch.einsum("mjb,mbac->mjac", a, v)  # [j, a, c] = (A V_c)[j, a]
    return torch.einsum("mijc,mjac->mia", u, av_t) + torch.einsum("mjic,mjac->mia", u, av)


def band_grad(values: Tensor, u: Tensor, v: Tensor, pair: bool) -> Tensor:
    """(M, N, 2w + 1) gradient of ``<u, Q v>`` (or ``<u, Q v Q^T>`` for ``pair``) wrt the band.

    ``u`` and ``v`` are (M, N, ...) (pair: (M, N, N, ...)) in sorted node order. Node fields
    cost O(N w) per row and channel. For pair fields the products ``Q V^T`` and ``Q V`` are
    (M, N, N) per channel whatever the band; they run as batched matrix products on a dense
    ``Q`` built for the backward pass only (BLAS products rather than 2w + 1 elementwise
    passes along the diagonals), and only the band of the result is kept.
    """
    width = (values.shape[-1] - 1) // 2
    if not pair:
        return band_outer(u, v, width)
    m, n, _ = values.shape
    cols, valid = band_columns(n, width, values.device)
    full = pair_product_grad(sorted_dense(values), u, v)
    return torch.gather(full, 2, cols.expand(m, n, -1)) * valid
