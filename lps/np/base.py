"""What every neural process here shares: input checks, the Gaussian head and the loss.

A model is called ``model(xc=..., yc=..., xt=..., mask=None)`` with context inputs ``xc``
(B, Nc, 1), context outputs ``yc`` (B, Nc, 1), target inputs ``xt`` (B, Nt, 1) and the
context mask (B, Nc) (real points first; None: all real). ``Nc = 0`` or an all-False mask
is an empty context: the model gives its prior predictive. It returns
``{"mean": (B, Nt, 1), "std": (B, Nt, 1)}``, a Gaussian per target.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lps.np.gp import Tasks

_LOG2PI = math.log(2 * math.pi)


def check_inputs(
    xc: Tensor, yc: Tensor, xt: Tensor, mask: Tensor | None, dim: int = 1, y_dim: int = 1
) -> Tensor:
    """Validate a call; return the (B, Nc) bool mask. Errors name the field and shapes."""
    for name, t, last in (("xc", xc, dim), ("yc", yc, y_dim), ("xt", xt, dim)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 3:
            raise ValueError(f"{name}: got shape {tuple(t.shape)}, expected (B, N, {last})")
        if t.shape[-1] != last:
            what = "input" if name != "yc" else "output"
            raise ValueError(
                f"{name}: {what} dimension {t.shape[-1]}, but the model takes {last} "
                f"(shape {tuple(t.shape)}; context and target inputs must both be (B, N, {dim}))"
            )
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: contains NaN or infinite values")
    if xc.shape[:2] != yc.shape[:2]:
        raise ValueError(
            f"xc {tuple(xc.shape)} and yc {tuple(yc.shape)}: context inputs and outputs must "
            "have the same (B, Nc)"
        )
    if xt.shape[0] != xc.shape[0]:
        raise ValueError(f"xt: batch {xt.shape[0]}, but the context has batch {xc.shape[0]}")
    if xt.shape[1] == 0:
        raise ValueError("xt: no target points (Nt = 0)")
    if mask is None:
        return torch.ones(xc.shape[:2], dtype=torch.bool, device=xc.device)
    if mask.dtype != torch.bool or tuple(mask.shape) != tuple(xc.shape[:2]):
        raise ValueError(
            f"mask: got {mask.dtype} {tuple(mask.shape)}, expected torch.bool (B, Nc) = "
            f"{tuple(xc.shape[:2])}"
        )
    return mask


class GaussianHead(nn.Module):
    """(..., C) features -> mean and std (..., 1); ``std >= min_std``."""

    def __init__(self, width: int, hidden: int = 64, min_std: float = 1e-2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, 2))
        self.min_std = min_std

    def forward(self, z: Tensor) -> dict[str, Tensor]:
        out = self.net(z)
        std = self.min_std + nn.functional.softplus(out[..., 1:])
        return {"mean": out[..., :1], "std": std}


def gaussian_loglik(pred: dict[str, Tensor], yt: Tensor) -> Tensor:
    """(B, Nt) log-density of targets ``yt`` (B, Nt, 1) under the predicted Gaussians."""
    if not bool(torch.isfinite(yt).all()):
        bad = int((~torch.isfinite(yt)).sum())
        raise ValueError(f"yt: {bad} target value(s) are NaN or infinite; drop those targets")
    if yt.shape != pred["mean"].shape:
        raise ValueError(f"yt: shape {tuple(yt.shape)}, predictions {tuple(pred['mean'].shape)}")
    z = (yt - pred["mean"]) / pred["std"]
    return (-0.5 * (_LOG2PI + z**2) - pred["std"].log())[..., 0]


def task_loglik(model: nn.Module, tasks: Tasks) -> Tensor:
    """(B,) mean log-likelihood per target of ``model`` on ``tasks``."""
    pred = model(xc=tasks.xc, yc=tasks.yc, xt=tasks.xt, mask=tasks.mask)
    return gaussian_loglik(pred, tasks.yt).mean(1)


def canonical_shift(xc: Tensor, xt: Tensor, mask: Tensor) -> Tensor:
    """(B, 1, 1) float64 frame of T(1): the centroid of the real context inputs, or of the
    target inputs when the context is empty. It moves with a translation of the task.

    Only the context: a frame that also averaged the targets would tell the model nearly
    the absolute position whenever the targets cover a fixed region (128 targets uniform
    on [-4, 4] put their centroid within ~0.2 of 0), a leak of the very information that
    fixed inputs are meant to supply.
    """
    m = mask.double()
    n = m.sum(1)
    ctx = (xc.double()[..., 0] * m).sum(1) / n.clamp_min(1.0)
    tgt = xt.double()[..., 0].mean(1)
    return torch.where(n > 0, ctx, tgt).view(-1, 1, 1)
