"""Direct products of groups whose actions commute, e.g. S_n x O(3) or S_n x E(3).

An element is a :class:`ProductElement`: one element per factor, each of batch ``M``. The
factors must move disjoint axes of a field (nodes, space, image plane) or otherwise say that
they commute (:meth:`~lps.groups.base.Group.commutes_with`), so the order of their actions
only matters for rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from lps.fields import FieldType
from lps.groups.base import Example, Group


@dataclass
class ProductElement:
    """A batch of product elements: ``parts[i]`` is the element of factor ``i`` (batch M)."""

    parts: tuple

    def part(self, cls: type) -> Any:
        """The part of element class ``cls`` (e.g. ``Perm``), or None."""
        return next((p for p in self.parts if isinstance(p, cls)), None)

    @property
    def perm(self) -> Any:
        """The permutation part (:class:`~lps.groups.permutation.Perm`), or None."""
        from lps.groups.permutation import Perm

        return self.part(Perm)

    @property
    def rigid(self) -> Any:
        """The rotation part (:class:`~lps.groups.orthogonal.Rigid`), or None."""
        from lps.groups.orthogonal import Rigid

        return self.part(Rigid)


def PermRigid(perm: Any, rigid: Any) -> ProductElement:  # noqa: N802 (kept for old callers)
    """The element of S_n x O(d)-type products made of a permutation and a rigid motion."""
    return ProductElement((perm, rigid))


class Product(Group):
    """G_1 x ... x G_m for factors whose actions commute (e.g. ``Product(S_n, O(3))``)."""

    def __init__(self, *factors: Group):
        if len(factors) < 2:
            raise ValueError(f"Product: needs at least two factors, got {len(factors)}")
        flat: list[Group] = []
        for f in factors:
            if not isinstance(f, Group):
                raise TypeError(f"Product: factors must be groups, got {type(f).__name__}")
            flat.extend(f.factors)
        kinds = [f.kind for f in flat]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"Product: two factors of the same kind in {[f.name for f in flat]}")
        for i, a in enumerate(flat):
            for b in flat[i + 1 :]:
                if not (a.commutes_with(b) or b.commutes_with(a)):
                    raise ValueError(
                        f"Product: {a.name} and {b.name} do not commute (both move "
                        f"{sorted(a.moves & b.moves)}); a direct product needs commuting factors"
                    )
        shared = frozenset.intersection(*(f.acts_on for f in flat)) - {FieldType.INVARIANT}
        if not shared:
            raise ValueError(
                f"Product: {[f.name for f in flat]} have no field type in common that they act "
                "on (besides invariants)"
            )
        self._factors = tuple(flat)
        self.name = " x ".join(f.name for f in flat)
        self.kind = " x ".join(kinds)
        self.moves = frozenset().union(*(f.moves for f in flat))
        self.acts_on = frozenset.intersection(*(f.acts_on for f in flat))
        self.exact = all(f.exact for f in flat)
        self.compact = all(f.compact for f in flat)
        tols = [f.tolerance for f in flat if f.tolerance is not None]
        self.tolerance = max(tols) if tols else None
        self.note = "; ".join(f.note for f in flat if f.note)

    @property
    def factors(self) -> tuple[Group, ...]:
        return self._factors

    # Old attribute names of S_n x O(d)-type products.
    @property
    def perm_group(self) -> Group | None:
        return self.factor("permutation")

    @property
    def rigid_group(self) -> Group | None:
        return self.factor("rigid")

    @property
    def d(self) -> int:
        rigid = self.factor("rigid")
        if rigid is None:
            raise AttributeError(f"{self.name} has no rigid factor, so no dimension d")
        return rigid.d

    @property
    def translations(self) -> bool:
        rigid = self.factor("rigid")
        return bool(rigid is not None and rigid.translations)

    def _each(self, fn, *elements) -> ProductElement:
        return ProductElement(
            tuple(fn(f, *(e.parts[i] for e in elements)) for i, f in enumerate(self._factors))
        )

    def split(self, g: ProductElement) -> dict[str, Any]:
        return {f.kind: p for f, p in zip(self._factors, g.parts)}

    def join(self, parts: dict[str, Any]) -> ProductElement:
        return ProductElement(tuple(parts[f.kind] for f in self._factors))

    def identity(self, m, num_nodes=None, device="cpu") -> ProductElement:
        return ProductElement(tuple(f.identity(m, num_nodes, device) for f in self._factors))

    def haar(
        self, m, num_nodes=None, mask=None, device="cpu", generator=None, dtype=torch.float32
    ) -> ProductElement:
        return ProductElement(
            tuple(f.haar(m, num_nodes, mask, device, generator, dtype) for f in self._factors)
        )

    def random_element(
        self, m, num_nodes=None, mask=None, device="cpu", generator=None, dtype=torch.float32
    ) -> ProductElement:
        return ProductElement(
            tuple(
                f.random_element(m, num_nodes, mask, device, generator, dtype)
                for f in self._factors
            )
        )

    def compose(self, g: ProductElement, h: ProductElement) -> ProductElement:
        return self._each(lambda f, a, b: f.compose(a, b), g, h)

    def inverse(self, g: ProductElement) -> ProductElement:
        return self._each(lambda f, a: f.inverse(a), g)

    def repeat(self, g: ProductElement, k: int) -> ProductElement:
        return self._each(lambda f, a: f.repeat(a, k), g)

    def act(self, g: ProductElement, x: Tensor, ftype: FieldType, inverse: bool = False) -> Tensor:
        self.check_acts_on("input", ftype)
        for f, part in zip(self._factors, g.parts):
            x = f.act(part, x, ftype, inverse)
        return x

    def relabel_edges(self, h: ProductElement, edge_index: Tensor, num_nodes: int) -> Tensor:
        for f, part in zip(self._factors, h.parts):
            edge_index = f.relabel_edges(part, edge_index, num_nodes)
        return edge_index

    def example(self, batch: int = 4, num_nodes: int = 7, seed: int = 0) -> Example:
        """The factors' examples merged (the first factor's field wins a shared name); with a
        node mask, padding rows of every node field are zeroed."""
        out = Example({}, {})
        for f in self._factors:
            ex = f.example(batch, num_nodes, seed)
            for name, x in ex.fields.items():
                if name not in out.fields and ex.types[name] in self.acts_on:
                    out.fields[name], out.types[name] = x, ex.types[name]
            for name, shape in ex.out_shapes.items():
                if name not in out.out_shapes and ex.out_types[name] in self.acts_on:
                    out.out_shapes[name], out.out_types[name] = shape, ex.out_types[name]
            if out.mask is None:
                out.mask = ex.mask
        if out.mask is not None:
            for name, x in out.fields.items():
                if out.types[name] == FieldType.PAIR:
                    x = x * (out.mask[:, :, None] & out.mask[:, None, :]).view(*x.shape[:3], 1)
                elif out.types[name] != FieldType.INVARIANT and out.types[name] != FieldType.IMAGE:
                    shape = out.mask.shape + (1,) * (x.dim() - 2)
                    x = x * out.mask.view(shape)
                out.fields[name] = x
        return out
