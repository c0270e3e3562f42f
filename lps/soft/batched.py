"""The projection penalties of every candidate group at once, one matmul per block-type pair.

:func:`lps.soft.projection.projection_penalty` loops over the slice pairs of a layer and over
the groups. Here a layer ``[W | b]`` (the bias is a map from the invariant scalar) is split
once into its copy-pair sub-blocks; the sub-blocks of the same two block types are gathered
into one matrix ``X`` (copies, out.dim * in.dim) by a cached index, and multiplied by the
cached projectors of all groups side by side, ``X [P_1 | ... | P_G]``. The penalties of the
G groups then come from one residual, ``1/2 ||X - X P_i||^2`` summed over the type pairs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lps.groups import get_group
from lps.soft.projection import equivariant_basis
from lps.soft.reps import Block, Rep

__all__ = ["LayerProjector", "layer_projector"]

_SCALAR = Block(None, 0, 0)


class LayerProjector:
    """Projectors of the groups ``groups`` on the maps ``[W | b]`` from ``rep_in`` (plus
    the invariant scalar of the bias) to ``rep_out``, in ``dtype`` on ``device``."""

    def __init__(self, groups, rep_out: Rep, rep_in: Rep, dtype, device):
        self.groups = [get_group(g).name for g in groups]
        self.rep_out, self.rep_in = rep_out, rep_in + Rep([(1, _SCALAR)])
        width = self.rep_in.dim
        pairs: dict[tuple[Block, Block], list[Tensor]] = {}
        for so, mo, bo in rep_out.slices():
            for si, mi, bi in self.rep_in.slices():
                rows = so.start + torch.arange(mo)[:, None] * bo.dim + torch.arange(bo.dim)
                cols = si.start + torch.arange(mi)[:, None] * bi.dim + torch.arange(bi.dim)
                # (mo, mi, bo.dim, bi.dim): row-major vec of each copy-pair sub-block
                flat = rows[:, None, :, None] * width + cols[None, :, None, :]
                pairs.setdefault((bo, bi), []).append(flat.reshape(mo * mi, bo.dim * bi.dim))
        self.index, self.proj = [], []
        for (bo, bi), idx in pairs.items():
            n = bo.dim * bi.dim
            ps = []
            for g in self.groups:
                q = equivariant_basis(g, bo, bi)
                ps.append(q.T @ q if q.shape[0] else torch.zeros(n, n, dtype=torch.float64))
            self.index.append(torch.cat(idx).to(device))
            self.proj.append(torch.cat(ps, 1).to(dtype).to(device))  # (n, G n)

    def _augmented(self, w: Tensor, b: Tensor | None) -> Tensor:
        if tuple(w.shape) != (self.rep_out.dim, self.rep_in.dim - 1):
            raise ValueError(
                f"weight of shape {tuple(w.shape)} does not map {self.rep_in} to {self.rep_out}"
            )
        b = torch.zeros_like(w[:, 0]) if b is None else b
        return torch.cat([w, b[:, None]], 1).reshape(-1)

    def penalties(self, w: Tensor, b: Tensor | None) -> Tensor:
        """(G,) ``1/2 ||W - P_i W||^2 + 1/2 ||b - P_i b||^2`` for every group i."""
        flat = self._augmented(w, b)
        total = flat.new_zeros(len(self.groups))
        for idx, p in zip(self.index, self.proj, strict=True):
            x = flat[idx]  # (copies, n)
            y = (x @ p).reshape(x.shape[0], len(self.groups), x.shape[1])
            total = total + 0.5 * (x[:, None, :] - y).pow(2).sum((0, 2))
        return total

    def project(self, w: Tensor, b: Tensor | None, group: str) -> tuple[Tensor, Tensor]:
        """``(P W, P b)`` for one of the groups."""
        k = self.groups.index(get_group(group).name)
        flat = self._augmented(w, b)
        out = torch.empty_like(flat)
        for idx, p in zip(self.index, self.proj, strict=True):
            n = idx.shape[1]
            out[idx] = flat[idx] @ p[:, k * n : (k + 1) * n]
        out = out.reshape(w.shape[0], w.shape[1] + 1)
        return out[:, :-1], out[:, -1]


_CACHE: dict[tuple, LayerProjector] = {}


def layer_projector(groups, rep_out: Rep, rep_in: Rep, dtype, device) -> LayerProjector:
    """The cached :class:`LayerProjector` of these groups and representations."""
    names = tuple(get_group(g).name for g in groups)
    key = (names, rep_out, rep_in, dtype, str(device))
    if key not in _CACHE:
        _CACHE[key] = LayerProjector(names, rep_out, rep_in, dtype, device)
    return _CACHE[key]
