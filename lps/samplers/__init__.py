"""How group elements are chosen for an input: haar, frame, canonical, learned."""

from __future__ import annotations

import inspect
from typing import Any

from lps.groups import Group, ImageRotation, Orthogonal, Permutation, Product, get_group
from lps.samplers.base import Sampler, SamplerOutput, repeat_rows
from lps.samplers.frame import FrameNoise, FrameSampler
from lps.samplers.haar import HaarSampler
from lps.samplers.learned import (
    LearnedPermutationSampler,
    LearnedRigidSampler,
    dense_edge_index,
    repeat_edge_index,
)
from lps.samplers.relax import scores_to_perm, sinkhorn, sinkhorn_log, softsort, sort_scores

__all__ = [
    "FrameNoise",
    "FrameSampler",
    "HaarSampler",
    "LearnedPermutationSampler",
    "LearnedRigidSampler",
    "SAMPLER_NAMES",
    "Sampler",
    "SamplerOutput",
    "build_sampler",
    "dense_edge_index",
    "repeat_edge_index",
    "repeat_rows",
    "scores_to_perm",
    "sinkhorn",
    "sinkhorn_log",
    "softsort",
    "sort_scores",
]

SAMPLER_NAMES = ("haar", "frame", "canonical", "learned")


def _construct(name: str, cls: type[Sampler], group: Group, kwargs: dict[str, Any]) -> Sampler:
    """``cls(group, **kwargs)``, with an error naming any keyword the sampler does not take."""
    params = inspect.signature(cls.__init__).parameters
    accepted = [p for p in params if p not in ("self", "group")]
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown:
        raise ValueError(
            f"sampler {name!r} for {group.name} takes no argument(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(accepted) or 'none'}"
        )
    return cls(group, **kwargs)


def build_sampler(name: str, group: str | Group, **kwargs: Any) -> Sampler:
    """Build a sampler by name for a group.

    ``learned`` and ``canonical`` take the network sizes as keyword arguments: ``in_dim``
    (S_n) or ``scalar_dim`` / ``vector_dim`` / ``pair_dim`` (O(d)-type groups and products).
    """
    group = get_group(group)
    if name == "haar":
        return _construct(name, HaarSampler, group, kwargs)
    if name == "frame":
        return _construct(name, FrameSampler, group, kwargs)
    if name in ("learned", "canonical"):
        if name == "canonical":
            kwargs["canonical"] = True
        if isinstance(group, Permutation):
            return _construct(name, LearnedPermutationSampler, group, kwargs)
        if isinstance(group, (Orthogonal, Product)):
            return _construct(name, LearnedRigidSampler, group, kwargs)
        if isinstance(group, ImageRotation):
            raise ValueError(
                f"sampler {name!r}: there is no learned sampler for {group.name} yet; "
                "use 'haar' for images"
            )
    raise ValueError(f"unknown sampler {name!r}; expected one of {', '.join(SAMPLER_NAMES)}")
