"""Declared representations of O(3) x Scale: sums of blocks with multiplicities.

A block is either an O(3) irrep (an e3nn :class:`~e3nn.o3.Irrep`, such as ``0e``, ``1o``,
``2e``) or a cartesian tensor ``T<k>`` of rank k (dimension 3^k, ``g . t = R^{(x)k} t``, in
the x, y, z basis of the data). Each block also has a **degree** under the positive scalings
``x -> s x``: it is multiplied by ``s^degree``. Written as text::

    "5xT0 + 5xT1"                   # 5 scalars (degree 0) and 5 vectors (degree 1)
    "16x0e + 8x1o + 4x0e@2 + 4x2e@2"  # irreps; "@k" sets the degree (default 0)
    "1xT2"                          # a rank-2 cartesian tensor, 9 numbers, degree 2

A cartesian ``T<k>`` has degree k unless written ``T<k>@d``; an irrep has degree 0 unless
written ``<irrep>@d``. Rank-2 = ``0e + 1e + 2e`` in irreps: the projectors find the change
of basis themselves (the equivariant maps between a ``T2`` and ``2e`` form a 1-d space).

A group element acts through the 3x3 matrix it applies to a vector (its action on a
``node_vector`` field): ``A = s R`` with ``s = |det A|^(1/3)`` and ``R`` orthogonal, so any
subgroup of O(3) x Scale written with the :class:`~lps.groups.Group` interface works.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from e3nn import o3
from torch import Tensor

from lps.fields import FieldType
from lps.groups import Group

__all__ = [
    "Block",
    "Rep",
    "element_matrices",
    "group_matrices",
    "irrep_matrix",
    "rep_matrix",
]

_BLOCK = re.compile(r"^(?:(\d+)\s*x\s*)?(T\d|\d+[eo])(?:@(-?\d+))?$")


@dataclass(frozen=True)
class Block:
    """One block type: a cartesian tensor of ``rank`` (``irrep`` None) or an irrep, with
    its ``degree`` under scaling."""

    irrep: str | None
    rank: int
    degree: int

    @property
    def dim(self) -> int:
        return 3**self.rank if self.irrep is None else o3.Irrep(self.irrep).dim

    @property
    def is_trivial(self) -> bool:
        """True for the invariant scalar (``0e`` or ``T0``, degree 0)."""
        return self.degree == 0 and (self.irrep == "0e" or (self.irrep is None and not self.rank))

    def __str__(self) -> str:
        name = f"T{self.rank}" if self.irrep is None else self.irrep
        default = self.rank if self.irrep is None else 0
        return name if self.degree == default else f"{name}@{self.degree}"

    def matrix(self, scale: Tensor, rot: Tensor) -> Tensor:
        """(M, dim, dim): this block's representation of ``s R`` (``scale`` (M,), ``rot``
        (M, 3, 3) orthogonal)."""
        factor = scale.pow(self.degree)[:, None, None]
        if self.irrep is not None:
            return factor * irrep_matrix(self.irrep, rot)
        out = torch.ones(rot.shape[0], 1, 1, dtype=rot.dtype, device=rot.device)
        for _ in range(self.rank):
            out = torch.einsum("mab,mij->maibj", out, rot).reshape(
                rot.shape[0], out.shape[1] * 3, out.shape[2] * 3
            )
        return factor * out


def _l2_basis(dtype: torch.dtype) -> Tensor:
    """(5, 9): e3nn's l=2 basis inside 1 (x) 1 (rows orthonormal), from ``wigner_3j``."""
    q = o3.wigner_3j(1, 1, 2, dtype=torch.float64).reshape(9, 5).T
    return (q / q.norm(dim=1, keepdim=True)).to(dtype)


def irrep_matrix(irrep: str, mat: Tensor) -> Tensor:
    """(M, 2l+1, 2l+1) e3nn's representation of orthogonal ``mat`` (M, 3, 3), l <= 2.

    Built from ``R`` itself (e3nn's l=1 basis is x, y, z) and ``wigner_3j`` (l=2), exact to
    float precision; e3nn's ``D_from_matrix`` goes through Euler angles and loses 7 digits,
    too many for a null space.
    """
    ir = o3.Irrep(irrep)
    det = torch.linalg.det(mat).sign()
    rot = det[:, None, None] * mat  # the proper part
    sign = torch.where(det < 0, float(ir.p), 1.0).to(mat.dtype)[:, None, None]
    if ir.l == 0:
        d = torch.ones(mat.shape[0], 1, 1, dtype=mat.dtype, device=mat.device)
    elif ir.l == 1:
        d = rot
    elif ir.l == 2:
        q = _l2_basis(mat.dtype).to(mat.device)
        kron = torch.einsum("mab,mij->maibj", rot, rot).reshape(-1, 9, 9)
        d = q @ kron @ q.T
    else:
        raise ValueError(f"irrep {irrep}: only l <= 2 is supported (scalars to rank 2)")
    return sign * d


class Rep:
    """A sum of blocks with multiplicities, laid out copy-major (e3nn's layout): block
    ``(mul, b)`` occupies ``mul * b.dim`` entries, copy after copy."""

    def __init__(self, blocks: list[tuple[int, Block]] | str | Rep):
        if isinstance(blocks, Rep):
            blocks = blocks.blocks
        if isinstance(blocks, str):
            blocks = self._parse(blocks)
        for mul, b in blocks:
            if not isinstance(mul, int) or mul < 1 or not isinstance(b, Block):
                raise ValueError(f"Rep: expected (multiplicity >= 1, Block) pairs, got {blocks}")
        self.blocks: list[tuple[int, Block]] = list(blocks)

    @staticmethod
    def _parse(text: str) -> list[tuple[int, Block]]:
        out = []
        for part in (p.strip() for p in text.split("+")):
            m = _BLOCK.match(part.replace(" ", ""))
            if m is None:
                raise ValueError(
                    f"Rep {text!r}: cannot read {part!r}; expected '<mul>x<block>[@degree]' "
                    "with block T0, T1, T2 (cartesian) or an irrep such as 0e, 1o, 2e"
                )
            mul, name, deg = int(m.group(1) or 1), m.group(2), m.group(3)
            if name.startswith("T"):
                rank = int(name[1:])
                if rank > 2:
                    raise ValueError(f"Rep {text!r}: cartesian tensors up to rank 2 (T0-T2)")
                block = Block(None, rank, rank if deg is None else int(deg))
            else:
                irrep = str(o3.Irrep(name))
                if o3.Irrep(name).l > 2:
                    raise ValueError(f"Rep {text!r}: irreps up to l = 2 are supported")
                block = Block(irrep, o3.Irrep(name).l, 0 if deg is None else int(deg))
            out.append((mul, block))
        return out

    @property
    def dim(self) -> int:
        return sum(mul * b.dim for mul, b in self.blocks)

    def slices(self) -> list[tuple[slice, int, Block]]:
        """``(slice, mul, block)`` of every block in the flat layout."""
        out, start = [], 0
        for mul, b in self.blocks:
            out.append((slice(start, start + mul * b.dim), mul, b))
            start += mul * b.dim
        return out

    @property
    def irreps(self) -> o3.Irreps:
        """The e3nn ``Irreps`` (every block must be an irrep)."""
        if any(b.irrep is None for _, b in self.blocks):
            raise ValueError(f"Rep {self}: cartesian blocks have no e3nn Irreps; use irreps")
        return o3.Irreps([(mul, b.irrep) for mul, b in self.blocks])

    def __add__(self, other: Rep) -> Rep:
        return Rep(self.blocks + Rep(other).blocks)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rep) and self.blocks == other.blocks

    def __hash__(self) -> int:
        return hash(tuple(self.blocks))

    def __str__(self) -> str:
        return " + ".join(f"{mul}x{b}" for mul, b in self.blocks)

    def __repr__(self) -> str:
        return f"Rep({str(self)!r})"


def rep_matrix(rep: Rep, scale: Tensor, rot: Tensor) -> Tensor:
    """(M, dim, dim): the block-diagonal representation of ``s R`` on ``rep``."""
    out = torch.zeros(rot.shape[0], rep.dim, rep.dim, dtype=rot.dtype, device=rot.device)
    for sl, mul, b in rep.slices():
        d = b.matrix(scale, rot)
        for c in range(mul):
            lo = sl.start + c * b.dim
            out[:, lo : lo + b.dim, lo : lo + b.dim] = d
    return out


def element_matrices(group: Group, g: Any, m: int, dtype=torch.float64) -> tuple[Tensor, Tensor]:
    """``(s (M,), R (M, 3, 3))`` of elements ``g`` from the matrix they apply to 3-d vectors.

    Raises a ``ValueError`` when the group does not act on vectors, or not by a rotation
    times a positive scale (a candidate group must be a subgroup of O(3) x Scale).
    """
    if FieldType.NODE_VECTOR not in group.acts_on:
        raise ValueError(
            f"candidate group {group.name} does not act on 3-d vectors (node_vector fields), "
            "so not on the declared O(3) representations"
        )
    eye = torch.eye(3, dtype=dtype).expand(m, 1, 3, 3).contiguous()
    try:
        moved = group.act(g, eye, FieldType.NODE_VECTOR)
    except (RuntimeError, ValueError, IndexError) as err:
        raise ValueError(f"candidate group {group.name} cannot act on 3-d vectors: {err}") from err
    a = moved[:, 0].to(dtype).transpose(-1, -2)  # column c is g . e_c
    scale = torch.linalg.det(a).abs().pow(1.0 / 3.0)
    rot = a / scale.clamp_min(1e-300)[:, None, None]
    eye3 = torch.eye(3, dtype=dtype)
    if not bool(torch.allclose(rot.transpose(-1, -2) @ rot, eye3.expand_as(rot), atol=1e-5)):
        raise ValueError(
            f"candidate group {group.name} does not act on 3-d vectors by a rotation times a "
            "positive scale; candidate groups must be subgroups of O(3) x Scale"
        )
    return scale, rot


_MATRICES: dict[tuple[str, int, int], tuple[Tensor, Tensor]] = {}


def group_matrices(group: Group | str, m: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``m`` Haar elements of a group as ``(s, R)`` in float64, drawn with ``seed``; cached
    by the group's name."""
    from lps.groups import get_group

    group = get_group(group)
    key = (group.name, m, seed)
    if key not in _MATRICES:
        gen = torch.Generator().manual_seed(seed)
        g = group.haar(m, num_nodes=1, generator=gen, dtype=torch.float64)
        _MATRICES[key] = element_matrices(group, g, m)
    return _MATRICES[key]
