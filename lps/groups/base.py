"""The interface every group implements. Elements are batched: one per row ``M``."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from lps.fields import FieldType

#: The field types of graphs and point clouds (all but images): what S_n, O(d)-type groups,
#: their axis subgroups, Scale and T(d) act on.
POINT_CLOUD_FIELDS = frozenset(
    {
        FieldType.INVARIANT,
        FieldType.NODE,
        FieldType.PAIR,
        FieldType.NODE_VECTOR,
        FieldType.POSITION,
    }
)


@contextlib.contextmanager
def full_precision(device: torch.device):
    """Switch autocast off so that group math (sort, QR, eigh, Gram-Schmidt) runs in fp32."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def element_dtype(*tensors: Tensor | None) -> torch.dtype:
    """The precision of group math for these tensors: float64 if any is float64, else fp32
    (never lower: bf16/fp16 fields are acted on in fp32 and cast back)."""
    if any(t is not None and t.dtype == torch.float64 for t in tensors):
        return torch.float64
    return torch.float32


@dataclass
class Example:
    """Small random inputs for a group, for tests and the audit (``lps check``).

    ``fields`` (each (B, ...)) with their ``types``, the node ``mask`` (B, N) or None, and
    the outputs a test model should produce: ``out_shapes`` (per example, without B) and
    ``out_types``.
    """

    fields: dict[str, Tensor]
    types: dict[str, FieldType]
    mask: Tensor | None = None
    out_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    out_types: dict[str, FieldType] = field(default_factory=dict)


class Group(ABC):
    """A symmetry group: element storage, composition, Haar sampling and the field actions.

    Elements hold a leading batch axis ``M`` (one element per copy of the input). Every
    method is pure tensor code without ``nn.Module`` state.

    Samplers and tests never ask which concrete class a group is. They ask the group:
    its ``kind`` and :attr:`factors`, its factor of a kind (:meth:`factor`), how to split an
    element into the factors' elements and join them back (:meth:`split`, :meth:`join`),
    how it relabels a flat edge list (:meth:`relabel_edges`), and example inputs
    (:meth:`example`).
    """

    #: Name used in configs and tables, e.g. ``"S_n x E(3)"``.
    name: str
    #: Field types the group acts on non-trivially or trivially; anything else is an error.
    acts_on: frozenset[FieldType]
    #: What kind of group this is, e.g. ``"permutation"``, ``"rigid"``; samplers dispatch on
    #: it (a product's kind joins its factors': ``"permutation x rigid"``).
    kind: str = ""
    #: The axes of a field the group moves (``"nodes"``, ``"space"``, ``"plane"``): factors
    #: that move disjoint axes commute, so they can form a :class:`~lps.groups.Product`.
    moves: frozenset[str] = frozenset()
    #: Exact actions (float precision); False for resampling actions, whose equivariance
    #: holds only up to ``tolerance`` (see ``note``).
    exact: bool = True
    tolerance: float | None = None
    note: str = ""
    #: False for a group without a Haar probability measure (``Scale``): its :meth:`haar` is
    #: then a documented sampling range (for regularizers), and the ``haar`` sampler refuses it.
    compact: bool = True

    @property
    def factors(self) -> tuple[Group, ...]:
        """The direct factors (``(self,)`` for a group that is not a product)."""
        return (self,)

    def factor(self, kind: str) -> Group | None:
        """The factor of ``kind`` (``"permutation"``, ``"rigid"``, ...), or None."""
        return next((f for f in self.factors if f.kind == kind), None)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of the factors, in order."""
        return tuple(f.kind for f in self.factors)

    def split(self, g: Any) -> dict[str, Any]:
        """``{factor kind: that factor's element}`` of a batch of elements."""
        return {self.kind: g}

    def join(self, parts: dict[str, Any]) -> Any:
        """The element made of the factors' elements ``{kind: element}`` (inverse of split)."""
        return parts[self.kind]

    def commutes_with(self, other: Group) -> bool:
        """True when every action of ``self`` commutes with every action of ``other``.

        A :class:`~lps.groups.Product` accepts two factors when either says so (commuting is
        symmetric), so a new group can declare that it commutes with an existing one.
        """
        return not (self.moves & other.moves)

    def relabel_edges(self, h: Any, edge_index: Tensor, num_nodes: int) -> Tensor:
        """Flat edges (``b * N + i``, (2, E)) of ``h . x``; unchanged unless nodes move."""
        return edge_index

    def example(self, batch: int = 4, num_nodes: int = 7, seed: int = 0) -> Example:
        """Small random inputs this group acts on (see :class:`Example`)."""
        raise NotImplementedError(f"{self.name}: no example inputs defined")

    @abstractmethod
    def identity(self, m: int, num_nodes: int | None, device: torch.device) -> Any:
        """``m`` identity elements."""

    @abstractmethod
    def haar(
        self,
        m: int,
        num_nodes: int | None = None,
        mask: Tensor | None = None,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Any:
        """``m`` elements from the Haar (uniform) distribution of the compact part.

        Continuous elements are stored in ``dtype`` (fp32, or float64 for float64 fields).

        For groups with translations the translation is zero; use :meth:`random_element`
        for test transformations that also translate.
        """

    def random_element(
        self,
        m: int,
        num_nodes: int | None = None,
        mask: Tensor | None = None,
        device: torch.device | str = "cpu",
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Any:
        """A random element for equivariance tests (Haar, plus a translation where one exists)."""
        return self.haar(m, num_nodes, mask, device, generator, dtype)

    @abstractmethod
    def compose(self, g: Any, h: Any) -> Any:
        """The product ``g h`` (apply ``h`` first)."""

    @abstractmethod
    def inverse(self, g: Any) -> Any:
        """The inverse element ``g^-1``."""

    @abstractmethod
    def act(self, g: Any, x: Tensor, ftype: FieldType, inverse: bool = False) -> Tensor:
        """Apply ``g`` (or ``g^-1`` when ``inverse``) to a field ``x`` of type ``ftype``.

        ``x`` has the element batch ``M`` as its leading axis.
        """

    @abstractmethod
    def repeat(self, g: Any, k: int) -> Any:
        """Repeat each element ``k`` times along the batch axis (``repeat_interleave``)."""

    def check_acts_on(self, name: str, ftype: FieldType) -> None:
        """Raise a ``ValueError`` naming the field if this group cannot act on its type."""
        if ftype not in self.acts_on:
            valid = ", ".join(sorted(f.value for f in self.acts_on))
            raise ValueError(
                f"field {name!r}: group {self.name} cannot act on field type {ftype.value!r}; "
                f"it acts on {valid}"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
