"""The symmetric group S_n acting on padded sets and graphs.

An element is stored as a gather index ``p`` of shape (M, N): the inverse action is
``(g^-1 . x)[i] = x[p[i]]`` and the action is its scatter, ``(g . x)[p[i]] = x[i]``. So a
sampler that sorts node scores returns ``p = argsort(scores)`` and ``g^-1 . x`` is the
input in canonical (sorted) order. Padding nodes (mask False) always map to themselves.

An element may carry a soft doubly-stochastic matrix ``soft`` (M, N, N) with
``soft[m, i, j] ~ [p[m, i] == j]``: the forward value is always the exact gather, and
gradients flow through ``soft`` (straight-through estimator).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lps.fields import FieldType
from lps.groups.base import Group, full_precision


@dataclass
class Perm:
    """A batch of permutations: ``index`` (M, N) long, optional ``soft`` (M, N, N) float."""

    index: Tensor
    soft: Tensor | None = None

    @property
    def inverse_index(self) -> Tensor:
        """(M, N) index ``q`` with ``q[p[i]] = i``."""
        arange = torch.arange(self.index.shape[1], device=self.index.device)
        return torch.empty_like(self.index).scatter_(
            1, self.index, arange.expand_as(self.index).contiguous()
        )

    def as_matrix(self) -> Tensor:
        """(M, N, N) hard permutation matrix ``P[m, i, p[m, i]] = 1``."""
        n = self.index.shape[1]
        return torch.nn.functional.one_hot(self.index, n).float()


def _gather_nodes(x: Tensor, index: Tensor, axis: int) -> Tensor:
    """Gather ``x`` along ``axis`` with a per-row (M, N) index."""
    shape = [1] * x.dim()
    shape[0], shape[axis] = index.shape
    idx = index.view(shape).expand(*x.shape[:axis], index.shape[1], *x.shape[axis + 1 :])
    return torch.gather(x, axis, idx)


class _StraightThroughPermute(torch.autograd.Function):
    """``y = A . x`` on the node axes: the value is the exact gather, the gradient the soft one.

    ``A`` (M, N, N) is a soft matrix with ``A[m, i, j] ~ [index[m, i] == j]``; it acts on axis
    1 of ``x`` (one node axis: node, node_vector and position fields, any trailing shape) or
    on axes 1 and 2 (pair fields, ``A x A^T`` per channel). The forward pass only gathers, so
    no dense (M, N, N) product is computed or stored for it. The backward pass gives ``x`` the
    exact gradient of the gather (the scatter by ``index``) and ``A`` the gradient of
    ``A x`` (or ``A x A^T``) at the soft ``A``: ``G x^T`` (or ``G A X^T + G^T A X`` summed
    over channels), the straight-through estimator of the relaxed permutation.
    """

    @staticmethod
    def forward(ctx, x: Tensor, soft: Tensor, index: Tensor, pair: bool) -> Tensor:
        ctx.pair = pair
        ctx.save_for_backward(x, soft, index)
        out = _gather_nodes(x, index, 1)
        return _gather_nodes(out, index, 2) if pair else out

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, soft, index = ctx.saved_tensors
        grad_x = grad_soft = None
        if ctx.needs_input_grad[0]:
            inverse = Perm(index).inverse_index
            grad_x = _gather_nodes(grad, inverse, 1)
            if ctx.pair:
                grad_x = _gather_nodes(grad_x, inverse, 2)
        if ctx.needs_input_grad[1]:
            dtype = torch.promote_types(torch.promote_types(grad.dtype, soft.dtype), x.dtype)
            a, xs, grad = soft.to(dtype), x.to(dtype), grad.to(dtype)  # no bf16 products
            if ctx.pair:
                m, n = xs.shape[:2]
                g, xs = grad.reshape(m, n, n, -1), xs.reshape(m, n, n, -1)
                # d<G, A X A^T>/dA = sum_c G_c A X_c^T + G_c^T A X_c
                ax_rows = torch.einsum("mjb,mabc->mjac", a, xs)  # [j, a, c] = (A X_c^T)[j, a]
                ax_cols = torch.einsum("mjb,mbac->mjac", a, xs)  # [j, a, c] = (A X_c)[j, a]
                grad_soft = torch.einsum("mijc,mjac->mia", g, ax_rows) + torch.einsum(
                    "mjic,mjac->mia", g, ax_cols
                )
            else:
                m, n = xs.shape[:2]
                grad_soft = torch.bmm(grad.reshape(m, n, -1), xs.reshape(m, n, -1).transpose(1, 2))
            grad_soft = grad_soft.to(soft.dtype)
        return grad_x, grad_soft, None, None


class Permutation(Group):
    """S_n on padded node sets (masks with real nodes first)."""

    name = "S_n"
    acts_on = frozenset(
        {
            FieldType.INVARIANT,
            FieldType.NODE,
            FieldType.PAIR,
            FieldType.NODE_VECTOR,
            FieldType.POSITION,
        }
    )

    def identity(self, m: int, num_nodes: int | None, device: torch.device | str = "cpu") -> Perm:
        if num_nodes is None:
            raise ValueError("S_n: the number of nodes N is needed to build an identity element")
        return Perm(torch.arange(num_nodes, device=device).expand(m, num_nodes).contiguous())

    def haar(self, m, num_nodes=None, mask=None, device="cpu", generator=None) -> Perm:
        """Uniform permutations of the real nodes of each row; padding stays at the end.

        ``mask`` is (M, N) bool; without it every node is real.
        """
        if mask is not None:
            num_nodes = mask.shape[1]
            device = mask.device
        if num_nodes is None:
            raise ValueError("S_n: Haar sampling needs num_nodes or a mask")
        with full_precision(torch.device(device)):
            scores = torch.rand(m, num_nodes, device=device, generator=generator)
            if mask is not None:
                scores = scores.masked_fill(~mask, 2.0)  # padding sorts last, in order
                scores = scores + torch.arange(num_nodes, device=device) * (~mask)
            return Perm(torch.argsort(scores, dim=1))

    def compose(self, g: Perm, h: Perm) -> Perm:
        # (g h)^-1 . x = h^-1 . (g^-1 . x): gather by p_g, then by p_h.
        return Perm(torch.gather(g.index, 1, h.index))

    def inverse(self, g: Perm) -> Perm:
        return Perm(g.inverse_index, None if g.soft is None else g.soft.transpose(1, 2))

    def repeat(self, g: Perm, k: int) -> Perm:
        soft = None if g.soft is None else g.soft.repeat_interleave(k, 0)
        return Perm(g.index.repeat_interleave(k, 0), soft)

    def act(self, g: Perm, x: Tensor, ftype: FieldType, inverse: bool = False) -> Tensor:
        self.check_acts_on("input", ftype)
        if ftype == FieldType.INVARIANT:
            return x
        index = g.index if inverse else g.inverse_index
        pair = ftype == FieldType.PAIR
        if g.soft is not None and torch.is_grad_enabled():
            soft = g.soft if inverse else g.soft.transpose(1, 2)
            return _StraightThroughPermute.apply(x, soft, index, pair)
        out = _gather_nodes(x, index, 1)
        return _gather_nodes(out, index, 2) if pair else out
