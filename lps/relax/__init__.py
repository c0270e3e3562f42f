"""Approximate equivariance by learnable fixed inputs (beside :mod:`lps.symmetrize`).

- :class:`FixedInputs`: learnable fields ``b(x)`` of the world-frame position, with count,
  per-example dropout, a domain outside which they are zero, and an eval switch.
- :func:`symmetrize_relaxed`: a symmetrized model whose base model also receives ``b(x)``,
  untransformed; strict again with them off (:func:`forced`).
- :func:`departure`: the equivariance error with the fixed inputs on and off.
"""

from lps.relax.fixed_inputs import FixedInputs, forced
from lps.relax.symmetrized import (
    RegularInputsSampler,
    RelaxedSymmetrized,
    departure,
    symmetrize_relaxed,
)

__all__ = [
    "FixedInputs",
    "RegularInputsSampler",
    "RelaxedSymmetrized",
    "departure",
    "forced",
    "symmetrize_relaxed",
]
