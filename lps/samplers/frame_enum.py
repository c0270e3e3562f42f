"""Enumerating a finite frame: sign patterns and the orderings of tied nodes.

A frame that is finite and small is averaged over exactly: its elements are listed one per
sample slot (b-major, ``B * k`` rows, slot ``j`` of input ``b`` in row ``b * k + j``), with
weights where some elements fill more slots than others.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor


def sign_patterns(count: int, width: int, repeat: int, batch: int, device) -> Tensor:
    """(batch * count * repeat, width) +-1 patterns: slot ``j`` holds the bits of
    ``j // repeat`` (bit ``c`` for column ``c``, -1 where set), the same for every input."""
    slot = torch.arange(count * repeat, device=device) // repeat
    bits = (slot.unsqueeze(1) >> torch.arange(width, device=device)) & 1
    return (1 - 2 * bits).double().repeat(batch, 1)


def _permutation_table(largest: int, device) -> Tensor:
    """(largest + 1, largest!, max(largest, 1)) long: ``table[n, t, r]`` is where the element
    of rank ``r`` goes under the ``t``-th permutation of ``n`` elements (itertools order)."""
    width = max(largest, 1)
    table = torch.zeros(largest + 1, math.factorial(largest), width, dtype=torch.long)
    for n in range(largest + 1):
        for t, perm in enumerate(itertools.permutations(range(n))):
            table[n, t, :n] = torch.tensor(perm, dtype=torch.long)
    return table.to(device)


def enumerate_ties(
    index: Tensor, ranks: list[Tensor], slots: int, fallback: Tensor
) -> tuple[Tensor, Tensor]:
    """Every ordering of the tied nodes of a sort, one per slot, when there are few of them.

    Args:
        index: (M, N) the sort of each row (canonical position -> node), ties in some order.
        ranks: the sort keys (each (M, N), equal values tied), most significant first.
        slots: T, the slots per input and sign pattern: row ``m`` is slot ``m % T``.
        fallback: (M, N) the index used where the orderings outnumber the slots.

    Returns:
        index (M, N): where a row's tie classes (runs of equal keys) have
        ``P = prod(size!) <= T`` orderings, slot ``t`` holds ordering ``t mod P`` of the
        classes of ``index``; elsewhere ``fallback``. weights (M,) float64: per slot,
        ``1 / (P * c)`` with ``c`` the slots holding the same ordering (so each ordering
        weighs ``1 / P`` in all), ``1 / T`` in fallback rows.
    """
    m, n = index.shape
    device = index.device
    keys = torch.stack([torch.gather(r, 1, index) for r in ranks], -1)  # (M, N, K) sorted
    starts_new = torch.ones(m, n, dtype=torch.bool, device=device)
    starts_new[:, 1:] = (keys[:, 1:] != keys[:, :-1]).any(-1)
    pos = torch.arange(n, device=device).expand(m, n)
    start = torch.where(starts_new, pos, 0).cummax(1).values  # first position of the class
    rank = pos - start
    class_id = starts_new.long().cumsum(1) - 1
    size = torch.zeros(m, n, dtype=torch.long, device=device)
    size = size.scatter_add(1, class_id, torch.ones_like(class_id)).gather(1, class_id)
    log_fact = torch.where(starts_new, torch.lgamma(size.double() + 1), 0.0)
    log_total = log_fact.sum(1)
    enumerated = log_total <= math.log(slots) + 1e-9
    # Mixed radix: the ordering number o reads digit (o // offset) % size! for each class.
    log_offset = (log_fact.cumsum(1) - log_fact).gather(1, start)
    small = enumerated.unsqueeze(1)
    offset = torch.where(small, log_offset.exp().round(), 1.0).long()
    fact = torch.where(small, torch.lgamma(size.double() + 1).exp().round(), 1.0).long()
    total = torch.where(enumerated, log_total.exp().round(), 1.0).long()
    slot = torch.arange(m, device=device) % slots
    order = slot % total
    digit = (order.unsqueeze(1) // offset) % fact
    largest = 1
    while math.factorial(largest + 1) <= slots:
        largest += 1
    table = _permutation_table(largest, device)
    cap = torch.where(small, size, 0).clamp_max(largest)
    new_rank = table[cap, digit.clamp_max(table.shape[1] - 1), rank.clamp_max(largest - 1)]
    new_pos = torch.where(small, start + new_rank, pos)
    listed = torch.empty_like(index).scatter_(1, new_pos, index)
    index = torch.where(small, listed, fallback)
    copies = (slots - 1 - order) // total + 1  # slots t < T with t % P == order
    weights = 1.0 / (total.double() * copies.double())
    weights = torch.where(enumerated, weights, 1.0 / slots)
    return index, weights
