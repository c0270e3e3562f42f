"""O(d), SO(d), E(d) and SE(d) acting on vectors and positions.

An element is a matrix ``R`` (M, d, d) with ``g . v = R v`` and, for the Euclidean groups,
a translation ``t`` (M, d) with ``g . x = R x + t`` on positions (vectors do not translate).
All math runs in fp32, also inside autocast; results are cast back to the field's dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from lps.fields import FieldType
from lps.groups.base import POINT_CLOUD_FIELDS, Example, Group, element_dtype, full_precision


@dataclass
class Rigid:
    """A batch of rotations/reflections ``matrix`` (M, d, d), optional ``translation`` (M, d)."""

    matrix: Tensor
    translation: Tensor | None = None


def haar_orthogonal(
    m: int,
    d: int,
    special: bool = False,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """(m, d, d) Haar-distributed orthogonal matrices: QR of a Gaussian with the sign fix.

    With ``special`` the first column of each det -1 sample is negated, a measure-preserving
    map onto SO(d). ``dtype`` is fp32 or float64 (the random stream is the same for both).
    """
    with full_precision(torch.device(device)):
        gauss = torch.randn(m, d, d, device=device, generator=generator)
        return qr_haar(gauss.to(dtype), special)


def qr_haar(gauss: Tensor, special: bool = False) -> Tensor:
    """Map Gaussian matrices (..., d, d) to Haar orthogonal ones (Mezzadri's sign correction)."""
    q, r = torch.linalg.qr(gauss if gauss.dtype == torch.float64 else gauss.float())
    diag = torch.diagonal(r, dim1=-2, dim2=-1)
    q = q * torch.where(diag < 0, -1.0, 1.0).unsqueeze(-2)
    if special:
        q = fix_determinant(q)
    return q


def fix_determinant(q: Tensor) -> Tensor:
    """Negate the first column of orthogonal matrices (..., d, d) whose determinant is -1."""
    sign = torch.where(torch.linalg.det(q) < 0, -1.0, 1.0)
    flip = torch.ones_like(q[..., 0, :])
    flip[..., 0] = sign
    return q * flip.unsqueeze(-2)


def masked_centroid(pos: Tensor, mask: Tensor | None) -> Tensor:
    """(M, d) mean of the real points of ``pos`` (M, N, d)."""
    if mask is None:
        return pos.mean(1)
    w = mask.to(pos.dtype).unsqueeze(-1)
    return (pos * w).sum(1) / w.sum(1).clamp_min(1.0)


class Orthogonal(Group):
    """O(d) (``special=False``) or SO(d); with ``translations`` E(d) or SE(d)."""

    def __init__(self, d: int = 3, special: bool = False, translations: bool = False):
        if not isinstance(d, int) or d < 2:
            raise ValueError(f"Orthogonal: dimension d must be an integer >= 2, got {d!r}")
        self.d = d
        self.special = special
        self.translations = translations
        prefix = ("S" if special else "") + ("E" if translations else "O")
        self.name = f"{prefix}({d})"
        self.kind = "rigid"
        self.moves = frozenset({"space"})
        self.acts_on = POINT_CLOUD_FIELDS

    def identity(self, m, num_nodes=None, device="cpu") -> Rigid:
        eye = torch.eye(self.d, device=device).expand(m, self.d, self.d).contiguous()
        t = torch.zeros(m, self.d, device=device) if self.translations else None
        return Rigid(eye, t)

    def haar(
        self, m, num_nodes=None, mask=None, device="cpu", generator=None, dtype=torch.float32
    ) -> Rigid:
        if mask is not None:
            device = mask.device
        rot = haar_orthogonal(m, self.d, self.special, device, generator, dtype)
        t = torch.zeros(m, self.d, device=device, dtype=dtype) if self.translations else None
        return Rigid(rot, t)

    def random_element(
        self, m, num_nodes=None, mask=None, device="cpu", generator=None, dtype=torch.float32
    ) -> Rigid:
        g = self.haar(m, num_nodes, mask, device, generator, dtype)
        if self.translations:
            t = torch.randn(m, self.d, device=g.matrix.device, generator=generator)
            g.translation = t.to(dtype)
        return g

    def example(self, batch: int = 4, num_nodes: int = 7, seed: int = 0) -> Example:
        """Node features ``x`` (B, N, 2), positions ``pos`` (B, N, d) and velocities ``vel``
        (B, N, 1, d); outputs a graph, a node and a position field."""
        gen = torch.Generator().manual_seed(seed)
        n, d = num_nodes, self.d
        fields = {
            "x": torch.randn(batch, n, 2, generator=gen),
            "pos": torch.randn(batch, n, d, generator=gen),
            "vel": torch.randn(batch, n, 1, d, generator=gen),
        }
        types = {"x": FieldType.NODE, "pos": FieldType.POSITION, "vel": FieldType.NODE_VECTOR}
        out_types = {
            "graph": FieldType.INVARIANT,
            "node": FieldType.NODE,
            "pos_out": FieldType.POSITION,
        }
        return Example(
            fields, types, None, {"graph": (2,), "node": (n, 2), "pos_out": (n, d)}, out_types
        )

    def compose(self, g: Rigid, h: Rigid) -> Rigid:
        with full_precision(g.matrix.device):
            dtype = element_dtype(g.matrix, h.matrix)
            gm = g.matrix.to(dtype)
            rot = gm @ h.matrix.to(dtype)
            t = None
            if g.translation is not None or h.translation is not None:
                tg = g.translation.to(dtype) if g.translation is not None else 0.0
                th = h.translation if h.translation is not None else torch.zeros_like(rot[:, 0])
                t = (gm @ th.to(dtype).unsqueeze(-1)).squeeze(-1) + tg
            return Rigid(rot, t)

    def inverse(self, g: Rigid) -> Rigid:
        with full_precision(g.matrix.device):  # else autocast makes the translation bf16
            rot = g.matrix.transpose(1, 2)
            t = None
            if g.translation is not None:
                t = -(rot @ g.translation.unsqueeze(-1)).squeeze(-1)
            return Rigid(rot, t)

    def repeat(self, g: Rigid, k: int) -> Rigid:
        t = None if g.translation is None else g.translation.repeat_interleave(k, 0)
        return Rigid(g.matrix.repeat_interleave(k, 0), t)

    def act(self, g: Rigid, x: Tensor, ftype: FieldType, inverse: bool = False) -> Tensor:
        self.check_acts_on("input", ftype)
        if ftype not in (FieldType.NODE_VECTOR, FieldType.POSITION):
            return x
        if x.shape[-1] != self.d:
            raise ValueError(
                f"{self.name}: a {ftype.value} field needs last axis d={self.d}, got shape "
                f"{tuple(x.shape)}"
            )
        with full_precision(x.device):
            dtype = element_dtype(x, g.matrix)
            xf = x.to(dtype)
            rot = g.matrix.to(dtype)
            # Row vectors: R v is v @ R^T. Broadcast R over every axis between M and d.
            view = (rot.shape[0],) + (1,) * (x.dim() - 2) + (self.d, self.d)
            translate = ftype == FieldType.POSITION and g.translation is not None
            t = g.translation.to(dtype).view(view[:-1]) if translate else None
            if inverse:
                if t is not None:
                    xf = xf - t
                out = (xf.unsqueeze(-2) @ rot.view(view)).squeeze(-2)
            else:
                out = (xf.unsqueeze(-2) @ rot.transpose(1, 2).view(view)).squeeze(-2)
                if t is not None:
                    out = out + t
        return out.to(x.dtype)


def gram_schmidt(
    vectors: Tensor, special: bool = False, eps: float = 1e-6, fallback: Tensor | None = None
) -> Tensor:
    """Orthonormalise the columns of ``vectors`` (M, d, d) in order, in fp32 (fp64 if given).

    Column ``i`` of the result is ``v_i`` minus its projections on the earlier columns,
    normalised. A column whose remainder is below ``eps`` times the largest column norm is
    degenerate (coincident or collinear points, a network output of rank < d). The
    threshold is relative, so the result does not depend on the input's units. A degenerate
    column is replaced by the next column of ``fallback`` (M, d, d) projected the same way:
    pass directions that turn with the input (random ones, in the sampler's noise) to keep
    the frame equivariant. Without ``fallback``, or where it is degenerate too, the
    standard basis vector that keeps the largest norm is used (always orthogonal, but a
    fixed axis: not equivariant). With ``special`` the last column is negated where needed
    so that det = +1.
    """
    with full_precision(vectors.device):
        v = vectors if vectors.dtype == torch.float64 else vectors.float()
        d = v.shape[-1]
        eye = torch.eye(d, device=v.device, dtype=v.dtype).expand_as(v)
        scale = v.norm(dim=-2).amax(-1, keepdim=True)  # (M, 1): the largest column norm
        tiny = torch.finfo(v.dtype).tiny
        fill = None if fallback is None else fallback.to(v.dtype)
        used = torch.zeros_like(scale, dtype=torch.long)  # fallback columns used so far
        cols: list[Tensor] = []

        def project(u: Tensor) -> Tensor:
            # Twice ("twice is enough"): one pass leaves components of size eps * |u| along
            # earlier columns, which dominate after normalising a nearly dependent column.
            for _ in range(2):
                for q in cols:
                    u = u - (u * q).sum(-1, keepdim=True) * q
            return u

        for i in range(d):
            u = project(v[..., i])
            norm = u.norm(dim=-1, keepdim=True)
            ok = norm > eps * scale
            cand = eye
            for q in cols:
                cand = cand - q.unsqueeze(-1) * (q.unsqueeze(-2) @ cand)
            cand_norm = cand.norm(dim=-2)  # (M, d)
            best = cand_norm.argmax(-1)
            basis = torch.gather(cand, 2, best.view(-1, 1, 1).expand(-1, d, 1)).squeeze(-1)
            basis = basis / torch.gather(cand_norm, 1, best.view(-1, 1)).clamp_min(tiny)
            repl = basis
            if fill is not None:
                # The first unused fallback column with a usable remainder.
                repl_ok = torch.zeros_like(ok)
                repl = basis
                for j in range(d):
                    f = project(fill[..., j])
                    f_norm = f.norm(dim=-1, keepdim=True)
                    f_scale = fill[..., j].norm(dim=-1, keepdim=True)
                    take = (~repl_ok) & (used <= j) & (f_norm > 1e-3 * f_scale)
                    repl = torch.where(take, f / f_norm.clamp_min(tiny), repl)
                    repl_ok = repl_ok | take
                used = used + (~ok).long()
            u = torch.where(ok, u / norm.clamp_min(tiny), repl)
            cols.append(u)
        q = torch.stack(cols, dim=-1)
        if special:
            sign = torch.where(torch.linalg.det(q) < 0, -1.0, 1.0)
            q = torch.cat([q[..., :-1], q[..., -1:] * sign.view(-1, 1, 1)], dim=-1)
        return q
