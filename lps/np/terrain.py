"""A 2-D experiment: a fixed "terrain" map breaks the translation equivariance of a field.

A task is a temperature-like field ``y(x) = f(x) + h(x) + 0.1 eps`` on the plane: ``f`` a
stationary GP (squared-exponential, lengthscale 0.75, unit variance), and ``h`` a fixed
terrain bump, ``h(x) = -2 exp(-|x - m|^2 / (2 * 0.4^2))`` at ``m = (0.5, -0.5)`` (a cold
mountain). Contexts: 1-32 points uniform on [-2, 2]^2; targets: 64 points on [-2, 2]^2. The
bump is tied to the world, so a translation-equivariant model cannot know where it is unless
a context point falls on it; learnable fixed inputs of the absolute position can.

The ceiling is exact: the GP posterior with the known mean ``h`` (float64).
Shapes: ``xc`` (B, 32, 2) with the mask (B, 32), ``yc`` (B, 32, 1), ``xt`` (B, 64, 2).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lps.np.gp import NOISE, Tasks
from lps.np.tnp import TNP
from lps.relax.fixed_inputs import FixedInputs

CENTRE = (0.5, -0.5)
HEIGHT, WIDTH, LENGTHSCALE = -2.0, 0.4, 0.75
REGION = (-2.0, 2.0)
MAX_CONTEXT, NUM_TARGETS = 32, 64
_LOG2PI = math.log(2 * math.pi)


def terrain(x: Tensor) -> Tensor:
    """The bump ``h`` (B, N) at points ``x`` (B, N, 2)."""
    m = torch.tensor(CENTRE, dtype=x.dtype, device=x.device)
    return HEIGHT * torch.exp(-((x - m) ** 2).sum(-1) / (2 * WIDTH**2))


def rbf(a: Tensor, b: Tensor) -> Tensor:
    """(B, N, M) squared-exponential kernel between (B, N, 2) and (B, M, 2)."""
    return torch.exp(-0.5 * torch.cdist(a, b).pow(2) / LENGTHSCALE**2)


def sample_terrain_tasks(
    batch: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    offset: float = 0.0,
) -> Tasks:
    """``batch`` terrain tasks (float64 sampling, cast to ``dtype``); ``kernel`` is all 0.

    ``offset``: draw the points on ``[-2, 2]^2 + offset`` instead (the terrain stays where it
    is, so far from it the field is the stationary GP alone)."""
    g = generator
    lo, hi = REGION
    counts = torch.randint(1, MAX_CONTEXT + 1, (batch,), generator=g)
    n = MAX_CONTEXT + NUM_TARGETS
    x = offset + lo + (hi - lo) * torch.rand(batch, n, 2, generator=g, dtype=torch.float64)
    cov = rbf(x, x) + 1e-8 * torch.eye(n, dtype=torch.float64)
    f = (torch.linalg.cholesky(cov) @ torch.randn(batch, n, 1, generator=g, dtype=x.dtype))[..., 0]
    y = (f + terrain(x) + NOISE * torch.randn(f.shape, generator=g, dtype=f.dtype))[..., None]
    mask = torch.arange(MAX_CONTEXT)[None, :] < counts[:, None]
    yc = y[:, :MAX_CONTEXT] * mask[..., None]
    return Tasks(
        x[:, :MAX_CONTEXT].to(dtype),
        yc.to(dtype),
        mask,
        x[:, MAX_CONTEXT:].to(dtype),
        y[:, MAX_CONTEXT:].to(dtype),
        torch.zeros(batch, dtype=torch.long),
    )


def terrain_split(num_tasks: int = 1024, seed: int = 2, offset: float = 0.0) -> Tasks:
    """The fixed, seeded terrain test set (``offset``: out of the region, see above)."""
    return sample_terrain_tasks(num_tasks, torch.Generator().manual_seed(seed), offset=offset)


def terrain_loglik(tasks: Tasks) -> Tensor:
    """(B,) exact predictive log-likelihood per target (independent marginals) of the true
    process: the GP posterior with mean ``h``; with an empty context, the prior."""
    xc, xt = tasks.xc.double(), tasks.xt.double()
    m = tasks.mask.double()
    eye = torch.eye(xc.shape[1], dtype=torch.float64)
    kcc = rbf(xc, xc) * m[:, :, None] * m[:, None, :]
    kcc = kcc + NOISE**2 * eye * m[:, :, None] + eye * (1 - m[:, :, None])
    chol = torch.linalg.cholesky(kcc)
    rc = (tasks.yc.double()[..., 0] - terrain(xc)) * m
    alpha = torch.cholesky_solve(rc[..., None], chol)[..., 0]
    kct = rbf(xc, xt) * m[:, :, None]
    mean = terrain(xt) + (kct * alpha[..., None]).sum(1)
    v = torch.linalg.solve_triangular(chol, kct, upper=False)
    var = 1.0 - v.pow(2).sum(1) + NOISE**2
    yt = tasks.yt.double()[..., 0]
    return (-0.5 * (_LOG2PI + var.log() + (yt - mean) ** 2 / var)).mean(1)


TERRAIN_MODELS = ("tnp", "tetnp", "tetnp_fixed")


def build_terrain(name: str, *, fixed_count: int = 4, p_drop: float = 0.5, **sizes) -> TNP:
    """A 2-D TNP, TE-TNP or TE-TNP with fixed inputs (zero outside [-2, 2]^2)."""
    if name not in TERRAIN_MODELS:
        raise ValueError(f"unknown terrain model {name!r}; expected one of {TERRAIN_MODELS}")
    fixed = None
    if name == "tetnp_fixed":
        lo, hi = REGION
        fixed = FixedInputs(2, fixed_count, domain=(lo, hi), p_drop=p_drop)
    return TNP(equivariant=name != "tnp", fixed=fixed, dim=2, **sizes)
