"""Direct products S_n x O(d) / SO(d) / E(d) / SE(d): both factors act independently."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from lps.fields import FieldType
from lps.groups.base import Group
from lps.groups.orthogonal import Orthogonal, Rigid
from lps.groups.permutation import Perm, Permutation


@dataclass
class PermRigid:
    """A batch of product elements: a permutation and a rigid motion, each of batch M."""

    perm: Perm
    rigid: Rigid


class Product(Group):
    """S_n x G for G one of O(d), SO(d), E(d), SE(d)."""

    def __init__(self, perm: Permutation, rigid: Orthogonal):
        self.perm_group = perm
        self.rigid_group = rigid
        self.name = f"{perm.name} x {rigid.name}"
        self.acts_on = perm.acts_on & rigid.acts_on

    @property
    def d(self) -> int:
        return self.rigid_group.d

    @property
    def translations(self) -> bool:
        return self.rigid_group.translations

    def identity(self, m, num_nodes=None, device="cpu") -> PermRigid:
        return PermRigid(
            self.perm_group.identity(m, num_nodes, device),
            self.rigid_group.identity(m, num_nodes, device),
        )

    def haar(self, m, num_nodes=None, mask=None, device="cpu", generator=None) -> PermRigid:
        return PermRigid(
            self.perm_group.haar(m, num_nodes, mask, device, generator),
            self.rigid_group.haar(m, num_nodes, mask, device, generator),
        )

    def random_element(self, m, num_nodes=None, mask=None, device="cpu", generator=None):
        return PermRigid(
            self.perm_group.random_element(m, num_nodes, mask, device, generator),
            self.rigid_group.random_element(m, num_nodes, mask, device, generator),
        )

    def compose(self, g: PermRigid, h: PermRigid) -> PermRigid:
        return PermRigid(
            self.perm_group.compose(g.perm, h.perm), self.rigid_group.compose(g.rigid, h.rigid)
        )

    def inverse(self, g: PermRigid) -> PermRigid:
        return PermRigid(self.perm_group.inverse(g.perm), self.rigid_group.inverse(g.rigid))

    def repeat(self, g: PermRigid, k: int) -> PermRigid:
        return PermRigid(self.perm_group.repeat(g.perm, k), self.rigid_group.repeat(g.rigid, k))

    def act(self, g: PermRigid, x: Tensor, ftype: FieldType, inverse: bool = False) -> Tensor:
        self.check_acts_on("input", ftype)
        # The factors commute on every field type, so the order only matters for rounding.
        out = self.perm_group.act(g.perm, x, ftype, inverse)
        return self.rigid_group.act(g.rigid, out, ftype, inverse)
