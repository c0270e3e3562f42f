"""Soft equivariance under mixed approximate symmetries (beside :mod:`lps.symmetrize`).

One equivariance penalty per candidate group, with strengths that tune themselves:

- :mod:`lps.soft.reps`: declared representations of O(3) x Scale (e3nn irreps and
  cartesian tensors, each with a degree under scaling).
- :mod:`lps.soft.projection`: exact, cached projectors onto the G-equivariant linear maps,
  and the layer-wise penalty ``1/2 ||W - P W||^2 + 1/2 ||b - P b||^2``.
- :mod:`lps.soft.mlp`: :class:`SoftMLP`, an MLP whose layers declare their representations.
- :mod:`lps.soft.pathway`: :class:`SoftPathway`, the soft model in residual-pathway form.
- :mod:`lps.soft.sampled`: the function-level penalty ``E ||f(g.x) - g.f(x)||^2`` for any model.
- :mod:`lps.soft.strengths`: the strength schedule, its logs and the bar chart of levels.
"""

from lps.soft.mlp import (
    GatedNonlinearity,
    RepBilinear,
    RepLinear,
    ScaleFeatures,
    SoftMLP,
    check_candidate,
)
from lps.soft.pathway import DEFAULT_EXACT_PENALTIES, EXACT_PENALTIES, SoftPathway
from lps.soft.projection import (
    equivariant_basis,
    project_bias,
    project_weight,
    projection_penalty,
    projector,
)
from lps.soft.reps import Block, Rep, element_matrices, group_matrices, rep_matrix
from lps.soft.sampled import act, parse_specs, relative_error, sampled_penalty
from lps.soft.strengths import Strengths, plot_strengths

__all__ = [
    "DEFAULT_EXACT_PENALTIES",
    "EXACT_PENALTIES",
    "Block",
    "GatedNonlinearity",
    "Rep",
    "RepBilinear",
    "RepLinear",
    "ScaleFeatures",
    "SoftMLP",
    "SoftPathway",
    "Strengths",
    "act",
    "check_candidate",
    "element_matrices",
    "equivariant_basis",
    "group_matrices",
    "parse_specs",
    "plot_strengths",
    "project_bias",
    "project_weight",
    "projection_penalty",
    "projector",
    "relative_error",
    "rep_matrix",
    "sampled_penalty",
]
