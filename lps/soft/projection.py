"""Exact projectors onto the G-equivariant linear maps between declared representations.

The maps ``W`` (out x in) with ``rho_out(g) W = W rho_in(g)`` form a linear space. Between two
block types (at most a rank-2 cartesian tensor, 9 x 9 = 81 unknowns) a basis is the null
space of the stacked constraints ``(rho_out(g) (x) I - I (x) rho_in(g)^T) vec W = 0`` over a
few Haar elements of G. The elements are checked against fresh ones, and added to until
those satisfy the constraints too, so disconnected groups (O(3): the det -1 component) are
covered. The orthogonal projector ``P = Q^T Q`` (``Q`` an orthonormal basis) is cached per
(group, block pair). A map between sums of blocks is projected block pair by block pair:
every copy pair of the same two block types shares one projector.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from lps.groups import Group, get_group
from lps.soft.reps import Block, Rep, group_matrices

__all__ = [
    "equivariant_basis",
    "project_bias",
    "project_weight",
    "projection_penalty",
    "projector",
]

#: Relative singular-value threshold of the null space.
NULL_TOL = 1e-9
_BASES: dict[tuple[str, Block, Block], Tensor] = {}
_SCALAR = Block(None, 0, 0)


def _constraints(out_b: Block, in_b: Block, scale: Tensor, rot: Tensor) -> Tensor:
    r_out, r_in = out_b.matrix(scale, rot), in_b.matrix(scale, rot)
    eye_in = torch.eye(in_b.dim, dtype=rot.dtype)
    eye_out = torch.eye(out_b.dim, dtype=rot.dtype)
    c = torch.einsum("mab,ij->maibj", r_out, eye_in) - torch.einsum("ab,mji->maibj", eye_out, r_in)
    return c.reshape(-1, out_b.dim * in_b.dim)


def equivariant_basis(
    group: Group | str, out_block: Block, in_block: Block, n_elements: int = 4
) -> Tensor:
    """(k, out.dim * in.dim) orthonormal basis (float64, row-major ``vec W``) of the
    G-equivariant maps from ``in_block`` to ``out_block``; cached."""
    group = get_group(group)
    key = (group.name, out_block, in_block)
    if key in _BASES:
        return _BASES[key]
    n = out_block.dim * in_block.dim
    rows = []
    for round_ in range(8):
        scale, rot = group_matrices(group, n_elements, seed=round_)
        fresh = _constraints(out_block, in_block, scale, rot)
        if rows:
            basis = _null_space(torch.cat(rows))
            norm = max(1.0, float(fresh.abs().max()))
            if basis.shape[0] == 0 or float((fresh @ basis.T).abs().max()) <= 1e-9 * norm:
                break
        rows.append(fresh)
    else:
        raise RuntimeError(f"{group.name}: the equivariant basis did not settle in 8 rounds")
    basis = _null_space(torch.cat(rows))
    assert basis.shape[1] == n
    _BASES[key] = basis
    return basis


def _null_space(c: Tensor) -> Tensor:
    _, s, vh = torch.linalg.svd(c, full_matrices=True)
    tol = NULL_TOL * max(float(s.max()) if s.numel() else 1.0, 1.0)
    rank = int((s > tol).sum())
    return vh[rank:].contiguous()


def projector(group: Group | str, out_block: Block, in_block: Block) -> Tensor:
    """(n, n) float64 orthogonal projector onto the equivariant maps (``n = out.dim * in.dim``)."""
    q = equivariant_basis(group, out_block, in_block)
    return q.T @ q


_CAST: dict[tuple[str, Block, Block, torch.dtype, str], Tensor | None] = {}


def _projector_like(group: Group, bo: Block, bi: Block, w: Tensor) -> Tensor | None:
    """The projector in ``w``'s dtype and device (None when only 0 is equivariant); cached."""
    key = (group.name, bo, bi, w.dtype, str(w.device))
    if key not in _CAST:
        q = equivariant_basis(group, bo, bi)
        _CAST[key] = None if q.shape[0] == 0 else (q.T @ q).to(w.dtype).to(w.device)
    return _CAST[key]


def _project_blocks(w: Tensor, group: Group | str, rep_out: Rep, rep_in: Rep) -> Tensor:
    group = get_group(group)
    rows = []
    for so, mo, bo in rep_out.slices():
        cols = []
        for si, mi, bi in rep_in.slices():
            p = _projector_like(group, bo, bi, w)
            if p is None:
                cols.append(torch.zeros_like(w[so, si]))
                continue
            sub = w[so, si].reshape(mo, bo.dim, mi, bi.dim).permute(0, 2, 1, 3)
            sub = sub.reshape(mo * mi, bo.dim * bi.dim) @ p
            sub = sub.reshape(mo, mi, bo.dim, bi.dim).permute(0, 2, 1, 3)
            cols.append(sub.reshape(mo * bo.dim, mi * bi.dim))
        rows.append(torch.cat(cols, 1))
    return torch.cat(rows, 0)


def project_weight(w: Tensor, group: Group | str, rep_out: Rep | str, rep_in: Rep | str) -> Tensor:
    """``P_G W`` for a weight (out.dim, in.dim); differentiable in ``w``."""
    rep_out, rep_in = Rep(rep_out), Rep(rep_in)
    if tuple(w.shape) != (rep_out.dim, rep_in.dim):
        raise ValueError(
            f"weight of shape {tuple(w.shape)} does not map {rep_in} (dim {rep_in.dim}) to "
            f"{rep_out} (dim {rep_out.dim})"
        )
    return _project_blocks(w, group, rep_out, rep_in)


def project_bias(b: Tensor, group: Group | str, rep_out: Rep | str) -> Tensor:
    """``P_G b``: the bias projected onto the G-invariant vectors of ``rep_out``."""
    rep_out = Rep(rep_out)
    return _project_blocks(b[:, None], group, rep_out, Rep([(1, _SCALAR)]))[:, 0]


def projection_penalty(
    w: Tensor, b: Tensor | None, group: Group | str, rep_out: Any, rep_in: Any
) -> Tensor:
    """``1/2 ||W - P W||^2 + 1/2 ||b - P b||^2`` (a differentiable scalar)."""
    pen = 0.5 * (w - project_weight(w, group, rep_out, rep_in)).pow(2).sum()
    if b is not None:
        pen = pen + 0.5 * (b - project_bias(b, group, rep_out)).pow(2).sum()
    return pen
