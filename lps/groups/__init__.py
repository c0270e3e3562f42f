"""Group math: element storage, composition, Haar sampling, and actions on fields."""

from __future__ import annotations

import re

from lps.groups.base import Group, full_precision
from lps.groups.image import Angle, ImageRotation
from lps.groups.orthogonal import (
    Orthogonal,
    Rigid,
    fix_determinant,
    gram_schmidt,
    haar_orthogonal,
    masked_centroid,
    qr_haar,
)
from lps.groups.permutation import Perm, Permutation
from lps.groups.product import PermRigid, Product

__all__ = [
    "Angle",
    "Group",
    "ImageRotation",
    "Orthogonal",
    "Perm",
    "PermRigid",
    "Permutation",
    "Product",
    "Rigid",
    "fix_determinant",
    "gram_schmidt",
    "full_precision",
    "get_group",
    "haar_orthogonal",
    "masked_centroid",
    "qr_haar",
    "GROUP_NAMES",
]

#: Examples of valid names; any d >= 2 works for the rigid groups.
GROUP_NAMES = (
    "S_n",
    "O(3)",
    "SO(3)",
    "E(3)",
    "SE(3)",
    "S_n x O(3)",
    "S_n x SO(3)",
    "S_n x E(3)",
    "S_n x SE(3)",
    "C4",
    "image-SO(2)",
)

_RIGID = re.compile(r"^(S?)([OE])\((\d+)\)$")


def _rigid(name: str) -> Orthogonal | None:
    m = _RIGID.match(name)
    if m is None:
        return None
    return Orthogonal(int(m.group(3)), special=m.group(1) == "S", translations=m.group(2) == "E")


def get_group(name: str | Group) -> Group:
    """Build a group from its name, e.g. ``"S_n"``, ``"SO(3)"``, ``"S_n x E(3)"``, ``"C4"``."""
    if isinstance(name, Group):
        return name
    key = str(name).replace(" ", "")
    if key in ("S_n", "Sn"):
        return Permutation()
    if key == "C4":
        return ImageRotation(4)
    if key == "image-SO(2)":
        return ImageRotation(None)
    rigid = _rigid(key)
    if rigid is not None:
        return rigid
    for sep in ("x", "×"):
        if key.startswith(("S_n" + sep, "Sn" + sep)):
            rigid = _rigid(key.split(sep, 1)[1])
            if rigid is not None:
                return Product(Permutation(), rigid)
    raise ValueError(
        f"unknown group {name!r}; expected one of {', '.join(GROUP_NAMES)} "
        "(any dimension d >= 2 for O(d), SO(d), E(d), SE(d))"
    )
