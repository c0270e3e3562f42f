"""The interface every group implements. Elements are batched: one per row ``M``."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor

from lps.fields import FieldType


@contextlib.contextmanager
def full_precision(device: torch.device):
    """Switch autocast off so that group math (sort, QR, eigh, Gram-Schmidt) runs in fp32."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


class Group(ABC):
    """A symmetry group: element storage, composition, Haar sampling and the field actions.

    Elements hold a leading batch axis ``M`` (one element per copy of the input). Every
    method is pure tensor code without ``nn.Module`` state.
    """

    #: Name used in configs and tables, e.g. ``"S_n x E(3)"``.
    name: str
    #: Field types the group acts on non-trivially or trivially; anything else is an error.
    acts_on: frozenset[FieldType]

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
    ) -> Any:
        """``m`` elements from the Haar (uniform) distribution of the compact part.

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
    ) -> Any:
        """A random element for equivariance tests (Haar, plus a translation where one exists)."""
        return self.haar(m, num_nodes, mask, device, generator)

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
