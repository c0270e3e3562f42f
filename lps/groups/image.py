"""Planar rotations of images: C_4 (exact, by ``rot90``) and SO(2) (by bilinear resampling).

An element is an angle in radians, (M,). For C_4 angles are multiples of pi/2 and the action
is exact. For SO(2) the image is resampled with ``grid_sample`` (bilinear, zero padding):
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


@dataclass
class Angle:
    """A batch of planar rotations: ``angle`` (M,) radians, counter-clockwise."""

    angle: Tensor


class ImageRotation(Group):
    """Rotations of square images: ``order=4`` gives C_4, ``order=None`` gives SO(2)."""

    def __init__(self, order: int | None = 4):
        if order is not None and order != 4:
            raise ValueError(
                f"ImageRotation: exact cyclic rotations exist for order 4 only, got {order}; "
                "use order=None for continuous SO(2) rotations"
            )
        self.order = order
        self.name = "C4" if order == 4 else "image-SO(2)"
        self.kind = "image_rotation"
        self.moves = frozenset({"plane"})
        self.acts_on = frozenset({FieldType.INVARIANT, FieldType.IMAGE})
        if order is None:  # resampling: exact only at multiples of pi/2
            self.exact, self.tolerance = False, 0.05
            self.note = "bilinear resampling of smooth images"

    def example(self, batch: int = 4, num_nodes: int = 7, seed: int = 0) -> Example:
        """Smooth 2-channel images (8 px for C4, 32 px for SO(2)); outputs a class vector
        and, for C4, an image map (resampling a random map is not exact)."""
        gen = torch.Generator().manual_seed(seed)
        size = 8 if self.order == 4 else 32
        out_shapes: dict[str, tuple[int, ...]] = {"cls": (3,)}
        out_types = {"cls": FieldType.INVARIANT}
        if self.order == 4:
            out_shapes["seg"], out_types["seg"] = (1, size, size), FieldType.IMAGE
        img = smooth_disc_images(batch, 2, size, gen)
        return Example({"img": img}, {"img": FieldType.IMAGE}, None, out_shapes, out_types)

    def identity(self, m, num_nodes=None, device="cpu") -> Angle:
        return Angle(torch.zeros(m, device=device))

    def haar(
        self, m, num_nodes=None, mask=None, device="cpu", generator=None, dtype=torch.float32
    ) -> Angle:
        u = torch.rand(m, device=device, generator=generator).to(dtype)
        if self.order == 4:
            return Angle(torch.floor(u * 4) * (math.pi / 2))
        return Angle(u * (2 * math.pi))

    def compose(self, g: Angle, h: Angle) -> Angle:
        return Angle(torch.remainder(g.angle + h.angle, 2 * math.pi))

    def inverse(self, g: Angle) -> Angle:
        return Angle(torch.remainder(-g.angle, 2 * math.pi))

    def repeat(self, g: Angle, k: int) -> Angle:
        return Angle(g.angle.repeat_interleave(k, 0))

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
        if self.order == 4:
            quarter = torch.remainder(torch.round(angle / (math.pi / 2)), 4).long()
            turns = torch.stack([torch.rot90(x, j, dims=(-2, -1)) for j in range(4)])
            idx = quarter.view(1, -1, 1, 1, 1).expand(1, *x.shape)
            return torch.gather(turns, 0, idx).squeeze(0)
        with full_precision(x.device):
            cos, sin = torch.cos(angle).float(), torch.sin(angle).float()
            # affine_grid maps output coordinates to input ones: use the inverse rotation.
            theta = torch.zeros(x.shape[0], 2, 3, device=x.device)
            theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
            theta[:, 1, 0], theta[:, 1, 1] = sin, cos
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            out = F.grid_sample(x.float(), grid, mode="bilinear", align_corners=False)
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
