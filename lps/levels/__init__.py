"""Per-input symmetry levels learned without labels (the "levels" layer).

- :mod:`lps.levels.estimators`: levels from a sample of angles (uniform, Gaussian, C_n).
"""

from lps.levels.estimators import (
    check_level_degrees,
    discrete_level,
    discrete_log_likelihoods,
    gaussian_level,
    uniform_level_mean,
    uniform_level_ml,
    wrap_degrees,
)

__all__ = [
    "check_level_degrees",
    "discrete_level",
    "discrete_log_likelihoods",
    "gaussian_level",
    "uniform_level_mean",
    "uniform_level_ml",
    "wrap_degrees",
]
