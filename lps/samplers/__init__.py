"""How group elements are chosen for an input: haar, frame, canonical, learned."""

from __future__ import annotations

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


def build_sampler(name: str, group: str | Group, **kwargs: Any) -> Sampler:
    """Build a sampler by name for a group.

    ``learned`` and ``canonical`` take the network sizes as keyword arguments: ``in_dim``
    (S_n) or ``scalar_dim`` / ``vector_dim`` / ``pair_dim`` (O(d)-type groups and products).
    """
    group = get_group(group)
    if name == "haar":
        return HaarSampler(group, **kwargs)
    if name == "frame":
        return FrameSampler(group, **kwargs)
    if name in ("learned", "canonical"):
        if name == "canonical":
            kwargs["canonical"] = True
        if isinstance(group, Permutation):
            return LearnedPermutationSampler(group, **kwargs)
        if isinstance(group, (Orthogonal, Product)):
            return LearnedRigidSampler(group, **kwargs)
        if isinstance(group, ImageRotation):
            raise ValueError(
                f"sampler {name!r}: there is no learned sampler for {group.name} yet; "
                "use 'haar' for images"
            )
    raise ValueError(f"unknown sampler {name!r}; expected one of {', '.join(SAMPLER_NAMES)}")
