"""The symmetric group S_n acting on padded sets and graphs.

An element is stored as a gather index ``p`` of shape (M, N): the inverse action is
``(g^-1 . x)[i] = x[p[i]]`` and the action is its scatter, ``(g . x)[p[i]] = x[i]``. So a
sampler that sorts node scores returns ``p = argsort(scores)`` and ``g^-1 . x`` is the
input in canonical (sorted) order. Padding nodes (mask False) always map to themselves.

An element may carry a soft doubly-stochastic matrix ``soft`` (M, N, N) with
``soft[m, i, j] ~ [p[m, i] == j]``, or the same matrix as a band around the sorted order
(:class:`~lps.groups.band.BandedSoft`): the forward value is always the exact gather, and
gradients flow through ``soft`` (straight-through estimator).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lps.fields import FieldType
from lps.groups.band import BandedSoft, band_grad, pair_product_grad
from lps.groups.base import POINT_CLOUD_FIELDS, Example, Group, full_precision


@dataclass
class Perm:
    """A batch of permutations: ``index`` (M, N) long, optional ``soft`` (M, N, N) float or
    :class:`~lps.groups.band.BandedSoft`."""

    index: Tensor
    soft: Tensor | BandedSoft | None = None

    @property
    def inverse_index(self) -> Tensor:
        """(M, N) index ``q`` with ``q[p[i]] = i``."""
        arange = torch.arange(self.index.shape[1], device=self.index.device)
        return torch.empty_like(self.index).scatter_(
            1, self.index, arange.expand_as(self.index).contiguous()
        )

    def soft_matrix(self) -> Tensor | None:
        """The soft matrix as a dense (M, N, N) tensor (None without one)."""
        if isinstance(self.soft, BandedSoft):
            sort_index = self.inverse_index if self.soft.transposed else self.index
            return self.soft.to_dense(sort_index)
        return self.soft

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


def _gather_pair_or_node(x: Tensor, index: Tensor, pair: bool) -> Tensor:
    """Gather axis 1 (and axis 2 for a pair field) with a per-row (M, N) index."""
    out = _gather_nodes(x, index, 1)
    return _gather_nodes(out, index, 2) if pair else out


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
        return _gather_pair_or_node(x, index, pair)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, soft, index = ctx.saved_tensors
        grad_x = grad_soft = None
        if ctx.needs_input_grad[0]:
            grad_x = _gather_pair_or_node(grad, Perm(index).inverse_index, ctx.pair)
        if ctx.needs_input_grad[1]:
            dtype = torch.promote_types(torch.promote_types(grad.dtype, soft.dtype), x.dtype)
            a, xs, grad = soft.to(dtype), x.to(dtype), grad.to(dtype)  # no bf16 products
            if ctx.pair:
                grad_soft = pair_product_grad(a, grad, xs)
            else:
                m, n = xs.shape[:2]
                grad_soft = torch.bmm(grad.reshape(m, n, -1), xs.reshape(m, n, -1).transpose(1, 2))
            grad_soft = grad_soft.to(soft.dtype)
        return grad_x, grad_soft, None, None


class _BandedStraightThrough(torch.autograd.Function):
    """The straight-through action with a banded soft matrix (see :mod:`lps.groups.band`).

    ``A = Q P`` with ``Q`` the band (sorted columns) and ``P`` the permutation matrix of the
    sort index ``p``. ``sort=True`` computes ``A . x`` (value: the gather by ``p``);
    ``sort=False`` computes ``A^T . y`` (value: the gather by the inverse of ``p``). As for
    the dense matrix, the field gets the exact gradient of the gather and the band gets the
    gradient of the relaxed product at ``Q`` (node fields in O(N w) per row and channel;
    pair fields through :func:`~lps.groups.band.band_grad`): for ``A x``,
    ``d<G, Q x_s>/dQ`` with ``x_s`` the sorted field; for ``A^T y``, ``d<y, Q^T G_s>/dQ`` with
    ``G_s`` the sorted incoming gradient (pair fields: both node axes).
    """

    @staticmethod
    def forward(ctx, x: Tensor, band: Tensor, index: Tensor, pair: bool, sort: bool) -> Tensor:
        ctx.pair, ctx.sort = pair, sort
        ctx.save_for_backward(x, band, index)
        return _gather_pair_or_node(x, index if sort else Perm(index).inverse_index, pair)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, band, index = ctx.saved_tensors
        pair, sort = ctx.pair, ctx.sort
        back_index = Perm(index).inverse_index if sort else index
        grad_x = _gather_pair_or_node(grad, back_index, pair)
        grad_band = None
        if ctx.needs_input_grad[1]:
            dtype = torch.promote_types(torch.promote_types(grad.dtype, band.dtype), x.dtype)
            if sort:  # <G, Q x_s>
                u, v = grad, _gather_pair_or_node(x, index, pair)
            else:  # <G_s, Q^T y> = <y, Q G_s>
                u, v = x, grad_x
            grad_band = band_grad(band.to(dtype), u.to(dtype), v.to(dtype), pair)
            grad_band = grad_band.to(band.dtype)
        return (grad_x if ctx.needs_input_grad[0] else None), grad_band, None, None, None


def example_mask(batch: int, num_nodes: int) -> Tensor:
    """(B, N) masks of graphs with N, N-1, N-2, N, ... real nodes (real nodes first)."""
    sizes = torch.tensor([num_nodes - (i % 3) for i in range(batch)]).clamp_min(1)
    return torch.arange(num_nodes)[None, :] < sizes[:, None]


class Permutation(Group):
    """S_n on padded node sets (masks with real nodes first)."""

    name = "S_n"
    kind = "permutation"
    moves = frozenset({"nodes"})
    acts_on = POINT_CLOUD_FIELDS

    def identity(self, m: int, num_nodes: int | None, device: torch.device | str = "cpu") -> Perm:
        if num_nodes is None:
            raise ValueError("S_n: the number of nodes N is needed to build an identity element")
        return Perm(torch.arange(num_nodes, device=device).expand(m, num_nodes).contiguous())

    def haar(
        self, m, num_nodes=None, mask=None, device="cpu", generator=None, dtype=torch.float32
    ) -> Perm:
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

    def relabel_edges(self, h: Perm, edge_index: Tensor, num_nodes: int) -> Tensor:
        """Flat edges (``b * N + i``) of ``h . x``: node ``i`` of graph ``b`` moves to ``p[i]``."""
        graph, node = edge_index // num_nodes, edge_index % num_nodes
        return graph * num_nodes + h.index[graph, node]

    def example(self, batch: int = 4, num_nodes: int = 7, seed: int = 0) -> Example:
        """Padded node features ``x`` (B, N, 2) and a symmetric adjacency ``adj``
        (B, N, N, 1) with graph sizes N, N-1, N-2, ...; outputs a graph and a node field."""
        gen = torch.Generator().manual_seed(seed)
        n = num_nodes
        mask = example_mask(batch, n)
        x = torch.randn(batch, n, 2, generator=gen) * mask[..., None]
        adj = torch.triu((torch.rand(batch, n, n, generator=gen) < 0.5).float(), 1)
        adj = (adj + adj.transpose(1, 2)) * mask[:, :, None] * mask[:, None, :]
        return Example(
            {"x": x, "adj": adj.unsqueeze(-1)},
            {"x": FieldType.NODE, "adj": FieldType.PAIR},
            mask,
            {"graph": (2,), "node": (n, 2)},
            {"graph": FieldType.INVARIANT, "node": FieldType.NODE},
        )

    def compose(self, g: Perm, h: Perm) -> Perm:
        # (g h)^-1 . x = h^-1 . (g^-1 . x): gather by p_g, then by p_h.
        return Perm(torch.gather(g.index, 1, h.index))

    def inverse(self, g: Perm) -> Perm:
        soft = g.soft
        if isinstance(soft, BandedSoft):
            soft = BandedSoft(soft.values, not soft.transposed)
        elif soft is not None:
            soft = soft.transpose(1, 2)
        return Perm(g.inverse_index, soft)

    def repeat(self, g: Perm, k: int) -> Perm:
        soft = g.soft
        if isinstance(soft, BandedSoft):
            soft = BandedSoft(soft.values.repeat_interleave(k, 0), soft.transposed)
        elif soft is not None:
            soft = soft.repeat_interleave(k, 0)
        return Perm(g.index.repeat_interleave(k, 0), soft)

    def act(self, g: Perm, x: Tensor, ftype: FieldType, inverse: bool = False) -> Tensor:
        self.check_acts_on("input", ftype)
        if ftype == FieldType.INVARIANT:
            return x
        pair = ftype == FieldType.PAIR
        if isinstance(g.soft, BandedSoft) and torch.is_grad_enabled():
            # The band is stored against the sort index p of the sampled element; for its
            # inverse (transposed) the roles of p and p^-1 swap.
            sort_index = g.inverse_index if g.soft.transposed else g.index
            sort = inverse != g.soft.transposed
            return _BandedStraightThrough.apply(x, g.soft.values, sort_index, pair, sort)
        index = g.index if inverse else g.inverse_index
        if g.soft is not None and torch.is_grad_enabled():
            soft = g.soft if inverse else g.soft.transpose(1, 2)
            return _StraightThroughPermute.apply(x, soft, index, pair)
        return _gather_pair_or_node(x, index, pair)
