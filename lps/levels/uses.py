"""What learned symmetry levels are for: flag out-of-symmetry inputs, standardize a data set,
and symmetrize partially (rotations only within each input's level).

:class:`SymmetryLevels` holds a trained :class:`~lps.levels.InvariantEquivariantAE` (phi,
psi) and a :class:`~lps.levels.LevelNetwork` (theta). Levels are in degrees: the half-width
for ``uniform``, sigma for ``gaussian`` (an input is in its symmetry within ``gauss_k``
sigma, 2 by default), the order n for ``discrete`` (in its symmetry within ``tolerance``
degrees of a multiple of 360 / n, the offset taken from its neighbours in phi).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from lps.levels.autoencoder import InvariantEquivariantAE
from lps.levels.estimators import check_level_degrees, wrap_degrees
from lps.levels.level_net import LevelNetwork
from lps.levels.pseudo import discrete_offsets, knn_indices


class SymmetryLevels(nn.Module):
    """phi, psi and theta together, with the three uses.

    Args:
        ae: the trained autoencoder; level_net: the trained level network.
        gauss_k: a Gaussian level's width in sigmas. tolerance: degrees around a C_n pose.
        bank: (embeddings (N, D), angles (N,) degrees) of the training set, for the
            offsets of discrete levels.
    """

    def __init__(
        self,
        ae: InvariantEquivariantAE,
        level_net: LevelNetwork,
        gauss_k: float = 2.0,
        tolerance: float = 15.0,
        bank: tuple[Tensor, Tensor] | None = None,
        neighbours: int = 30,
    ):
        super().__init__()
        self.ae, self.level_net = ae, level_net
        self.kind, self.gauss_k, self.tolerance = level_net.kind, gauss_k, tolerance
        self.bank, self.neighbours = bank, neighbours
        if self.kind == "discrete" and bank is None:
            raise ValueError("discrete levels need the training bank (embeddings, angles)")

    def _pose_and_level(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """psi(x) (B,) radians, phi(x) (B, D) and theta(x) (B,) (degrees, or the order n)."""
        a = self.ae.psi(x)
        z = self.ae.phi(x, a)
        return a, z, self.level_net.level(z)

    @torch.no_grad()
    def describe(self, x: Tensor) -> dict[str, Tensor]:
        """Per input (B,): ``angle`` psi (degrees), ``level`` theta, ``width`` (degrees:
        the half-width an input's pose may take; C_n: the tolerance), ``out`` (bool)."""
        a, z, level = self._pose_and_level(x)
        angle = wrap_degrees(a.double() * (180.0 / math.pi))
        if self.kind == "discrete":
            emb, bank_angles = self.bank
            idx = knn_indices(z, emb, self.neighbours)
            offset = discrete_offsets(bank_angles.double()[idx], level)
            step = 360.0 / level
            rel = angle - offset
            dist = wrap_degrees(rel - torch.round(rel / step) * step).abs()
            width = torch.full_like(angle, self.tolerance)
            out = dist > self.tolerance
        else:
            width = level * (self.gauss_k if self.kind == "gaussian" else 1.0)
            out = angle.abs() > width
        return {"angle": angle, "level": level, "width": width.clamp(0, 180), "out": out}

    def out_of_symmetry(self, x: Tensor) -> Tensor:
        """(B,) bool: the pose of each image is outside its learned symmetry level."""
        return self.describe(x)["out"]

    @torch.no_grad()
    def standardize(self, x: Tensor) -> Tensor:
        """(B, C, S, S) ``psi(x)^-1 . x``: every image in its canonical pose."""
        return self.ae.canonical(x)

    def level_fn(self) -> Callable[[Tensor], Tensor]:
        """For the partial mode of the image sampler: ``x -> half-width`` (B,) in radians
        (uniform, gaussian), or ``x -> order n`` (B,) (discrete)."""

        @torch.no_grad()
        def fn(x: Tensor) -> Tensor:
            if self.kind == "discrete":
                return self._pose_and_level(x)[2]  # the order n: no neighbours needed
            width = check_level_degrees(self.describe(x)["width"], "level")
            return width * (math.pi / 180.0)

        return fn

    def partial_sampler(self):
        """The autoencoder's psi (a canonical image sampler) in partial mode: each sample is
        psi(x) composed with a uniform turn within +-width(x), or (discrete levels) with a
        uniform turn of C_n, n = theta(x). Use it as
        ``lps.symmetrize(base, group, ..., sampler=levels.partial_sampler())``."""
        kind = "cyclic" if self.kind == "discrete" else "interval"
        self.ae.psi_net.set_levels(self.level_fn(), kind)
        return self.ae.psi_net
