"""Separation counts over seeds: undistinguished pairs under both rules.

A pair is separated by a seed under the literature rule when its distance exceeds that
seed's threshold, and under the noise-aware rule when it also exceeds ``sigma`` times the
root of the summed squared standard errors; it is undistinguished when no seed separates it.
Distances are float64; no Python loop runs over pairs.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _all_pairs_separated(
    emb: list[Tensor], err: list[Tensor], thr_lit: list[float], sigma: float, block: int = 1024
) -> tuple[int, int, list[tuple[int, int]]]:
    """Undistinguished pairs ``i < j`` over all graphs: (literature, noise-aware, examples).

    ``emb[s]`` (G, D) float64, ``err[s]`` (G,), one entry per seed.
    """
    count = emb[0].shape[0]
    undist_lit = undist_noise = 0
    examples: list[tuple[int, int]] = []
    cols = torch.arange(count)
    for start in range(0, count, block):
        rows = torch.arange(start, min(start + block, count))
        upper = cols[None, :] > rows[:, None]
        sep_lit = torch.zeros(len(rows), count, dtype=torch.bool)
        sep_noise = torch.zeros_like(sep_lit)
        for e, v, t in zip(emb, err, thr_lit):
            dist = torch.cdist(e[rows], e)
            noise = sigma * (v[rows, None] + v[None, :]).sqrt()
            sep_lit |= dist > t
            sep_noise |= (dist > t) & (dist > noise)
        undist = upper & ~sep_lit
        undist_lit += int(undist.sum())
        undist_noise += int((upper & ~sep_noise).sum())
        if len(examples) < 10 and bool(undist.any()):
            idx = undist.nonzero()[: 10 - len(examples)]
            examples += [(int(start + i), int(j)) for i, j in idx]
    return undist_lit, undist_noise, examples


def _listed_pairs_separated(
    emb: list[Tensor], err: list[Tensor], thr_lit: list[float], sigma: float, pairs: Tensor
) -> tuple[int, int, list[tuple[int, int]]]:
    sep_lit = torch.zeros(pairs.shape[0], dtype=torch.bool)
    sep_noise = torch.zeros_like(sep_lit)
    for e, v, t in zip(emb, err, thr_lit):
        dist = (e[pairs[:, 0]] - e[pairs[:, 1]]).norm(dim=-1)
        noise = sigma * (v[pairs[:, 0]] + v[pairs[:, 1]]).sqrt()
        sep_lit |= dist > t
        sep_noise |= (dist > t) & (dist > noise)
    examples = [tuple(int(i) for i in p) for p in pairs[~sep_lit][:10]]
    return int((~sep_lit).sum()), int((~sep_noise).sum()), examples
