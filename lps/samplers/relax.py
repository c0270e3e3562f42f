"""Differentiable relaxations of sorting: SoftSort and Sinkhorn, masked for padding.

All functions run in fp32 (also inside autocast). Shapes: scores (M, N), mask (M, N) bool
with real nodes first, soft permutation matrices (M, N, N) with rows indexing canonical
positions and columns indexing input nodes. The banded variants keep only the entries within
``w`` sorted positions of the diagonal, as (M, N, 2w + 1) (see :mod:`lps.groups.band`).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from lps.groups import Perm, full_precision
from lps.groups.band import BandedSoft, band_columns

_PAD = 1e9  # added to padding scores so that padding sorts last, in its own order


def lexsort(keys: list[Tensor], first: Tensor) -> Tensor:
    """(M, N) index sorting rows by ``keys`` (most significant first) after the ``first`` key."""
    index = torch.argsort(keys[-1], dim=1, stable=True)
    for key in reversed([first] + keys[:-1]):
        index = torch.gather(
            index, 1, torch.argsort(torch.gather(key, 1, index), dim=1, stable=True)
        )
    return index


def tie_ranks(key: Tensor, tol: float) -> Tensor:
    """(M, N) dense ranks of ``key`` per row, values closer than ``tol`` (chained) sharing one.

    Rounding to a fixed grid would split a tie whose value sits on a rounding boundary (e.g.
    ``1/32 / 1e-4 = 312.5``), differently for a relabelled copy; ranking the sorted gaps does
    not depend on where the values fall.
    """
    sorted_key, order = torch.sort(key, dim=1)
    gaps = (sorted_key[:, 1:] - sorted_key[:, :-1] > tol).float()
    step = torch.cat([torch.zeros_like(sorted_key[:, :1]), gaps], 1)
    return torch.empty_like(step).scatter_(1, order, step.cumsum(1))


def sort_scores(
    scores: Tensor, mask: Tensor | None, tiebreak: Tensor | None = None, tol: float = 0.0
) -> Tensor:
    """(M, N) index sorting the real nodes by increasing score; padding stays at the end.

    With ``tiebreak`` (M, N), scores closer than ``tol`` (chained) count as tied and are
    ordered by the tie-break, so the result does not depend on the input order of tied nodes
    nor on float noise below ``tol``.
    """
    s = scores if scores.dtype == torch.float64 else scores.float()
    m, n = s.shape
    ramp = torch.arange(n, device=s.device, dtype=s.dtype)
    if tiebreak is None:
        if mask is not None:
            s = torch.where(mask, s, _PAD + ramp)
        return torch.argsort(s, dim=1, stable=True)
    ranks = tie_ranks(s, tol) if tol > 0 else s
    first = torch.zeros_like(s) if mask is None else torch.where(mask, 0.0, 1.0 + ramp)
    return lexsort([ranks, tiebreak.float()], first)


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


def softsort_band(
    scores: Tensor, index: Tensor, mask: Tensor | None, tau: float, width: int
) -> Tensor:
    """Log-weights (M, N, 2w + 1) of SoftSort on the band of half-width ``width``.

    ``logits[m, i, w + d] = -|s_(i) - s_(i + d)| / tau`` with ``s_(i)`` the i-th smallest
    score: the entries of :func:`softsort` whose column node is within ``width`` sorted
    positions of row ``i``; -inf outside the real block and the range, 0 on the padding
    diagonal.
    """
    s = scores.float()
    m, n = s.shape
    sorted_s = torch.gather(s, 1, index)
    real_sorted = (
        torch.ones_like(index, dtype=torch.bool) if mask is None else torch.gather(mask, 1, index)
    )
    cols, valid = band_columns(n, width, s.device)
    flat = cols.reshape(1, -1).expand(m, -1)
    col_s = torch.gather(sorted_s, 1, flat).view(m, n, -1)
    col_real = torch.gather(real_sorted, 1, flat).view(m, n, -1)
    logits = -(sorted_s.unsqueeze(2) - col_s).abs() / tau
    real = real_sorted.unsqueeze(2) & col_real & valid
    pad_diag = ~real_sorted.unsqueeze(2) & (torch.arange(2 * width + 1, device=s.device) == width)
    neg_inf = torch.finfo(logits.dtype).min
    return torch.where(real, logits, torch.where(pad_diag, 0.0, neg_inf))


def sinkhorn(log_alpha: Tensor, iters: int) -> Tensor:
    """Doubly-stochastic matrix from log-weights (M, N, N): ``iters`` row/column normalisations.

    Runs in the exp domain: one ``exp``, then alternating divisions by the row and column
    sums. These are the iterates of log-domain Sinkhorn (which pays an ``exp`` per half-step
    in its ``logsumexp``); entries that underflow are those far below the matched entry of
    their row, which is ``exp(0) = 1`` for a SoftSort matrix, so every row and column keeps
    a mass of at least 1/N and nothing that underflows could have grown back.
    """
    p = torch.exp(log_alpha - log_alpha.amax(dim=2, keepdim=True))
    tiny = torch.finfo(p.dtype).tiny
    for _ in range(iters):
        p = p / p.sum(2, keepdim=True).clamp_min(tiny)
        p = p / p.sum(1, keepdim=True).clamp_min(tiny)
    return p


def sinkhorn_band(log_alpha: Tensor, iters: int) -> Tensor:
    """:func:`sinkhorn` on a band (M, N, 2w + 1): the same row and column normalisations,
    with the column sums read along the band's anti-diagonals. O(iters M N w)."""
    m, n, width2 = log_alpha.shape
    device = log_alpha.device
    cols, _ = band_columns(n, (width2 - 1) // 2, device)
    # Column r of the band matrix holds entries (r - d, w + d): gather them into row r.
    offsets = torch.arange(width2, device=device)
    rows = torch.arange(n, device=device).unsqueeze(1) - (offsets - (width2 - 1) // 2)
    rows_ok = (rows >= 0) & (rows < n)
    skew = (rows.clamp(0, n - 1) * width2 + offsets).reshape(1, -1).expand(m, -1)
    cols = cols.reshape(1, -1).expand(m, -1)
    p = torch.exp(log_alpha - log_alpha.amax(dim=2, keepdim=True))
    tiny = torch.finfo(p.dtype).tiny
    for _ in range(iters):
        p = p / p.sum(2, keepdim=True).clamp_min(tiny)
        col_sum = (torch.gather(p.reshape(m, -1), 1, skew).view(m, n, -1) * rows_ok).sum(2)
        p = p / torch.gather(col_sum, 1, cols).view(m, n, -1).clamp_min(tiny)
    return p


def sinkhorn_log(log_alpha: Tensor, iters: int) -> Tensor:
    """Reference log-domain Sinkhorn (same iterates as :func:`sinkhorn`, slower)."""
    for _ in range(iters):
        log_alpha = log_alpha - torch.logsumexp(log_alpha, dim=2, keepdim=True)
        log_alpha = log_alpha - torch.logsumexp(log_alpha, dim=1, keepdim=True)
    return log_alpha.exp()


def row_entropy(soft: Tensor, mask: Tensor | None) -> Tensor:
    """Mean entropy (nats) of the rows of a soft permutation (M, N, N) or band (M, N, 2w + 1)
    over real rows (``mask`` in the rows' order); scalar."""
    ent = -(soft * torch.log(soft.clamp_min(1e-12))).sum(-1)  # (M, N)
    if mask is None:
        return ent.mean()
    w = mask.float()
    return (ent * w).sum() / w.sum().clamp_min(1.0)


def band_mass(soft: Tensor, index: Tensor, mask: Tensor | None, width: int) -> Tensor:
    """Share of a dense soft permutation's mass (M, N, N) on the real rows that lies within
    ``width`` sorted positions of the diagonal: what a band of that half-width keeps; scalar.
    """
    n = soft.shape[1]
    q = torch.gather(soft, 2, index.unsqueeze(1).expand(-1, n, -1))  # columns in sorted order
    offsets = (
        torch.arange(n, device=soft.device)[None, :] - torch.arange(n, device=soft.device)[:, None]
    ).abs()
    inside = (q * (offsets <= width)).sum(2)
    if mask is None:
        return inside.sum() / q.sum()
    return (inside * mask).sum() / (q.sum(2) * mask).sum()


#: L2-normalised scores closer than this (chained) count as tied when sorting, by the dtype
#: the scores were computed in. Relabelling the input changes the summation order inside the
#: sampler network, so equal scores differ by rounding noise; a gap that lies within that
#: noise of the tolerance can be tied for one labelling and not for the other. In float64
#: the noise (~1e-15) is so far below the tolerance that this does not happen in practice.
TIE_TOL = {torch.float64: 1e-9, torch.float32: 1e-5}


def scores_to_perm(
    scores: Tensor,
    mask: Tensor | None,
    tau: float = 0.1,
    sinkhorn_iters: int = 10,
    relax: bool = True,
    tiebreak: Tensor | None = None,
    band: int | None = None,
) -> tuple[Perm, Tensor | None]:
    """Hard permutation from node scores (M, N), with a straight-through soft matrix.

    Scores are first L2-normalised over the real nodes (a positive rescaling: the order is
    kept and ``tau`` becomes a relative temperature). Scores closer than :data:`TIE_TOL`
    count as tied and are ordered by ``tiebreak`` (M, N), uniform and attached to the nodes:
    tied nodes, such as 1-WL-equivalent ones under zero noise, are then ordered at random
    instead of by their input index (which would leak the input order into a supposedly
    invariant model), and float noise in the scores (summation order differs for a
    relabelled input) cannot reorder them, so coupled-noise mode stays exact.

    With ``band = w`` the relaxation keeps only the entries within ``w`` sorted positions of
    the diagonal: SoftSort and Sinkhorn on that band cost O(M N w) instead of O(M N^2), and
    ``soft`` is a :class:`~lps.groups.band.BandedSoft`. Where the dense matrix has mass
    outside the band (large N and ``tau``), the banded one is a sharper relaxation, not an
    approximation of it; with ``w >= N - 1`` the dense matrix is used (it is the same).

    Returns the element (``index`` from sorting in the scores' precision, at least fp32;
    ``soft`` = Sinkhorn(SoftSort) in fp32 when
    ``relax`` and gradients are on) and the mean row entropy of the soft matrix (or None).
    """
    if band is not None and band < 0:
        raise ValueError(f"scores_to_perm: band must be >= 0 (or None for dense), got {band}")
    with full_precision(scores.device):
        s = scores if scores.dtype == torch.float64 else scores.float()
        real = s if mask is None else s * mask
        s = s / real.norm(dim=1, keepdim=True).clamp_min(1e-12)
        index = sort_scores(s.detach(), mask, tiebreak, TIE_TOL[s.dtype])
        if not (relax and torch.is_grad_enabled() and s.requires_grad):
            return Perm(index), None
        # The relaxation only carries gradients: fp32 is enough for it. It is recomputed in
        # the backward pass instead of keeping every Sinkhorn iterate (about 27 (M, N, N)
        # tensors) alive until then: only the scores and the soft matrix are stored.
        if band is not None and band >= s.shape[1] - 1:
            band = None
        soft, entropy = checkpoint(
            _relax, s.float(), index, mask, tau, sinkhorn_iters, band, use_reentrant=False
        )
        return Perm(index, soft if band is None else BandedSoft(soft)), entropy


def _relax(
    scores: Tensor,
    index: Tensor,
    mask: Tensor | None,
    tau: float,
    iters: int,
    band: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Soft permutation (M, N, N) = Sinkhorn(SoftSort), or its band (M, N, 2w + 1), and the
    mean row entropy."""
    if band is None:
        soft = sinkhorn(softsort(scores, index, mask, tau), iters)
    else:
        soft = sinkhorn_band(softsort_band(scores, index, mask, tau, band), iters)
    return soft, row_entropy(soft, mask)
