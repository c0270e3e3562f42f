"""``Scale``: the positive scalings ``x -> s x`` (s > 0) of space, and ``SO(3) x Scale``.

An element is a tensor ``s`` (M,) of positive factors. It multiplies positions (about the
origin) and node vectors; invariants, node and pair features are untouched. Scalar
multiplication commutes with every linear action on space, so ``Scale`` forms direct
products with O(d), SO(d) and the axis subgroups (``"SO(3) x Scale"``), but not with E(d)
or SE(d), whose translations do not commute with it.

``Scale`` is not compact: it has no Haar (uniform) probability measure, so group averaging
is not defined for it, and the ``haar`` sampler refuses it (``compact = False``). Its
:meth:`Scale.haar` is a *sampling range*, not a Haar measure: ``log s ~ U(-r, r)`` with
``r = log_range`` (default ``log 2``, so ``s`` in [1/2, 2]), which is what a sampled
equivariance regularizer draws. Exact symmetrization over scalings uses the frame (a
canonicalization by the RMS norm of the centred positions, :mod:`lps.samplers.frame_scale`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lps.fields import FieldType
from lps.groups import register_group
from lps.groups.base import POINT_CLOUD_FIELDS, Example, Group, element_dtype, full_precision
from lps.groups.orthogonal import Orthogonal

#: Group kinds whose action on space is linear (no translation), so commutes with scaling.
LINEAR_KINDS = frozenset({"rigid", "axis_rigid"})


class Scale(Group):
    """Positive scalings ``x -> s x``; elements ``s`` (M,), float32 or float64.

    Args:
        log_range: half-width ``r`` of the sampling range of :meth:`haar`,
            ``log s ~ U(-r, r)`` (default ``log 2``).
    """

    compact = False
    note = "not compact: haar draws log s ~ U(-log 2, log 2); exact symmetrization by frame"

    def __init__(self, log_range: float = math.log(2.0)):
        if not (isinstance(log_range, (int, float)) and log_range > 0):
            raise ValueError(f"Scale: log_range must be a positive number, got {log_range!r}")
        self.log_range = float(log_range)
        self.name = "Scale"
        self.kind = "scale"
        self.moves = frozenset({"space"})
        self.acts_on = POINT_CLOUD_FIELDS
        if self.log_range != math.log(2.0):
            self.note = (
                f"not compact: haar draws log s ~ U(-{self.log_range:g}, {self.log_range:g})"
            )

    def commutes_with(self, other: Group) -> bool:
        """True for groups that leave space alone or act on it linearly (O(d), SO(d), axis
        subgroups); False for E(d)/SE(d) (translations) and for another scaling group."""
        if not (self.moves & other.moves):
            return True
        return other.kind in LINEAR_KINDS and not getattr(other, "translations", False)

    def identity(self, m, num_nodes=None, device="cpu") -> Tensor:
        return torch.ones(m, device=device)

    def haar(
        self, m, num_nodes=None, mask=None, device="cpu", generator=None, dtype=torch.float32
    ) -> Tensor:
        """(m,) log-uniform factors, ``log s ~ U(-log_range, log_range)``. Not a Haar measure
        (there is none): a documented sampling range for regularizers and tests. The random
        stream is drawn in fp32 and is the same for fp32 and float64 elements."""
        if mask is not None:
            device = mask.device
        with full_precision(torch.device(device)):
            u = torch.rand(m, device=device, generator=generator).to(dtype)
            return torch.exp(self.log_range * (2.0 * u - 1.0))

    def example(self, batch: int = 4, num_nodes: int = 7, seed: int = 0) -> Example:
        """The O(3) example: node features ``x``, positions ``pos`` (B, N, 3) and velocities
        ``vel`` (B, N, 1, 3); outputs a graph, a node and a position field."""
        return Orthogonal(3).example(batch, num_nodes, seed)

    def compose(self, g: Tensor, h: Tensor) -> Tensor:
        dtype = element_dtype(g, h)
        return g.to(dtype) * h.to(dtype)

    def inverse(self, g: Tensor) -> Tensor:
        return 1.0 / g

    def repeat(self, g: Tensor, k: int) -> Tensor:
        return g.repeat_interleave(k, 0)

    def act(self, g: Tensor, x: Tensor, ftype: FieldType, inverse: bool = False) -> Tensor:
        self.check_acts_on("input", ftype)
        if ftype not in (FieldType.NODE_VECTOR, FieldType.POSITION):
            return x
        with full_precision(x.device):
            dtype = element_dtype(x, g)
            s = g.to(dtype).view((g.shape[0],) + (1,) * (x.dim() - 1))
            xf = x.to(dtype)
            out = xf / s if inverse else xf * s
        return out.to(x.dtype)


register_group("Scale")(Scale)
