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
from lps.groups.base import Group, full_precision


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
) -> Tensor:
    """(m, d, d) Haar-distributed orthogonal matrices: QR of a Gaussian with the sign fix.

    With ``special`` the first column of each det -1 sample is negated, a measure-preserving
    map onto SO(d).
    """
    with full_precision(torch.device(device)):
        gauss = torch.randn(m, d, d, device=device, generator=generator)
        return qr_haar(gauss, special)


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
        types = {FieldType.INVARIANT, FieldType.NODE, FieldType.PAIR, FieldType.NODE_VECTOR}
        types.add(FieldType.POSITION)
        self.acts_on = frozenset(types)

    def identity(self, m, num_nodes=None, device="cpu") -> Rigid:
        eye = torch.eye(self.d, device=device).expand(m, self.d, self.d).contiguous()
        t = torch.zeros(m, self.d, device=device) if self.translations else None
        return Rigid(eye, t)

    def haar(self, m, num_nodes=None, mask=None, device="cpu", generator=None) -> Rigid:
        if mask is not None:
            device = mask.device
        rot = haar_orthogonal(m, self.d, self.special, device, generator)
        t = torch.zeros(m, self.d, device=device) if self.translations else None
        return Rigid(rot, t)

    def random_element(self, m, num_nodes=None, mask=None, device="cpu", generator=None) -> Rigid:
        g = self.haar(m, num_nodes, mask, device, generator)
        if self.translations:
            g.translation = torch.randn(m, self.d, device=g.matrix.device, generator=generator)
        return g

    def compose(self, g: Rigid, h: Rigid) -> Rigid:
        with full_precision(g.matrix.device):
            rot = g.matrix @ h.matrix
            t = None
            if g.translation is not None or h.translation is not None:
                tg = g.translation if g.translation is not None else 0.0
                th = h.translation if h.translation is not None else torch.zeros_like(rot[:, 0])
                t = (g.matrix @ th.unsqueeze(-1)).squeeze(-1) + tg
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
            xf = x.float()
            rot = g.matrix.float()
            # Row vectors: R v is v @ R^T. Broadcast R over every axis between M and d.
            view = (rot.shape[0],) + (1,) * (x.dim() - 2) + (self.d, self.d)
            translate = ftype == FieldType.POSITION and g.translation is not None
            t = g.translation.float().view(view[:-1]) if translate else None
            if inverse:
                if t is not None:
                    xf = xf - t
                out = (xf.unsqueeze(-2) @ rot.view(view)).squeeze(-2)
            else:
                out = (xf.unsqueeze(-2) @ rot.transpose(1, 2).view(view)).squeeze(-2)
                if t is not None:
                    out = out + t
        return out.to(x.dtype)


def gram_schmidt(vectors: Tensor, special: bool = False, eps: float = 1e-6) -> Tensor:
    """Orthonormalise the columns of ``vectors`` (M, d, d) in order, in fp32 (fp64 if given).

    Column ``i`` of the result is ``v_i`` minus its projections on the earlier columns,
    normalised. A column that is (near) zero or dependent on the earlier ones, as happens for
    coincident or collinear points, is replaced by the standard basis vector that keeps the
    largest norm after the same projection, so the result is always orthogonal. With
    ``special`` the last column is negated where needed so that det = +1.
    """
    with full_precision(vectors.device):
        v = vectors if vectors.dtype == torch.float64 else vectors.float()
        d = v.shape[-1]
        eye = torch.eye(d, device=v.device, dtype=v.dtype).expand_as(v)
        scale = v.norm(dim=(-2, -1), keepdim=True).squeeze(-1).clamp_min(1.0)  # (M, 1)
        cols: list[Tensor] = []
        for i in range(d):
            u = v[..., i]
            cand = eye  # (M, d, d): candidate fallbacks, one per column
            # Project twice ("twice is enough"): one pass leaves components of size
            # eps * |v_i| along earlier columns, which dominate after normalising a nearly
            # dependent column (orthogonality errors up to 1e-1 for ill-conditioned inputs).
            for _ in range(2):
                for q in cols:
                    u = u - (u * q).sum(-1, keepdim=True) * q
            for q in cols:
                cand = cand - q.unsqueeze(-1) * (q.unsqueeze(-2) @ cand)
            norm = u.norm(dim=-1, keepdim=True)
            cand_norm = cand.norm(dim=-2)  # (M, d)
            best = cand_norm.argmax(-1)
            fallback = torch.gather(cand, 2, best.view(-1, 1, 1).expand(-1, d, 1)).squeeze(-1)
            fallback = fallback / torch.gather(cand_norm, 1, best.view(-1, 1)).clamp_min(1e-12)
            ok = norm > eps * scale
            u = torch.where(ok, u / norm.clamp_min(1e-30), fallback)
            cols.append(u)
        q = torch.stack(cols, dim=-1)
        if special:
            sign = torch.where(torch.linalg.det(q) < 0, -1.0, 1.0)
            q = torch.cat([q[..., :-1], q[..., -1:] * sign.view(-1, 1, 1)], dim=-1)
        return q
