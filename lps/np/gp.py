"""1-D Gaussian-process tasks with a Gibbs (non-stationary) kernel, and their exact ceiling.

Six kernels: the lengthscale switches between 4.0 and 0.1 at a changepoint ``c`` in
{-1, 0, 1}, in either direction. A task draws one kernel, 1-64 context points uniform on
[-2, 2] and 128 targets uniform on [-4, 4], and observes ``y = f(x) + 0.1 eps``.

The ceiling is the exact predictive log-likelihood of the true model, a mixture of the six
GPs with the posterior weights given the context (closed form, float64).

Shapes: context ``xc``/``yc`` (B, Nc, 1) padded to ``Nc = 64`` with the mask (B, Nc)
(real points first), targets ``xt``/``yt`` (B, Nt, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

#: (changepoint, lengthscale left of it, lengthscale right of it) of the six kernels.
KERNELS: tuple[tuple[float, float, float], ...] = tuple(
    (c, a, b) for c in (-1.0, 0.0, 1.0) for a, b in ((4.0, 0.1), (0.1, 4.0))
)
NOISE = 0.1
CONTEXT_RANGE = (-2.0, 2.0)
TARGET_RANGE = (-4.0, 4.0)
MAX_CONTEXT = 64
NUM_TARGETS = 128
_LOG2PI = math.log(2 * math.pi)


@dataclass
class Tasks:
    """A batch of regression tasks (see the module docstring for shapes); ``kernel`` (B,) is
    the index of the true kernel in :data:`KERNELS`, ``shift`` the translation of the task."""

    xc: Tensor
    yc: Tensor
    mask: Tensor
    xt: Tensor
    yt: Tensor
    kernel: Tensor
    shift: float = 0.0

    def __len__(self) -> int:
        return self.xc.shape[0]

    def slice(self, start: int, stop: int) -> Tasks:
        """Tasks ``start:stop``."""
        s = slice(start, stop)
        return Tasks(
            self.xc[s], self.yc[s], self.mask[s], self.xt[s], self.yt[s], self.kernel[s], self.shift
        )

    def shifted(self, shift: float) -> Tasks:
        """The same tasks translated by ``shift`` (their true kernels move with them)."""
        return Tasks(
            self.xc + shift,
            self.yc,
            self.mask,
            self.xt + shift,
            self.yt,
            self.kernel,
            self.shift + shift,
        )


def lengthscale(x: Tensor, kernel: Tensor, shift: float = 0.0) -> Tensor:
    """Lengthscales l(x) (B, N) at points ``x`` (B, N) for kernel indices (B,)."""
    table = torch.tensor(KERNELS, dtype=x.dtype, device=x.device)[kernel]  # (B, 3)
    c, left, right = (table[:, i : i + 1] for i in range(3))
    return torch.where(x < c + shift, left, right)


def gibbs(x1: Tensor, x2: Tensor, kernel: Tensor, shift: float = 0.0) -> Tensor:
    """The Gibbs kernel matrix (B, N, M) between points (B, N, 1) and (B, M, 1), unit variance:
    ``sqrt(2 l l' / (l^2 + l'^2)) exp(-(x - x')^2 / (l^2 + l'^2))``."""
    a, b = x1[..., 0], x2[..., 0]
    la, lb = lengthscale(a, kernel, shift)[:, :, None], lengthscale(b, kernel, shift)[:, None, :]
    s = la**2 + lb**2
    return torch.sqrt(2 * la * lb / s) * torch.exp(-((a[:, :, None] - b[:, None, :]) ** 2) / s)


def sample_tasks(
    batch: int,
    generator: torch.Generator | None = None,
    num_context: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tasks:
    """``batch`` tasks drawn from the six-kernel prior (float64 sampling, cast to ``dtype``).

    ``num_context``: the context size of every task (0 to 64); default uniform in 1..64.
    """
    g = generator
    n = MAX_CONTEXT
    if num_context is None:
        counts = torch.randint(1, n + 1, (batch,), generator=g)
    else:
        if not 0 <= num_context <= n:
            raise ValueError(f"num_context must be in 0..{n}, got {num_context}")
        counts = torch.full((batch,), num_context)
    kernel = torch.randint(0, len(KERNELS), (batch,), generator=g)
    lo, hi = CONTEXT_RANGE
    xc = lo + (hi - lo) * torch.rand(batch, n, 1, generator=g, dtype=torch.float64)
    lo, hi = TARGET_RANGE
    xt = lo + (hi - lo) * torch.rand(batch, NUM_TARGETS, 1, generator=g, dtype=torch.float64)
    x = torch.cat([xc, xt], 1)
    cov = gibbs(x, x, kernel) + 1e-8 * torch.eye(x.shape[1], dtype=torch.float64)
    f = torch.linalg.cholesky(cov) @ torch.randn(batch, x.shape[1], 1, generator=g, dtype=x.dtype)
    y = f + NOISE * torch.randn(f.shape, generator=g, dtype=f.dtype)
    mask = torch.arange(n)[None, :] < counts[:, None]
    y_c = y[:, :n] * mask[..., None]
    return Tasks(xc.to(dtype), y_c.to(dtype), mask, xt.to(dtype), y[:, n:].to(dtype), kernel)


def fixed_split(name: str, num_tasks: int = 4096, chunk: int = 512) -> Tasks:
    """The fixed, seeded ``"val"`` (seed 1) or ``"test"`` (seed 2) set of ``num_tasks`` tasks."""
    seeds = {"val": 1, "test": 2}
    if name not in seeds:
        raise ValueError(f"split must be one of {sorted(seeds)}, got {name!r}")
    g = torch.Generator().manual_seed(seeds[name])
    parts = [sample_tasks(min(chunk, num_tasks - i), g) for i in range(0, num_tasks, chunk)]
    return Tasks(
        *(
            torch.cat([getattr(p, f) for p in parts])
            for f in ("xc", "yc", "mask", "xt", "yt", "kernel")
        )
    )


def _per_kernel(tasks: Tasks, k: int, joint: bool) -> tuple[Tensor, Tensor, Tensor]:
    """For kernel ``k``: log evidence (B,), predictive mean (B, Nt) and variance (B, Nt) or
    covariance (B, Nt, Nt) when ``joint``; all float64."""
    xc, xt = tasks.xc.double(), tasks.xt.double()
    m = tasks.mask.double()
    batch = xc.shape[0]
    idx = torch.full((batch,), k, dtype=torch.long)
    eye = torch.eye(xc.shape[1], dtype=torch.float64)
    kcc = gibbs(xc, xc, idx, tasks.shift) * m[:, :, None] * m[:, None, :]
    kcc = kcc + NOISE**2 * eye * m[:, :, None] + eye * (1 - m[:, :, None])
    chol = torch.linalg.cholesky(kcc)
    yc = tasks.yc.double()[..., 0] * m
    alpha = torch.linalg.solve_triangular(chol, yc[..., None], upper=False)[..., 0]
    logdet = torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1)
    evidence = -0.5 * alpha.pow(2).sum(1) - logdet - 0.5 * m.sum(1) * _LOG2PI
    kct = gibbs(xc, xt, idx, tasks.shift) * m[:, :, None]
    v = torch.linalg.solve_triangular(chol, kct, upper=False)  # (B, Nc, Nt)
    mean = (v * alpha[..., None]).sum(1)
    if joint:
        ktt = gibbs(xt, xt, idx, tasks.shift)
        cov = ktt - v.transpose(1, 2) @ v + NOISE**2 * torch.eye(xt.shape[1], dtype=torch.float64)
        return evidence, mean, cov
    var = 1.0 - v.pow(2).sum(1) + NOISE**2  # the Gibbs kernel has unit variance
    return evidence, mean, var


def gp_loglik(tasks: Tasks, joint: bool = False) -> Tensor:
    """(B,) exact predictive log-likelihood per target of the six-kernel GP mixture.

    ``joint=False`` (the ceiling of a model with independent Gaussian marginals):
    ``mean_i log sum_k w_k N(yt_i; mu_ki, s2_ki)``; ``joint=True``:
    ``log sum_k w_k N(yt; mu_k, S_k) / Nt``. ``w_k`` is the posterior of kernel ``k`` given
    the context (uniform prior); with an empty context it is the prior (prior predictive).
    """
    yt = tasks.yt.double()[..., 0]
    logw, terms = [], []
    for k in range(len(KERNELS)):
        evidence, mean, var = _per_kernel(tasks, k, joint)
        logw.append(evidence)
        if joint:
            dist = torch.distributions.MultivariateNormal(mean, var)
            terms.append(dist.log_prob(yt))
        else:
            terms.append(-0.5 * (_LOG2PI + var.log() + (yt - mean) ** 2 / var))
    logw = torch.stack(logw, 0)
    logw = logw - torch.logsumexp(logw, 0, keepdim=True)
    terms = torch.stack(terms, 0)
    if joint:
        return torch.logsumexp(logw + terms, 0) / yt.shape[1]
    return torch.logsumexp(logw[..., None] + terms, 0).mean(1)


def equivariant_ceiling(tasks: Tasks, num_shifts: int = 21) -> Tensor:
    """(B,) the best log-likelihood per target of any translation-equivariant model: the
    Bayes predictive when the task is known only up to a translation ``s``.

    An equivariant model sees the context and each target relative to one another, not
    where they lie: for it the absolute offset ``s`` is uniform over the offsets that keep
    every context input in [-2, 2] (and the target in [-4, 4], up to one grid step). The
    predictive of each target is the mixture over the six kernels and ``num_shifts`` offsets
    on a midpoint grid of that interval, weighted by the context's evidence. The gap between
    :func:`gp_loglik` and this is the most that knowing the absolute position (what fixed
    inputs supply) can add in the training region.
    """
    if len(tasks) == 0:
        raise ValueError("equivariant_ceiling: no tasks")
    big = torch.tensor(1e9, dtype=torch.float64)
    xc = tasks.xc.double()[..., 0] - tasks.shift
    m = tasks.mask
    lo = torch.where(m, xc, -big).amax(1) - CONTEXT_RANGE[1]
    hi = torch.where(m, xc, big).amin(1) - CONTEXT_RANGE[0]
    empty = ~m.any(1)
    lo, hi = torch.where(empty, 0.0, lo), torch.where(empty, 0.0, hi)
    yt = tasks.yt.double()[..., 0]
    xt = tasks.xt.double()[..., 0] - tasks.shift
    logw, terms = [], []
    for j in range(num_shifts):
        s = lo + (hi - lo) * (j + 0.5) / num_shifts  # (B,)
        moved = Tasks(
            tasks.xc.double() - tasks.shift - s[:, None, None],
            tasks.yc,
            tasks.mask,
            tasks.xt.double() - tasks.shift - s[:, None, None],
            tasks.yt,
            tasks.kernel,
        )
        step = ((hi - lo) / num_shifts)[:, None]  # a grid step of slack at the edges
        inside = ((xt - s[:, None]).abs() <= TARGET_RANGE[1] + step) | empty[:, None]
        for k in range(len(KERNELS)):
            evidence, mean, var = _per_kernel(moved, k, joint=False)
            logw.append(evidence[:, None] + torch.where(inside, 0.0, -torch.inf))
            terms.append(-0.5 * (_LOG2PI + var.log() + (yt - mean) ** 2 / var))
    logw = torch.stack(logw, 0)  # (J * 6, B, Nt)
    logw = logw - torch.logsumexp(logw, 0, keepdim=True)
    return torch.logsumexp(logw + torch.stack(terms, 0), 0).mean(1)
