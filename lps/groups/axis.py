"""Axis subgroups of O(3): ``O(2)_a`` and ``SO(2)_a`` for an axis ``a`` of 3-D space.

``SO(2)_a`` holds the rotations about the axis ``a`` (``x``, ``y`` or ``z``); ``O(2)_a`` adds
the reflections in the planes that contain the axis. Both *fix the axis pointwise* (as the
O(2)_z of the soft-equivariance literature, e.g. a field along gravity): an element is the
3 x 3 matrix with a 2 x 2 orthogonal block ``Q`` in the plane orthogonal to the axis and 1
on the axis, so ``det g = det Q``. The reflection ``a -> -a`` (which maps the axis to itself
but does not fix it) is *not* in these groups.

Elements are :class:`~lps.groups.orthogonal.Rigid` matrices (M, 3, 3) without translation,
so the actions on vectors and positions are those of O(3). The plane axes follow the cyclic
order (x: (y, z), y: (z, x), z: (x, y)), so a positive angle is a right-handed rotation.

Their ``kind`` is ``"axis_rigid"``, not ``"rigid"``: samplers built for all of O(d) (PCA
frames, the learned Gram-Schmidt sampler) must not treat an axis subgroup as O(3); they
raise ``UnsupportedGroupError``, and ``haar`` is the sampler for these groups.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lps.fields import FieldType
from lps.groups import register_group
from lps.groups.base import Example, Group, full_precision
from lps.groups.orthogonal import Orthogonal, Rigid

#: The coordinate index of each axis name.
AXES = {"x": 0, "y": 1, "z": 2}


def axis_matrix(
    angle: Tensor, axis: str = "z", reflect: Tensor | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    """(M, 3, 3) rotations by ``angle`` (M,) about ``axis``, composed with the reflection
    ``(u, v) -> (u, -v)`` of the plane axes where ``reflect`` (M,) bool is True (the
    reflection is applied first: ``g = R(angle) S``)."""
    dtype = dtype or (torch.float64 if angle.dtype == torch.float64 else torch.float32)
    a = angle.to(dtype)
    c, s = torch.cos(a), torch.sin(a)
    sign = torch.ones_like(c) if reflect is None else torch.where(reflect, -1.0, 1.0).to(dtype)
    i = AXES[axis]
    u, v = (i + 1) % 3, (i + 2) % 3
    out = torch.zeros(a.shape[0], 3, 3, dtype=dtype, device=a.device)
    out[:, i, i] = 1.0
    out[:, u, u], out[:, u, v] = c, -s * sign
    out[:, v, u], out[:, v, v] = s, c * sign
    return out


class AxisSubgroup(Group):
    """``O(2)_axis`` (``special=False``) or ``SO(2)_axis``: rotations about one axis of 3-D
    space, plus (O(2)) the reflections in the planes containing it; the axis is fixed
    pointwise. Elements are :class:`Rigid` (M, 3, 3), acting as in O(3)."""

    d = 3
    translations = False

    def __init__(self, axis: str = "z", special: bool = False):
        if axis not in AXES:
            raise ValueError(f"AxisSubgroup: axis must be one of x, y, z, got {axis!r}")
        self.axis = axis
        self.special = special
        self.name = f"{'S' if special else ''}O(2)_{axis}"
        self.kind = "axis_rigid"
        self.moves = frozenset({"space"})
        self._o3 = Orthogonal(3)
        self.acts_on = self._o3.acts_on

    @property
    def axis_vector(self) -> Tensor:
        """(3,) unit vector along the fixed axis."""
        return torch.eye(3)[AXES[self.axis]]

    def identity(self, m, num_nodes=None, device="cpu") -> Rigid:
        return Rigid(torch.eye(3, device=device).expand(m, 3, 3).contiguous())

    def haar(
        self, m, num_nodes=None, mask=None, device="cpu", generator=None, dtype=torch.float32
    ) -> Rigid:
        """Uniform angle in [0, 2 pi) and, for O(2), a reflection with probability 1/2 (the
        random stream is drawn in fp32 and is the same for fp32 and float64 elements)."""
        if mask is not None:
            device = mask.device
        with full_precision(torch.device(device)):
            u = torch.rand(m, 2, device=device, generator=generator)
            angle = (2 * math.pi) * u[:, 0].to(dtype)
            reflect = None if self.special else u[:, 1] < 0.5
            return Rigid(axis_matrix(angle, self.axis, reflect, dtype))

    def example(self, batch: int = 4, num_nodes: int = 7, seed: int = 0) -> Example:
        """The O(3) example: node features ``x``, positions ``pos`` and velocities ``vel``."""
        return self._o3.example(batch, num_nodes, seed)

    def compose(self, g: Rigid, h: Rigid) -> Rigid:
        return self._o3.compose(g, h)

    def inverse(self, g: Rigid) -> Rigid:
        return self._o3.inverse(g)

    def repeat(self, g: Rigid, k: int) -> Rigid:
        return self._o3.repeat(g, k)

    def act(self, g: Rigid, x: Tensor, ftype: FieldType, inverse: bool = False) -> Tensor:
        self.check_acts_on("input", ftype)
        if ftype in (FieldType.NODE_VECTOR, FieldType.POSITION) and x.shape[-1] != 3:
            raise ValueError(
                f"{self.name}: a {ftype.value} field needs last axis d=3, got shape "
                f"{tuple(x.shape)}"
            )
        return self._o3.act(g, x, ftype, inverse)


for _axis in AXES:
    register_group(f"O(2)_{_axis}")(lambda axis=_axis: AxisSubgroup(axis))
    register_group(f"SO(2)_{_axis}")(lambda axis=_axis: AxisSubgroup(axis, special=True))
