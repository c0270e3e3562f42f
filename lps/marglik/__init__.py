"""Layer-wise symmetry discovery by the Laplace marginal likelihood.

Each layer is a sum of an equivariant path and a free path with their own Gaussian prior
precisions, learned by maximizing a Kronecker-factored Laplace marginal likelihood:

- :mod:`lps.marglik.kron`: the KFAC interface (:class:`KronLayer`) and the linear head.
- :mod:`lps.marglik.layers`: image layers (conv + dense / factored dense paths,
  shift-equivariant stride-2 subsampling, :class:`ResidualImageNet`).
- :mod:`lps.marglik.set_layers`: set layers (S_n-equivariant + dense paths).
- :mod:`lps.marglik.laplace`: per-tensor precisions, the curvature pass, the marginal
  likelihood and effective dimensionalities.
- :mod:`lps.marglik.train`: MAP or marginal-likelihood training, NaN-safe.
- :mod:`lps.marglik.readout`: per-layer precisions, effective dimensions, free-path shares
  and their figure.
- :mod:`lps.marglik.backbones`: the networks as backbones ``marglik_image``, ``marglik_set``.
"""

from lps.marglik import backbones as _backbones  # noqa: F401  (registers the backbones)
from lps.marglik.kron import KronLayer, Readout
from lps.marglik.laplace import (
    Curvature,
    MarglikError,
    Precisions,
    collect_curvature,
    effective_dims,
    log_marglik,
)
from lps.marglik.layers import (
    ConvPath,
    DensePath,
    FactoredPath,
    ResidualConvLayer,
    ResidualImageNet,
    aps_subsample,
)
from lps.marglik.readout import layer_readout, plot_shares, prior_rms
from lps.marglik.set_layers import ResidualSetLayer, ResidualSetNet, SetEquivariantPath
from lps.marglik.train import MarglikSettings, hyper_step, save_checkpoint, train_marglik

__all__ = [
    "ConvPath",
    "Curvature",
    "DensePath",
    "FactoredPath",
    "KronLayer",
    "MarglikError",
    "MarglikSettings",
    "Precisions",
    "Readout",
    "ResidualConvLayer",
    "ResidualImageNet",
    "ResidualSetLayer",
    "ResidualSetNet",
    "SetEquivariantPath",
    "aps_subsample",
    "collect_curvature",
    "effective_dims",
    "hyper_step",
    "layer_readout",
    "log_marglik",
    "plot_shares",
    "prior_rms",
    "save_checkpoint",
    "train_marglik",
]
