"""Per-input symmetry levels learned without labels (the "levels" layer).

- :mod:`lps.levels.estimators`: levels from a sample of angles (uniform, Gaussian, C_n).
- :mod:`lps.levels.autoencoder`: phi (invariant embedding) and psi (canonicalizing rotation).
- :mod:`lps.levels.pseudo`: pseudo-labels by k nearest neighbours in phi.
- :mod:`lps.levels.level_net`: theta(x), invariant by construction.
- :mod:`lps.levels.uses`: out-of-symmetry flags, standardization, partial symmetrization.
"""

from lps.levels.autoencoder import InvariantEquivariantAE, encode, train_autoencoder
from lps.levels.estimators import (
    check_level_degrees,
    discrete_level,
    discrete_log_likelihoods,
    gaussian_level,
    uniform_level_mean,
    uniform_level_ml,
    wrap_degrees,
)
from lps.levels.level_net import LevelNetwork, fit_level_network
from lps.levels.pseudo import discrete_offsets, knn_indices, pseudo_levels
from lps.levels.uses import SymmetryLevels

__all__ = [
    "InvariantEquivariantAE",
    "LevelNetwork",
    "SymmetryLevels",
    "discrete_offsets",
    "encode",
    "fit_level_network",
    "knn_indices",
    "pseudo_levels",
    "train_autoencoder",
    "check_level_degrees",
    "discrete_level",
    "discrete_log_likelihoods",
    "gaussian_level",
    "uniform_level_mean",
    "uniform_level_ml",
    "wrap_degrees",
]
