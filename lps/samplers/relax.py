"""Differentiable relaxations of sorting: SoftSort and log-domain Sinkhorn, masked for padding.

All functions run in fp32 (also inside autocast). Shapes: scores (M, N), mask (M, N) bool
with real nodes first, soft permutation matrices (M, N, N) with rows indexing canonical
positions and columns indexing input nodes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lps.groups import Perm, full_precision

_PAD = 1e9  # added to padding scores so that padding sorts last, in its own order


def sort_scores(scores: Tensor, mask: Tensor | None) -> Tensor:
    """(M, N) index that sorts the real nodes by increasing score; padding stays at the end."""
    s = scores.float()
    if mask is not None:
        ramp = torch.arange(s.shape[1], device=s.device, dtype=s.dtype)
        s = torch.where(mask, s, _PAD + ramp)
    return torch.argsort(s, dim=1, stable=True)


def _pair_mask(mask: Tensor | None, m: int, n: int, device) -> tuple[Tensor, Tensor]:
    """(M, N, N) boolean: entries between real nodes, and the identity on padding."""
    if mask is None:
        mask = torch.ones(m, n, dtype=torch.bool, device=device)
    real = mask.unsqueeze(2) & mask.unsqueeze(1)
    eye = torch.eye(n, dtype=torch.bool, device=device)
    pad_diag = eye & ~mask.unsqueeze(2)
    return real, pad_diag


def softsort(scores: Tensor, index: Tensor, mask: Tensor | None, tau: float) -> Tensor:
    """Log-weights (M, N, N) of SoftSort: row i prefers the node whose score is i-th smallest.

    ``logits[m, i, j] = -|s[m, index[m, i]] - s[m, j]| / tau``, with -inf outside the real
    block and 0 on the padding diagonal.
    """
    s = scores.float()
    sorted_s = torch.gather(s, 1, index)
    logits = -(sorted_s.unsqueeze(2) - s.unsqueeze(1)).abs() / tau
    real, pad_diag = _pair_mask(mask, s.shape[0], s.shape[1], s.device)
    neg_inf = torch.finfo(logits.dtype).min
    return torch.where(real, logits, torch.where(pad_diag, 0.0, neg_inf))


def sinkhorn(log_alpha: Tensor, iters: int) -> Tensor:
    """Doubly-stochastic matrix from log-weights (M, N, N): ``iters`` row/column normalisations."""
    for _ in range(iters):
        log_alpha = log_alpha - torch.logsumexp(log_alpha, dim=2, keepdim=True)
        log_alpha = log_alpha - torch.logsumexp(log_alpha, dim=1, keepdim=True)
    return log_alpha.exp()


def row_entropy(soft: Tensor, mask: Tensor | None) -> Tensor:
    """Mean entropy (nats) of the rows of a soft permutation (M, N, N) over real rows; scalar."""
    ent = -(soft * torch.log(soft.clamp_min(1e-12))).sum(-1)  # (M, N)
    if mask is None:
        return ent.mean()
    w = mask.float()
    return (ent * w).sum() / w.sum().clamp_min(1.0)


#: Size of the random tie-break added to L2-normalised scores before sorting.
TIE_BREAK = 1e-6


def scores_to_perm(
    scores: Tensor,
    mask: Tensor | None,
    tau: float = 0.1,
    sinkhorn_iters: int = 10,
    relax: bool = True,
    tiebreak: Tensor | None = None,
) -> tuple[Perm, Tensor | None]:
    """Hard permutation from node scores (M, N), with a straight-through soft matrix.

    Scores are first L2-normalised over the real nodes (a positive rescaling: the order is
    kept and ``tau`` becomes a relative temperature). ``tiebreak`` (M, N), uniform in [0, 1)
    and attached to the nodes, is added times :data:`TIE_BREAK` before sorting: nodes whose
    scores tie (up to float rounding), such as 1-WL-equivalent nodes under zero noise, are
    then ordered at random instead of by their input index, which would leak the input
    order into a supposedly invariant model.

    Returns the element (``index`` from sorting in fp32, ``soft`` = Sinkhorn(SoftSort) when
    ``relax`` and gradients are on) and the mean row entropy of the soft matrix (or None).
    """
    with full_precision(scores.device):
        s = scores.float()
        real = s if mask is None else s * mask
        s = s / real.norm(dim=1, keepdim=True).clamp_min(1e-12)
        key = s.detach() if tiebreak is None else s.detach() + TIE_BREAK * tiebreak.float()
        index = sort_scores(key, mask)
        if not (relax and torch.is_grad_enabled() and s.requires_grad):
            return Perm(index), None
        soft = sinkhorn(softsort(s, index, mask, tau), sinkhorn_iters)
        return Perm(index, soft), row_entropy(soft, mask)
