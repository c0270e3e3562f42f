"""Estimators of a symmetry level from a sample of angles (degrees, any range; wrapped to
(-180, 180]). Pure tensor functions, the pseudo-labels of :mod:`lps.levels`.

Levels are half-widths in degrees, in [0, 180]: a uniform level ``theta`` means angles
uniform in [-theta, theta]; a Gaussian level ``sigma`` means angles ~ N(0, sigma^2); a
discrete level ``n`` means angles at multiples of 360 / n (C_n), n in 1..8.

``trim`` (in [0, 0.5)) drops that share of the largest |angles| as outliers first; each
estimator corrects for the trimming under its own model.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def wrap_degrees(angles: Tensor) -> Tensor:
    """Angles wrapped to (-180, 180]."""
    return 180.0 - torch.remainder(180.0 - angles, 360.0)


def _abs_sorted(angles: Tensor, trim: float) -> Tensor:
    """|wrapped angles| sorted ascending, the largest ``trim`` share removed (1-D)."""
    if not 0.0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim!r}")
    a = torch.as_tensor(angles, dtype=torch.float64).reshape(-1)
    if a.numel() == 0:
        raise ValueError("angles: need at least one angle, got an empty tensor")
    if not bool(torch.isfinite(a).all()):
        raise ValueError("angles: contains NaN or infinite values")
    a = wrap_degrees(a).abs().sort().values
    keep = max(1, int(math.ceil(a.numel() * (1.0 - trim))))
    return a[:keep]


def uniform_level_mean(angles: Tensor, trim: float = 0.0) -> float:
    """Uniform half-width from the mean: ``theta = 2 mean |angle|`` (of the kept share
    ``1 - trim``, whose mean is ``(1 - trim) theta / 2`` under the model)."""
    a = _abs_sorted(angles, trim)
    kept = a.numel() / torch.as_tensor(angles).numel()
    return float(min(180.0, 2.0 * a.mean() / kept))


def uniform_level_ml(angles: Tensor, trim: float = 0.0) -> float:
    """Uniform half-width, maximum likelihood: the largest kept |angle|, with the unbiasing
    factor ``(m + 1) / m`` for m kept angles and the trimmed share put back."""
    a = _abs_sorted(angles, trim)
    n = torch.as_tensor(angles).numel()
    m = a.numel()
    theta = float(a[-1]) * (m + 1) / m * (n / m)
    return min(180.0, theta)


def gaussian_level(angles: Tensor, trim: float = 0.0) -> float:
    """Gaussian sigma (degrees): the root mean square of the kept |angles|, corrected for the
    trimming (the RMS of a half-normal truncated at its (1 - trim) quantile)."""
    a = _abs_sorted(angles, trim)
    rms = float(a.pow(2).mean().sqrt())
    if trim == 0.0:
        return rms
    # E[x^2 | |x| < q] / sigma^2 for |x| half-normal with quantile q at 1 - trim.
    normal = torch.distributions.Normal(0.0, 1.0)
    kept = a.numel() / torch.as_tensor(angles).numel()
    q = float(normal.icdf(torch.tensor(0.5 + kept / 2, dtype=torch.float64)))
    pdf = math.exp(-q * q / 2) / math.sqrt(2 * math.pi)
    ratio = 1.0 - 2.0 * q * pdf / kept
    return rms / math.sqrt(max(ratio, 1e-12))


def discrete_level(angles: Tensor, max_order: int = 8, trim: float = 0.0) -> int:
    """The n in 1..max_order of C_n that fits the angles best, by maximum likelihood.

    Model n: angles at the n multiples of 360 / n with equal weight, plus Gaussian noise
    whose sigma is the RMS distance to the nearest multiple (floor 1 degree). A divisor of
    the true n cannot explain the missing poses; a multiple pays log(m) per angle for the
    weight spread over poses that never occur.
    """
    if isinstance(max_order, bool) or not isinstance(max_order, int) or max_order < 1:
        raise ValueError(f"max_order must be a positive integer, got {max_order!r}")
    return int(discrete_log_likelihoods(angles, max_order, trim).argmax()) + 1


def discrete_log_likelihoods(angles: Tensor, max_order: int = 8, trim: float = 0.0) -> Tensor:
    """(max_order,) mean log-likelihood per angle of C_n, n = 1..max_order."""
    a = torch.as_tensor(angles, dtype=torch.float64).reshape(-1)
    _abs_sorted(a, trim)  # validation
    a = wrap_degrees(a)
    out = []
    for n in range(1, max_order + 1):
        step = 360.0 / n
        resid = wrap_degrees(a - torch.round(a / step) * step)
        if trim > 0:
            resid = resid.abs().sort().values[: max(1, int(math.ceil(resid.numel() * (1 - trim))))]
        sigma = max(1.0, float(resid.pow(2).mean().sqrt()))
        centres = torch.arange(n, dtype=torch.float64) * step
        d = wrap_degrees(resid[:, None] + 0 * centres[None])  # nearest centre only
        ll = -0.5 * (d[:, 0] / sigma) ** 2 - math.log(sigma * math.sqrt(2 * math.pi)) - math.log(n)
        out.append(float(ll.mean()))
    return torch.tensor(out)


def check_level_degrees(level: Tensor | float, name: str = "level") -> Tensor:
    """``level`` as a float tensor, or a ValueError naming it if outside [0, 180] degrees."""
    t = torch.as_tensor(level, dtype=torch.float64)
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()) or bool((t > 180).any()):
        bad = t[~torch.isfinite(t) | (t < 0) | (t > 180)].reshape(-1)[0]
        raise ValueError(f"{name}: angle levels must lie in [0, 180] degrees, got {float(bad):.4g}")
    return t
