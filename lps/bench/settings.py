"""Settings of ``lps bench``: the base models, samplers and presets it knows."""

from __future__ import annotations

from typing import Any

SAMPLERS = ("learned", "haar", "frame", "canonical")
GRAPH_BASES = ("mlp", "vit_s", "vit_b")
BASES = (*GRAPH_BASES, "nbody")
VIT_NAMES = {"vit_s": "vit_small_patch16_224", "vit_b": "vit_base_patch16_224"}
NBODY_PARTICLES = 5

#: The learned S_n sampler as in the PATTERN configs.
SN_SAMPLER = dict(hidden=64, layers=3, walk_steps=16, tau=0.01, sinkhorn_iters=10)

PRESETS: dict[str, dict[str, Any]] = {
    "quick": dict(
        bases=("mlp", "nbody"), sizes=(16, 32), ks=(1, 4), batch=4, repeats=2, curve=(16, 32)
    ),
    "cpu": dict(
        bases=("mlp", "vit_s", "nbody"),
        sizes=(32, 64),
        ks=(1, 10),
        batch=8,
        repeats=3,
        curve=(32, 64, 128, 188),
    ),
    "cuda": dict(
        bases=("vit_s", "vit_b", "nbody"),
        sizes=(32, 64, 188, 444),
        ks=(1, 10),
        batch=32,
        repeats=10,
        curve=(32, 64, 128, 188, 256, 444),
    ),
}
