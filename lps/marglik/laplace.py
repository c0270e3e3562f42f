"""The Laplace marginal likelihood over per-tensor prior precisions, with a KFAC GGN.

With a Gaussian prior ``theta_l ~ N(0, delta_l^-1 I)`` per parameter tensor ``l`` (``P_l``
entries) and the GGN ``H`` of the negative log likelihood ``L`` at ``theta``:

    log p(D | delta) ~ -L(theta) - 1/2 sum_l delta_l ||theta_l||^2
                       + 1/2 sum_l P_l log delta_l - 1/2 log det(H + diag(delta)),

the ``2 pi`` terms of prior and Laplace cancelling. ``H`` is block diagonal over tensors
and each block a sum of Kronecker products (:mod:`lps.marglik.kron`), so the log
determinant is ``sum log(eg_i ea_j + delta_l)`` over eigenvalues, differentiable in
``log delta``. The GGN is computed exactly (one backward pass per output dimension) or,
for classification, by sampling labels from the model (``mode="mc"``, the Fisher).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lps.marglik.kron import KronLayer

__all__ = [
    "Curvature",
    "MarglikError",
    "Precisions",
    "collect_curvature",
    "effective_dims",
    "log_marglik",
]


class MarglikError(RuntimeError):
    """The marginal likelihood or a prior precision became non-finite or non-positive."""


class Precisions(nn.Module):
    """One prior precision per parameter tensor, stored as ``log_delta`` ``(L,)``."""

    def __init__(self, model: nn.Module, init: float | dict[str, float] = 1.0) -> None:
        super().__init__()
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        vals = [init.get(n, 1.0) if isinstance(init, dict) else init for n in self.names]
        for n, v in zip(self.names, vals):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"Precisions: prior precision of {n!r} must be > 0, got {v}")
        self.log_delta = nn.Parameter(torch.tensor(vals, dtype=torch.float64).log())

    def values(self) -> dict[str, float]:
        """Prior precision per parameter name."""
        return dict(zip(self.names, self.log_delta.detach().exp().tolist()))

    def check(self) -> None:
        """Raise :class:`MarglikError` if a precision is non-finite or non-positive."""
        delta = self.log_delta.detach().exp()
        bad = [n for n, d in zip(self.names, delta.tolist()) if not (math.isfinite(d) and d > 0)]
        if bad:
            raise MarglikError(f"prior precisions non-finite or non-positive for {bad}")

    def penalty(self, model: nn.Module) -> Tensor:
        """``1/2 sum_l delta_l ||theta_l||^2`` (delta detached) for the training loss."""
        delta = self.log_delta.detach().exp()
        params = dict(model.named_parameters())
        return 0.5 * sum(d.float() * params[n].pow(2).sum() for n, d in zip(self.names, delta))


@dataclass
class Curvature:
    """KFAC eigen pairs per parameter name, the summed NLL and the number of data points."""

    eigs: dict[str, list[tuple[Tensor, Tensor]]]
    nll: float
    n: int


def _vectors(
    f: Tensor, likelihood: str, mode: str, samples: int, sigma: float, gen
) -> list[Tensor]:
    """Backprop vectors ``v_k`` (each ``(B, K)``) with ``sum_k v_k v_k^T`` the output GGN."""
    if likelihood == "gaussian":
        eye = torch.eye(f.shape[1], dtype=f.dtype)
        return [eye[k].expand_as(f) / sigma for k in range(f.shape[1])]
    p = f.detach().softmax(1)
    if mode == "exact":  # columns of M = diag(sqrt p) - p sqrt(p)^T, M M^T = diag(p) - p p^T
        sq = p.sqrt()
        m = torch.diag_embed(sq) - p[:, :, None] * sq[:, None, :]
        return [m[:, :, k] for k in range(f.shape[1])]
    vs = []
    for _ in range(samples):
        y = torch.multinomial(p, 1, generator=gen).squeeze(1)
        vs.append((p - F.one_hot(y, f.shape[1]).to(p.dtype)) / samples**0.5)
    return vs


def collect_curvature(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    likelihood: str = "classification",
    mode: str = "mc",
    samples: int = 1,
    sigma: float = 1.0,
    seed: int = 0,
    n_data: int | None = None,
) -> Curvature:
    """One pass over ``batches`` of ``(x, y)``: KFAC eigen pairs of every parameter tensor.

    With ``n_data``, the batches are a subset of a training set of ``n_data`` points: the
    GGN and the NLL are scaled by ``n_data / (points seen)``.

    Every trainable parameter must belong to a :class:`KronLayer`; otherwise a ValueError
    names the parameters that have no curvature.
    """
    if likelihood not in ("classification", "gaussian"):
        raise ValueError(f"likelihood must be 'classification' or 'gaussian', got {likelihood!r}")
    if mode not in ("mc", "exact"):
        raise ValueError(f"mode must be 'mc' or 'exact', got {mode!r}")
    layers = {n: m for n, m in model.named_modules() if isinstance(m, KronLayer)}
    gen = torch.Generator().manual_seed(seed)
    stats: dict[str, dict] = {n: {} for n in layers}
    nll, count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        for m in layers.values():
            m.capturing = True
        for x, y in batches:
            f = model(x)
            caps = {n: m.captured for n, m in layers.items()}
            outs = [c[1] for c in caps.values()]
            if likelihood == "gaussian":
                yy = y.reshape(f.shape).to(f.dtype)
                nll += float(((f.detach() - yy) ** 2).sum() / (2 * sigma**2))
                nll += f.numel() * 0.5 * math.log(2 * math.pi * sigma**2)
            else:
                nll += float(F.cross_entropy(f.detach(), y, reduction="sum"))
            grads: dict[str, list[Tensor]] = {n: [] for n in layers}
            for v in _vectors(f, likelihood, mode, samples, sigma, gen):
                gs = torch.autograd.grad(f, outs, grad_outputs=v.to(f.dtype), retain_graph=True)
                for n, g in zip(caps, gs):
                    grads[n].append(g)
            for n, m in layers.items():
                m.kron_accumulate(stats[n], caps[n][0].detach(), grads[n])
            count += x.shape[0]
    finally:
        for m in layers.values():
            m.capturing, m.captured = False, None
        model.train(was_training)
    eigs = {}
    for n, m in layers.items():
        for k, v in m.kron_eigen(stats[n], count).items():
            eigs[f"{n}.{k}" if n else k] = v
    scale = 1.0 if n_data is None else n_data / count
    eigs = {k: [(eg * scale, ea) for eg, ea in v] for k, v in eigs.items()}
    missing = [n for n, p in model.named_parameters() if p.requires_grad and n not in eigs]
    if missing:
        raise ValueError(f"collect_curvature: no KronLayer owns the parameters {missing}")
    return Curvature(eigs, nll * scale, count if n_data is None else n_data)


def log_marglik(model: nn.Module, prec: Precisions, curv: Curvature) -> Tensor:
    """The Laplace log marginal likelihood, differentiable in ``prec.log_delta`` (float64)."""
    params = dict(model.named_parameters())
    total = torch.tensor(-curv.nll, dtype=torch.float64)
    for name, log_d in zip(prec.names, prec.log_delta):
        theta = params[name].detach().double()
        delta = log_d.exp()
        total = total - 0.5 * delta * theta.pow(2).sum() + 0.5 * theta.numel() * log_d
        for eg, ea in curv.eigs[name]:
            total = total - 0.5 * torch.log(eg[:, :, None] * ea[:, None, :] + delta).sum()
    return total


def effective_dims(prec: Precisions, curv: Curvature) -> dict[str, float]:
    """``sum_i h_i / (h_i + delta)`` over the GGN eigenvalues ``h_i`` of each tensor."""
    out = {}
    for name, d in prec.values().items():
        out[name] = float(
            sum(
                (h / (h + d)).sum()
                for h in (eg[:, :, None] * ea[:, None, :] for eg, ea in curv.eigs[name])
            )
        )
    return out
