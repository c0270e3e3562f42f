"""Residual-pathway image layers: an equivariant conv path plus a free (dense) path.

Images are ``(B, C, H, W)``. A :class:`ResidualConvLayer` computes
``s = conv(x) + free(x) + b``, then ``relu`` and, optionally, stride-2 subsampling that
keeps shift equivariance (:func:`aps_subsample`). Paths:

- :class:`ConvPath`: a circularly padded ``k x k`` convolution, exactly equivariant to
  circular shifts;
- :class:`DensePath`: any linear map ``(C, H, W) -> (D, H, W)``, ``D H W x C H W`` weights;
- :class:`FactoredPath`: ``W[d, c, y, x] = U[d, c, x] V[y, d, c]`` with ``x``, ``y`` pixel
  indices: ``D C (2 H W)`` weights instead of ``D C (H W)^2``.

Each path knows its Kronecker-factored GGN (:mod:`lps.marglik.kron`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lps.marglik.kron import Readout, ResidualLayer, add_outer, kron_eigs

__all__ = [
    "ConvPath",
    "DensePath",
    "FactoredPath",
    "ResidualConvLayer",
    "ResidualImageNet",
    "aps_subsample",
]


def aps_subsample(x: Tensor) -> Tensor:
    """Stride-2 subsampling ``(B, C, H, W) -> (B, C, H/2, W/2)`` at the phase of largest norm.

    Of the four polyphase components ``x[..., i::2, j::2]`` each input keeps the one with the
    largest L2 norm, so a circular shift of the input permutes the components and shifts the
    output: the map stays exactly shift-equivariant (up to exact ties between norms).
    """
    if x.ndim != 4 or x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError(
            f"aps_subsample: expected (B, C, H, W) with even H and W, got {tuple(x.shape)}"
        )
    comps = torch.stack([x[..., i::2, j::2] for i in (0, 1) for j in (0, 1)], dim=1)
    idx = comps.detach().flatten(2).norm(dim=2).argmax(dim=1)
    return comps[torch.arange(x.shape[0], device=x.device), idx]


class ConvPath(nn.Module):
    """Circular ``k x k`` convolution without bias: ``(B, C, H, W) -> (B, D, H, W)``."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"ConvPath: kernel must be odd, got {kernel}")
        self.kernel = kernel
        self.weight = nn.Parameter(
            torch.randn(c_out, c_in, kernel, kernel) / (c_in * kernel**2) ** 0.5
        )

    def _patches(self, x: Tensor) -> Tensor:
        p = self.kernel // 2
        return F.unfold(F.pad(x, (p, p, p, p), mode="circular"), self.kernel)  # (B, Ckk, HW)

    def forward(self, x: Tensor) -> Tensor:
        p = self.kernel // 2
        return F.conv2d(F.pad(x, (p, p, p, p), mode="circular"), self.weight)

    def prior_mean_square(self, x: Tensor, prec: dict[str, float]) -> float:
        """``E ||out||^2 / out.numel()`` over weights ``N(0, 1 / prec["weight"])``: the mean
        squared patch norm over the precision."""
        return float(self._patches(x).pow(2).sum(1).mean()) / prec["weight"]

    def kron_accumulate(self, stats, x, gs):
        add_outer(stats, "A", self._patches(x).transpose(1, 2).reshape(-1, self.weight[0].numel()))
        for g in gs:
            add_outer(stats, "G", g.flatten(2).transpose(1, 2).reshape(-1, g.shape[1]))

    def kron_eigen(self, stats, n):
        rows = n * stats["positions"]
        return {"weight": [kron_eigs(stats["G"], stats["A"], rows)]}


class DensePath(nn.Module):
    """Unconstrained linear map of the flattened input: ``(B, *in_shape) -> (B, *out_shape)``."""

    def __init__(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        d_in = int(torch.tensor(in_shape).prod())
        d_out = int(torch.tensor(out_shape).prod())
        self.weight = nn.Parameter(torch.randn(d_out, d_in) / d_in**0.5)

    def forward(self, x: Tensor) -> Tensor:
        return (x.flatten(1) @ self.weight.T).view(x.shape[0], *self.out_shape)

    def prior_mean_square(self, x: Tensor, prec: dict[str, float]) -> float:
        """``E ||out||^2 / out.numel()`` over weights ``N(0, 1 / prec["weight"])``: the mean
        squared input norm over the precision."""
        return float(x.flatten(1).pow(2).sum(1).mean()) / prec["weight"]

    def kron_accumulate(self, stats, x, gs):
        add_outer(stats, "A", x.flatten(1))
        for g in gs:
            add_outer(stats, "G", g.flatten(1))

    def kron_eigen(self, stats, n):
        return {"weight": [kron_eigs(stats["G"], stats["A"], n)]}


class FactoredPath(nn.Module):
    """``out[b, d, y] = sum_c V[y, d, c] sum_x U[d, c, x] in[b, c, x]`` on ``(B, C, H, W)``.

    Equal to a :class:`DensePath` with ``W[d, c, y, x] = U[d, c, x] V[y, d, c]``
    (:meth:`dense_weight`). GGN: for ``U`` one Kronecker block per ``(d, c)`` (a scalar
    times the input covariance of channel ``c``); for ``V`` one per output channel ``d``.
    """

    def __init__(self, c_in: int, c_out: int, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = tuple(size)
        pix = size[0] * size[1]
        self.U = nn.Parameter(torch.randn(c_out, c_in, pix) / pix**0.5)
        self.V = nn.Parameter(torch.randn(pix, c_out, c_in) / c_in**0.5)

    def dense_weight(self) -> Tensor:
        """The equivalent dense weight ``(D H W, C H W)`` (``W[d, y, c, x]`` flattened)."""
        w = torch.einsum("dcx,ydc->dycx", self.U, self.V)
        d, y, c, x = w.shape
        return w.reshape(d * y, c * x)

    def _inner(self, x: Tensor) -> Tensor:
        return torch.einsum("dcx,bcx->bdc", self.U, x.flatten(2))  # t (B, D, C)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.einsum("ydc,bdc->bdy", self.V, self._inner(x))
        return out.view(x.shape[0], out.shape[1], *self.size)

    def prior_mean_square(self, x: Tensor, prec: dict[str, float]) -> float:
        """``E ||out||^2 / out.numel()`` over independent ``U ~ N(0, 1/delta_U)``,
        ``V ~ N(0, 1/delta_V)``: the mean squared input norm over ``delta_U delta_V``."""
        return float(x.flatten(1).pow(2).sum(1).mean()) / (prec["U"] * prec["V"])

    def kron_accumulate(self, stats, x, gs):
        xf = x.detach().flatten(2)  # (B, C, X)
        with torch.no_grad():
            t = self._inner(x.detach())
        add_outer(stats, "A_U", xf.transpose(0, 1))  # (C, X, X)
        add_outer(stats, "A_V", t.transpose(0, 1))  # (D, C, C)
        for g in gs:
            gf = g.detach().flatten(2)  # (B, D, Y)
            gt = torch.einsum("ydc,bdy->bdc", self.V.detach(), gf).double()
            gu = (gt**2).sum(0)
            stats["G_U"] = stats["G_U"] + gu if "G_U" in stats else gu
            add_outer(stats, "G_V", gf.transpose(0, 1))  # (D, Y, Y)

    def kron_eigen(self, stats, n):
        d, c, _ = self.U.shape
        ea_u = torch.linalg.eigvalsh(stats["A_U"]).clamp_min(0)  # (C, X)
        eg_u = (stats["G_U"] / n).reshape(d * c, 1)
        ea_u = ea_u[None].expand(d, -1, -1).reshape(d * c, -1)
        return {"U": [(eg_u, ea_u)], "V": [kron_eigs(stats["G_V"], stats["A_V"], n)]}


class ResidualConvLayer(ResidualLayer):
    """``relu(conv(x) + free(x) + b)``, then optional shift-equivariant stride-2 subsampling.

    ``free`` is ``"dense"``, ``"factored"`` or ``None``; ``conv=False`` drops the conv path.
    Input ``(B, c_in, H, W)`` with ``(H, W) == size``; output ``(B, c_out, H', W')``.
    """

    path_names = ("conv", "free")

    def __init__(
        self,
        c_in: int,
        c_out: int,
        size: tuple[int, int],
        free: str | None = "dense",
        conv: bool = True,
        kernel: int = 3,
        subsample: bool = True,
    ) -> None:
        super().__init__()
        if subsample and (size[0] % 2 or size[1] % 2):
            raise ValueError(
                f"ResidualConvLayer: image size {tuple(size)} is not divisible by the "
                "stride-2 subsampling; use even sizes (e.g. a canvas of 2^k pixels)"
            )
        if free not in ("dense", "factored", None):
            raise ValueError(
                f"ResidualConvLayer: free must be 'dense', 'factored' or None, got {free!r}"
            )
        if not conv and free is None:
            raise ValueError("ResidualConvLayer: needs at least one path (conv or free)")
        self.size, self.c_in, self.subsample = tuple(size), c_in, subsample
        self.positions = float(size[0] * size[1])
        self.conv = ConvPath(c_in, c_out, kernel) if conv else None
        if free == "dense":
            self.free = DensePath((c_in, *size), (c_out, *size))
        elif free == "factored":
            self.free = FactoredPath(c_in, c_out, size)
        else:
            self.free = None
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.c_in or tuple(x.shape[2:]) != self.size:
            raise ValueError(
                f"ResidualConvLayer: expected input (B, {self.c_in}, {self.size[0]}, "
                f"{self.size[1]}), got {tuple(x.shape)}"
            )
        s = sum(self.path_outputs(x).values()) + self.bias[:, None, None]
        self._record(x, s)
        out = torch.relu(s)
        return aps_subsample(out) if self.subsample else out

    def bias_rows(self, g: Tensor) -> Tensor:
        return g.sum((2, 3))


class ResidualImageNet(nn.Module):
    """Residual-pathway layers with subsampling, a global (max or mean) pool and a linear head.

    ``(B, c_in, H, W) -> (B, classes)``; ``H`` and ``W`` must be divisible by
    ``2 ** (layers - 1)`` (every layer but the last subsamples by 2).
    """

    def __init__(
        self,
        size: int,
        classes: int,
        channels: int = 8,
        layers: int = 3,
        free: str | None = "dense",
        conv: bool = True,
        c_in: int = 1,
        kernel: int = 3,
        pool: str = "max",
    ) -> None:
        super().__init__()
        if pool not in ("max", "mean"):
            raise ValueError(f"ResidualImageNet: pool must be 'max' or 'mean', got {pool!r}")
        self.pool = pool
        if size % 2 ** (layers - 1):
            raise ValueError(
                f"ResidualImageNet: image size {size} is not divisible by the subsampling "
                f"2^{layers - 1} of {layers} layers"
            )
        blocks, c, s = [], c_in, size
        for i in range(layers):
            last = i == layers - 1
            blocks.append(ResidualConvLayer(c, channels, (s, s), free, conv, kernel, not last))
            c, s = channels, s if last else s // 2
        self.layers = nn.ModuleList(blocks)
        self.head = Readout(channels, classes)

    def features(self, x: Tensor) -> Tensor:
        """Globally pooled (max or mean over pixels: shift invariant) features ``(B, channels)``."""
        for layer in self.layers:
            x = layer(x)
        return x.amax((2, 3)) if self.pool == "max" else x.mean((2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
