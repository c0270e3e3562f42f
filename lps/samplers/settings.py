"""Typed settings of the samplers, each value checked once, here.

``lps.symmetrize(..., sampler_args={...})`` and the experiment configs pass a plain dict; it
becomes one of these dataclasses, so that an unknown key or a bad value is an error naming
the setting before anything runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

A = TypeVar("A")

#: How the image-SO(2) sampler reads an angle off its orientation softmax.
READOUTS = ("mean", "mode")


def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _positive(name: str, value: Any, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


@dataclass(frozen=True)
class RelaxArgs:
    """The permutation relaxation (S_n and product groups).

    tau: SoftSort temperature (> 0). sinkhorn_iters: Sinkhorn iterations (>= 1).
    relax_band: keep only soft-permutation entries within this many sorted positions of
    the diagonal (None: the dense N x N matrix). entropy_weight: weight (>= 0) of the
    soft-permutation entropy added as an auxiliary loss.
    """

    tau: float = 0.1
    sinkhorn_iters: int = 10
    relax_band: int | None = None
    entropy_weight: float = 0.0

    def __post_init__(self):
        _positive("tau", self.tau)
        _positive_int("sinkhorn_iters", self.sinkhorn_iters)
        if self.relax_band is not None:
            _positive_int("relax_band", self.relax_band, minimum=0)
        _positive("entropy_weight", self.entropy_weight, allow_zero=True)


@dataclass(frozen=True)
class PermSamplerArgs(RelaxArgs):
    """The learned S_n sampler (a GIN): width ``hidden``, depth ``layers``, ``noise_dim``
    noise channels per node, ``walk_steps`` random-walk return probabilities, the node
    inputs it reads (``node_fields``, default all) and the ``adjacency_field`` (default: the
    first pair input), and the network ``dtype`` (float64 keeps sorting exact)."""

    hidden: int = 64
    layers: int = 3
    noise_dim: int = 1
    walk_steps: int = 0
    node_fields: list[str] | None = None
    adjacency_field: str | None = None
    dtype: torch.dtype = torch.float64

    def __post_init__(self):
        super().__post_init__()
        _positive_int("hidden", self.hidden)
        _positive_int("layers", self.layers)
        _positive_int("noise_dim", self.noise_dim, minimum=0)
        _positive_int("walk_steps", self.walk_steps, minimum=0)
        _check_dtype(self.dtype)


@dataclass(frozen=True)
class RigidSamplerArgs(RelaxArgs):
    """The learned O(d)-type sampler (an equivariant message-passing network): scalar width
    ``hidden``, ``vector_hidden`` vector channels, depth ``layers``, the scale of its
    Gaussian noise vectors ``noise_scale``, and the network ``dtype``. With ``unit_scale``
    (the default) each vector input is divided by its root-mean-square norm before the
    network, so its frames do not depend on the input's units; ``False`` reproduces models
    trained before 0.2 (which lose equivariance on inputs far from unit scale)."""

    hidden: int = 32
    vector_hidden: int = 8
    layers: int = 2
    noise_scale: float = 1.0
    unit_scale: bool = True
    dtype: torch.dtype = torch.float64

    def __post_init__(self):
        super().__post_init__()
        _positive_int("hidden", self.hidden)
        _positive_int("vector_hidden", self.vector_hidden)
        _positive_int("layers", self.layers)
        _positive("noise_scale", self.noise_scale)
        _check_dtype(self.dtype)


@dataclass(frozen=True)
class ImageSamplerArgs:
    """The learned image sampler (C_n, image-SO(2)): CNN width ``hidden`` and depth ``layers``,
    ``noise_dim`` invariant noise channels of scale ``noise_scale``, the C_n softmax
    temperature ``tau``, the number of ``orientations`` of the SO(2) lifting (a multiple of
    4), the image inputs it reads (``image_fields``, default all), an average ``pool`` factor
    applied first, the network ``dtype``, and the SO(2) ``readout``: ``"mean"``, the circular
    mean of the whole orientation softmax, or ``"mode"``, a mean shift on it from the argmax
    orientation (one peak of a multimodal softmax)."""

    hidden: int = 16
    layers: int = 2
    noise_dim: int = 4
    noise_scale: float = 1.0
    tau: float = 1.0
    orientations: int = 16
    image_fields: list[str] | None = None
    pool: int = 1
    dtype: torch.dtype = torch.float32
    readout: str = "mean"

    def __post_init__(self):
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {self.readout!r}")
        _positive_int("hidden", self.hidden)
        _positive_int("layers", self.layers)
        _positive_int("noise_dim", self.noise_dim, minimum=0)
        _positive("noise_scale", self.noise_scale)
        _positive("tau", self.tau)
        _positive_int("orientations", self.orientations, minimum=4)
        if self.orientations % 4:
            raise ValueError(f"orientations must be a multiple of 4, got {self.orientations}")
        _positive_int("pool", self.pool)
        _check_dtype(self.dtype)


@dataclass(frozen=True)
class FrameArgs:
    """Frame averaging: ``tie_tol`` relative eigenvalue gap under which eigenvalues tie,
    ``num_eigvecs`` Laplacian eigenvectors as S_n sort keys, the ``adjacency_field``.

    With ``exact`` (the default) the frame is enumerated instead of sampled, and ``k`` is the
    sampler's, whatever ``n_samples`` says: the 2^d sign patterns of the PCA frame (2^(d-1)
    for SO(d)/SE(d) and their products with S_n); for S_n, the 2^num_eigvecs eigenvector
    sign patterns times ``max_orderings`` slots for the orderings of tied nodes, enumerated
    when there are at most ``max_orderings`` of them (else drawn at random). ``exact=False``
    draws ``k`` frame elements at random (the sampled frame of earlier releases).
    """

    tie_tol: float = 1e-4
    num_eigvecs: int = 3
    adjacency_field: str | None = None
    exact: bool = True
    max_orderings: int = 8

    def __post_init__(self):
        _positive("tie_tol", self.tie_tol)
        _positive_int("num_eigvecs", self.num_eigvecs, minimum=0)
        if not isinstance(self.exact, bool):
            raise ValueError(f"exact must be True or False, got {self.exact!r}")
        _positive_int("max_orderings", self.max_orderings)


@dataclass(frozen=True)
class NoArgs:
    """A sampler without settings (Haar)."""


def _check_dtype(dtype: Any) -> None:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")


def parse_args(cls: type[A], args: dict[str, Any] | A | None, what: str) -> A:
    """``cls(**args)`` with an error naming unknown keys and the accepted ones."""
    if args is None:
        return cls()
    if isinstance(args, cls):
        return args
    if not isinstance(args, dict):
        raise TypeError(f"{what}: sampler_args must be a dict, got {type(args).__name__}")
    accepted = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(k for k in args if k not in accepted)
    if unknown:
        raise ValueError(
            f"{what} takes no setting(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(accepted) or 'none'}"
        )
    try:
        return cls(**args)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None
