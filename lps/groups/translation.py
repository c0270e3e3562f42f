"""``T(d)``: the translations ``x -> x + t`` of d-dimensional space (``"T(1)"`` for 1-D inputs).

An element is a tensor ``t`` (M, d). It moves positions; invariants, node and pair
features and node vectors (differences of points) are untouched. Translations commute with
permutations (``"S_n x T(2)"``) but not with rotations or scalings.

``T(d)`` is not compact: it has no Haar (uniform) probability measure, so the ``haar``
sampler refuses it. Its :meth:`Translation.haar` is a *sampling range* for tests and
regularizers, ``t ~ U(-r, r)^d`` with ``r = max_shift`` (default 1). Exact symmetrization
uses the frame (the masked centroid, :mod:`lps.samplers.frame_translation`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from lps.fields import FieldType
from lps.groups import register_group
from lps.groups.base import POINT_CLOUD_FIELDS, Example, Group, element_dtype, full_precision


class Translation(Group):
    """Translations of d-space; elements ``t`` (M, d), float32 or float64.

    Args:
        d: the dimension of space (positions are (B, N, d)).
        max_shift: half-width ``r`` of the sampling range of :meth:`haar`, ``t ~ U(-r, r)^d``.
    """

    compact = False
    note = "not compact: haar draws t ~ U(-1, 1)^d; exact symmetrization by the centroid frame"

    def __init__(self, d: int = 1, max_shift: float = 1.0):
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ValueError(f"T(d): d must be a positive integer, got {d!r}")
        if not (isinstance(max_shift, (int, float)) and max_shift > 0):
            raise ValueError(f"T(d): max_shift must be a positive number, got {max_shift!r}")
        self.d = d
        self.max_shift = float(max_shift)
        self.name = f"T({d})"
        self.kind = "translation"
        self.moves = frozenset({"space"})
        self.acts_on = POINT_CLOUD_FIELDS

    def identity(self, m, num_nodes=None, device="cpu") -> Tensor:
        return torch.zeros(m, self.d, device=device)

    def haar(
        self, m, num_nodes=None, mask=None, device="cpu", generator=None, dtype=torch.float32
    ) -> Tensor:
        """(m, d) shifts ``U(-max_shift, max_shift)^d``: a sampling range, not a Haar measure
        (there is none). Drawn in fp32, so the stream is the same for fp32 and float64."""
        if mask is not None:
            device = mask.device
        u = torch.rand(m, self.d, device=device, generator=generator).to(dtype)
        return self.max_shift * (2.0 * u - 1.0)

    def example(self, batch: int = 4, num_nodes: int = 7, seed: int = 0) -> Example:
        """Node features ``x`` (B, N, 2) and positions ``pos`` (B, N, d); outputs a graph, a
        node and a position field."""
        gen = torch.Generator().manual_seed(seed)
        n, d = num_nodes, self.d
        fields = {
            "x": torch.randn(batch, n, 2, generator=gen),
            "pos": torch.randn(batch, n, d, generator=gen),
        }
        types = {"x": FieldType.NODE, "pos": FieldType.POSITION}
        out_types = {
            "graph": FieldType.INVARIANT,
            "node": FieldType.NODE,
            "pos_out": FieldType.POSITION,
        }
        shapes = {"graph": (2,), "node": (n, 2), "pos_out": (n, d)}
        return Example(fields, types, None, shapes, out_types)

    def compose(self, g: Tensor, h: Tensor) -> Tensor:
        dtype = element_dtype(g, h)
        return g.to(dtype) + h.to(dtype)

    def inverse(self, g: Tensor) -> Tensor:
        return -g

    def repeat(self, g: Tensor, k: int) -> Tensor:
        return g.repeat_interleave(k, 0)

    def act(self, g: Tensor, x: Tensor, ftype: FieldType, inverse: bool = False) -> Tensor:
        self.check_acts_on("input", ftype)
        if ftype != FieldType.POSITION:
            return x
        if x.shape[-1] != self.d:
            raise ValueError(
                f"{self.name}: position field has last axis {x.shape[-1]}, expected d={self.d}; "
                f"shape {tuple(x.shape)}, expected (B, N, {self.d})"
            )
        with full_precision(x.device):
            dtype = element_dtype(x, g)
            t = g.to(dtype).view(g.shape[0], *([1] * (x.dim() - 2)), self.d)
            out = x.to(dtype) - t if inverse else x.to(dtype) + t
        return out.to(x.dtype)


register_group("T(d)")(Translation)
