"""Planar rotations of images: C_2 and C_4 (exact, by ``rot90``), C_8 and SO(2) (bilinear
resampling).

An element is an angle in radians, (M,). For C_2 / C_4 angles are multiples of pi / 2 and the
action is exact; C_8 turns by the exact quarter turns and resamples only the remaining 45
degrees. For SO(2) the image is resampled with ``grid_sample`` (bilinear, zero padding):
content outside the inscribed disc is cut and the interpolation blurs high frequencies, so
``rotate(rotate(x, a), -a)`` differs from ``x`` (about 4% relative error on band-limited
32 px images, far more on white noise: an image *output* of a base model must be smooth
for SO(2) resampling to be meaningful); ``tests/test_groups.py`` measures it on
smooth images (see ``smooth_disc_images``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from lps.fields import FieldType
from lps.groups.base import Example, Group, full_precision

#: Orders of the cyclic groups C_n with an image action (C_8 resamples its 45-degree turns).
CYCLIC_ORDERS = (2, 4, 8)


@dataclass
class Angle:
    """A batch of planar rotations: ``angle`` (M,) radians, counter-clockwise.

    ``soft`` (M, n), optional: straight-through weights of a learned C_n sampler over the n
    rotations ``2 pi j / n``. The forward action is the exact rotation by ``angle``; with
    gradients on, the action adds ``sum_j (soft_j - soft_j.detach()) rot_j(x)`` (zero in value)
    so that the soft weights get the gradient of the relaxed action.
    """

    angle: Tensor
    soft: Tensor | None = None


class ImageRotation(Group):
    """Rotations of square images: ``order=n`` gives C_n (n in 2, 4, 8), ``order=None`` SO(2)."""

    def __init__(self, order: int | None = 4):
        if order is not None and order not in CYCLIC_ORDERS:
            raise ValueError(
                f"ImageRotation: cyclic image rotations exist for orders {CYCLIC_ORDERS}, got "
                f"{order!r}; use order=None for continuous SO(2) rotations"
            )
        self.order = order
        self.name = f"C{order}" if order is not None else "image-SO(2)"
        self.kind = "image_rotation"
        self.moves = frozenset({"plane"})
        self.acts_on = frozenset({FieldType.INVARIANT, FieldType.IMAGE})
        if not self.grid_exact:  # resampling: exact only at multiples of pi/2
            self.exact, self.tolerance = False, 0.05
            self.note = "bilinear resampling of smooth images"

    @property
    def grid_exact(self) -> bool:
        """True when every element maps the pixel grid to itself (C_2, C_4)."""
        return self.order in (2, 4)

    @property
    def step(self) -> float | None:
        """The smallest turn ``2 pi / n`` of C_n (None for SO(2))."""
        return None if self.order is None else 2 * math.pi / self.order

    def example(self, batch: int = 4, num_nodes: int = 7, seed: int = 0) -> Example:
        """Smooth 2-channel images (8 px for C2/C4, 32 px when resampling); outputs a class
        vector and, for C2/C4, an image map (resampling a random map is not exact)."""
        gen = torch.Generator().manual_seed(seed)
        size = 8 if self.grid_exact else 32
        out_shapes: dict[str, tuple[int, ...]] = {"cls": (3,)}
        out_types = {"cls": FieldType.INVARIANT}
        if self.grid_exact:
            out_shapes["seg"], out_types["seg"] = (1, size, size), FieldType.IMAGE
        img = smooth_disc_images(batch, 2, size, gen)
        return Example({"img": img}, {"img": FieldType.IMAGE}, None, out_shapes, out_types)

    def identity(self, m, num_nodes=None, device="cpu") -> Angle:
        return Angle(torch.zeros(m, device=device))

    def haar(
        self, m, num_nodes=None, mask=None, device="cpu", generator=None, dtype=torch.float32
    ) -> Angle:
        u = torch.rand(m, device=device, generator=generator).to(dtype)
        if self.order is not None:
            return Angle(torch.floor(u * self.order) * self.step)
        return Angle(u * (2 * math.pi))

    def compose(self, g: Angle, h: Angle) -> Angle:
        return Angle(self._snap(torch.remainder(g.angle + h.angle, 2 * math.pi)))

    def inverse(self, g: Angle) -> Angle:
        soft = None
        if g.soft is not None:  # weight of rotation j of g^-1 is that of rotation -j of g
            soft = torch.roll(torch.flip(g.soft, dims=(-1,)), 1, dims=-1)
        return Angle(self._snap(torch.remainder(-g.angle, 2 * math.pi)), soft)

    def repeat(self, g: Angle, k: int) -> Angle:
        soft = None if g.soft is None else g.soft.repeat_interleave(k, 0)
        return Angle(g.angle.repeat_interleave(k, 0), soft)

    def index(self, g: Angle) -> Tensor:
        """(M,) long: the j of ``angle = 2 pi j / n`` for C_n elements."""
        if self.order is None:
            raise ValueError(f"{self.name}: elements are continuous angles, not indices")
        return torch.remainder(torch.round(g.angle / self.step), self.order).long()

    def from_index(self, j: Tensor, dtype: torch.dtype = torch.float32) -> Angle:
        """C_n elements ``2 pi j / n`` for (M,) integers ``j``."""
        if self.order is None:
            raise ValueError(f"{self.name}: elements are continuous angles, not indices")
        return Angle(torch.remainder(j, self.order).to(dtype) * self.step)

    def _snap(self, angle: Tensor) -> Tensor:
        """C_n angles rounded to the exact multiple of 2 pi / n (no drift under composition)."""
        if self.order is None:
            return angle
        return torch.remainder(torch.round(angle / self.step), self.order) * self.step

    def act(self, g: Angle, x: Tensor, ftype: FieldType, inverse: bool = False) -> Tensor:
        self.check_acts_on("input", ftype)
        if ftype == FieldType.INVARIANT:
            return x
        if x.dim() != 4 or x.shape[-1] != x.shape[-2]:
            raise ValueError(
                f"{self.name}: image fields must be square (B, C, H, W) with H == W, got "
                f"{tuple(x.shape)}"
            )
        angle = -g.angle if inverse else g.angle
        out = rotate_image(x, angle, exact_quarters=self.order is not None)
        if g.soft is not None and torch.is_grad_enabled() and g.soft.requires_grad:
            n = g.soft.shape[-1]
            sign = -1.0 if inverse else 1.0
            delta = g.soft - g.soft.detach()  # zero in value, the soft gradient in backward
            for j in range(n):
                turn = torch.full_like(angle, sign * 2 * math.pi * j / n)
                rot = rotate_image(x, turn, exact_quarters=True)
                out = out + delta[:, j].view(-1, 1, 1, 1).to(x.dtype) * rot
        return out


def rotate_image(x: Tensor, angle: Tensor, exact_quarters: bool = True) -> Tensor:
    """(M, C, H, W) square images turned counter-clockwise by ``angle`` (M,) radians.

    With ``exact_quarters`` the nearest multiple of pi / 2 below the angle is applied exactly
    by ``rot90`` and only the remainder is resampled (bilinear, zero padding); a remainder
    within 1e-6 rad of zero is not resampled, so C_2/C_4 turns are exact pixel permutations.
    """
    if exact_quarters:
        quarter_f = torch.floor(torch.remainder(angle, 2 * math.pi) / (math.pi / 2) + 1e-6)
        rest = torch.remainder(angle, 2 * math.pi) - quarter_f * (math.pi / 2)
        rest = torch.where(rest.abs() < 1e-6, torch.zeros_like(rest), rest)
        quarter = torch.remainder(quarter_f, 4).long()
        turns = torch.stack([torch.rot90(x, j, dims=(-2, -1)) for j in range(4)])
        idx = quarter.view(1, -1, 1, 1, 1).expand(1, *x.shape)
        out = torch.gather(turns, 0, idx).squeeze(0)
        moved = rest != 0
        if bool(moved.any()):
            out = torch.where(moved.view(-1, 1, 1, 1), _resample(out, rest), out)
        return out
    return _resample(x, angle)


def _resample(x: Tensor, angle: Tensor) -> Tensor:
    """Bilinear rotation by ``angle`` (M,) with ``grid_sample`` (zero padding), in fp32+."""
    with full_precision(x.device):
        # affine_grid maps output coordinates to input ones: use the inverse rotation.
        dt = torch.float64 if x.dtype == torch.float64 else torch.float32
        cos, sin = torch.cos(angle).to(dt), torch.sin(angle).to(dt)
        theta = torch.zeros(x.shape[0], 2, 3, device=x.device, dtype=dt)
        theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
        theta[:, 1, 0], theta[:, 1, 1] = sin, cos
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out = F.grid_sample(x.to(dt), grid, mode="bilinear", align_corners=False)
    return out.to(x.dtype)


def smooth_disc_images(
    batch: int, channels: int, size: int, generator: torch.Generator | None = None
) -> Tensor:
    """(B, C, size, size) band-limited random images, zero outside the inscribed disc.

    The inputs on which continuous rotation by resampling is nearly lossless; used to
    measure the interpolation error of :class:`ImageRotation` with ``order=None``.
    """
    coords = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    img = torch.zeros(batch, channels, size, size)
    for fx in range(3):
        for fy in range(3):
            amp = torch.randn(batch, channels, 2, generator=generator) / (1 + fx + fy)
            phase = math.pi * (fx * xx + fy * yy)
            img = (
                img + amp[..., :1, None] * torch.cos(phase) + amp[..., 1:, None] * torch.sin(phase)
            )
    disc = torch.exp(-(((xx**2 + yy**2) / 0.35) ** 4))  # smooth fall-off well inside the disc
    return img * disc
