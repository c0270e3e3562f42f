"""Group math: element storage, composition, Haar sampling, and actions on fields.

Groups are found by name in a registry (:func:`register_group`, :func:`list_groups`,
:func:`get_group`). A name with ``(d)`` registers a family for every dimension
(``"O(d)"`` serves ``"O(3)"`` and ``"O(5)"``), and ``"A x B"`` is the direct product of the
named groups. Adding a group is one file that defines it and registers its name (imported
below, like :mod:`lps.groups.axis` and :mod:`lps.groups.scale`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lps.groups.base import Example, Group, element_dtype, full_precision
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
from lps.groups.product import PermRigid, Product, ProductElement
from lps.registry import Registry

__all__ = [
    "Angle",
    "AxisSubgroup",
    "Example",
    "GROUPS",
    "GROUP_NAMES",
    "Group",
    "ImageRotation",
    "Orthogonal",
    "Perm",
    "PermRigid",
    "Permutation",
    "Product",
    "ProductElement",
    "Rigid",
    "Scale",
    "Translation",
    "element_dtype",
    "fix_determinant",
    "full_precision",
    "get_group",
    "gram_schmidt",
    "haar_orthogonal",
    "list_groups",
    "masked_centroid",
    "qr_haar",
    "register_group",
]

#: Builders by name; a builder of a family name ``"X(d)"`` takes the dimension ``d``.
GROUPS: Registry[Callable[..., Group]] = Registry("group")


def register_group(name: str, *, overwrite: bool = False):
    """Decorator: register a group builder under ``name`` (``"X(d)"`` for a family in d)."""
    return GROUPS.register(name, overwrite=overwrite)


def list_groups() -> list[str]:
    """The registered group names (families as ``"O(d)"``); products are ``"A x B"``."""
    return GROUPS.names()


register_group("S_n")(Permutation)
register_group("C2")(lambda: ImageRotation(2))
register_group("C4")(lambda: ImageRotation(4))
register_group("C8")(lambda: ImageRotation(8))
register_group("image-SO(2)")(lambda: ImageRotation(None))
register_group("O(d)")(lambda d: Orthogonal(d))
register_group("SO(d)")(lambda d: Orthogonal(d, special=True))
register_group("E(d)")(lambda d: Orthogonal(d, translations=True))
register_group("SE(d)")(lambda d: Orthogonal(d, special=True, translations=True))

# Group files that register their own names (one file per group; import it here).
from lps.groups.axis import AxisSubgroup  # noqa: E402 (needs register_group above)
from lps.groups.scale import Scale  # noqa: E402
from lps.groups.translation import Translation  # noqa: E402

#: Examples of valid names (what ``lps check`` audits); any d >= 2 works for the rigid ones.
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
    "C2",
    "C4",
    "C8",
    "image-SO(2)",
    "O(2)_x",
    "O(2)_y",
    "O(2)_z",
    "SO(2)_z",
    "Scale",
    "SO(3) x Scale",
    "T(1)",
    "T(2)",
)

_PRODUCT = re.compile(r"\s+x\s+|\s*×\s*")
_FAMILY = re.compile(r"^(.*)\((\d+)\)$")


def _single(name: str, full: str) -> Group:
    key = name.strip()
    if key == "Sn":
        key = "S_n"
    if key in GROUPS:
        return GROUPS.get(key)()
    m = _FAMILY.match(key.replace(" ", ""))
    if m is not None and f"{m.group(1)}(d)" in GROUPS:
        return GROUPS.get(f"{m.group(1)}(d)")(int(m.group(2)))
    raise ValueError(
        f"unknown group {full!r}; registered groups: {', '.join(list_groups())} "
        "(any d >= 2 for a family '(d)', and 'A x B' for a direct product), "
        f"e.g. {', '.join(GROUP_NAMES)}"
    )


def get_group(name: str | Group) -> Group:
    """Build a group from its name, e.g. ``"S_n"``, ``"SO(3)"``, ``"S_n x E(3)"``, ``"C4"``."""
    if isinstance(name, Group):
        return name
    if not isinstance(name, str):
        raise TypeError(f"group: expected a name or a Group, got {type(name).__name__}")
    parts = [p for p in _PRODUCT.split(name.strip()) if p] or [name]
    if len(parts) == 1:
        parts = _split_compact(parts[0]) or parts
    if len(parts) == 1:
        return _single(parts[0], name)
    factors = [_single(p, name) for p in parts]
    try:
        return Product(*factors)
    except ValueError as err:
        raise ValueError(
            f"unknown group {name!r}: {err}; registered groups: {', '.join(list_groups())}, "
            f"e.g. {', '.join(GROUP_NAMES)}"
        ) from None


def _split_compact(key: str) -> list[str] | None:
    """``"S_nxE(3)"`` -> ``["S_n", "E(3)"]``: split at an ``x`` where both sides are names."""
    if key.replace(" ", "") in GROUPS or "x" not in key:
        return None
    pieces = key.replace(" ", "").split("x")
    for i in range(1, len(pieces)):
        left, right = "x".join(pieces[:i]), "x".join(pieces[i:])
        try:
            _single(left, key)
        except ValueError:
            continue
        rest = [right] if _parses(right) else _split_compact(right)
        if rest:
            return [left, *rest]
    return None


def _parses(key: str) -> bool:
    try:
        _single(key, key)
    except ValueError:
        return False
    return True
