"""Residual pathway baseline: an exactly equivariant path plus a free path with an L2 prior.

``f(x) = f_eq(x) + f_free(x)`` (Finzi, Benton and Wilson 2021, "residual pathway priors"):
``f_eq`` is a :class:`~lps.soft.SoftMLP` kept projected onto one group (exactly equivariant
to it), ``f_free`` an unconstrained SoftMLP whose parameters pay
``prior * 1/2 ||theta_free||^2``, so the data must pay for every departure from the group.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lps.groups import Group
from lps.soft.mlp import SoftMLP

__all__ = ["ResidualPathway"]


class ResidualPathway(nn.Module):
    """``f_eq + f_free`` from ``rep_in`` to ``rep_out`` ((B, rep_in.dim) -> (B, rep_out.dim)).

    Args:
        rep_in, rep_out: the declared representations (as for :class:`SoftMLP`).
        group: the group the equivariant path is projected onto (e.g. ``"O(3)"``).
        prior: the L2 prior strength on the free path (>= 0).
        **kwargs: the :class:`SoftMLP` settings of both paths (hidden, layers, ...).
    """

    def __init__(self, rep_in, rep_out, group: Group | str, prior: float = 1e-2, **kwargs):
        super().__init__()
        if not prior >= 0:
            raise ValueError(f"ResidualPathway: prior must be >= 0, got {prior!r}")
        self.equivariant = SoftMLP(rep_in, rep_out, **kwargs)
        self.free = SoftMLP(rep_in, rep_out, **kwargs)
        self.group = self.equivariant.check_group(group)
        self.prior = float(prior)
        self.rep_in, self.rep_out = self.equivariant.rep_in, self.equivariant.rep_out
        self.project_()

    def forward(self, x: Tensor) -> Tensor:
        return self.equivariant(x) + self.free(x)

    def prior_penalty(self) -> Tensor:
        """``prior * 1/2 ||theta_free||^2`` (a scalar tensor)."""
        return 0.5 * self.prior * sum(p.pow(2).sum() for p in self.free.parameters())

    def check_group(self, group: Group | str) -> Group:
        return self.equivariant.check_group(group)

    def penalties(self, groups: list[str]) -> dict[str, Tensor]:
        """The free path's projection penalties (the equivariant path has none for its
        group), for logging."""
        return self.free.penalties(groups)

    @torch.no_grad()
    def project_(self, group: Group | str | None = None) -> ResidualPathway:
        """Project the equivariant path onto its group (``group``, if given, must be it)."""
        if group is not None and self.equivariant.check_group(group).name != self.group.name:
            raise ValueError(
                f"ResidualPathway: the equivariant path belongs to {self.group.name}, not {group!r}"
            )
        self.equivariant.project_(self.group)
        return self
