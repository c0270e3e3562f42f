"""ConvCNP: set convolution onto a grid, a 1-D CNN, set convolution back to the targets.

Translation equivariant exactly (not only by grid steps): the grid is laid in the frame of
T(1), centred on the centroid of the task's context inputs (:func:`canonical_shift`). The
approximately equivariant version concatenates learnable fixed inputs ``b(u)`` of the
*world* position ``u`` of each grid point (:class:`~lps.relax.FixedInputs`, zero outside
the training region, dropped per task) to the grid channels.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lps.np.base import GaussianHead, canonical_shift, check_inputs
from lps.relax.fixed_inputs import FixedInputs


class ConvCNP(nn.Module):
    """ConvCNP for 1-D inputs and outputs.

    Args:
        channels: CNN width; ``layers``: residual conv blocks (dilations 1, 2, 4, 8, ...).
        kernel_size: conv kernel; ``density``: grid points per unit; ``half_width``: the
            grid covers ``[-half_width, half_width]`` about the centroid of the task.
        fixed: fixed inputs on the grid (None: the strict model).
    """

    def __init__(
        self,
        channels: int = 32,
        layers: int = 6,
        kernel_size: int = 9,
        density: int = 16,
        half_width: float = 6.0,
        fixed: FixedInputs | None = None,
    ):
        super().__init__()
        points = int(round(2 * half_width * density)) + 1
        self.register_buffer("grid", torch.linspace(-half_width, half_width, points))
        spacing = 1.0 / density
        self.log_ls_in = nn.Parameter(torch.tensor(math.log(2 * spacing)))
        self.log_ls_out = nn.Parameter(torch.tensor(math.log(2 * spacing)))
        self.fixed = fixed
        extra = 0 if fixed is None else fixed.count
        self.encode = nn.Conv1d(2 + extra, channels, 1)
        pad = kernel_size // 2
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.GELU(),
                nn.Conv1d(
                    channels,
                    channels,
                    kernel_size,
                    padding=pad * 2 ** (i % 4),
                    dilation=2 ** (i % 4),
                ),
            )
            for i in range(layers)
        )
        self.head = GaussianHead(channels)

    def forward(
        self, xc: Tensor, yc: Tensor, xt: Tensor, mask: Tensor | None = None
    ) -> dict[str, Tensor]:
        mask = check_inputs(xc, yc, xt, mask)
        shift = canonical_shift(xc, xt, mask)
        xc0 = (xc.double() - shift).to(xc.dtype)  # canonical (frame) coordinates
        xt0 = (xt.double() - shift).to(xt.dtype)
        grid = self.grid.to(xc.dtype)
        ls_in = self.log_ls_in.exp()
        w = torch.exp(-0.5 * ((grid - xc0) / ls_in) ** 2) * mask[..., None].to(xc.dtype)
        dens = w.sum(1)  # (B, G)
        signal = (w * yc).sum(1) / (dens + 1e-6)
        h = [dens, signal]
        if self.fixed is not None and self.fixed.count > 0:
            world = (grid.double() + shift[..., 0]).to(xc.dtype)[..., None]  # (B, G, 1)
            h += list(self.fixed(world).unbind(-1))
        z = self.encode(torch.stack(h, 1))
        for block in self.blocks:
            z = z + block(z)
        wo = torch.exp(-0.5 * ((xt0 - grid) / self.log_ls_out.exp()) ** 2)  # (B, Nt, G)
        return self.head(wo @ z.transpose(1, 2))
