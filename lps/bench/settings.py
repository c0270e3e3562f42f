"""Settings of ``lps bench``: the base models, samplers and presets it knows."""

from __future__ import annotations

from typing import Any

SAMPLERS = ("learned", "haar", "frame", "canonical")
GRAPH_BASES = ("mlp", "vit_t", "vit_s", "vit_b")
BASES = (*GRAPH_BASES, "nbody")
VIT_NAMES = {
    "vit_t": "vit_tiny_patch16_224",
    "vit_s": "vit_small_patch16_224",
    "vit_b": "vit_base_patch16_224",
}
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

#: The ``gpu`` preset (:func:`lps.bench.gpu.run_gpu_bench`): every GPU figure that
#: ``docs/benchmarks.md`` asks for, in one budgeted run of under 8 minutes on one H100/H200.
GPU_PRESET: dict[str, Any] = dict(
    vit="vit_b",  # the base model of the headline figures
    n=188,  # PATTERN-sized graphs
    n_memory=444,  # the memory figure
    k_eval=10,
    k_train=1,
    batch=32,
    repeats=10,
    samplers=("learned", "haar"),
    compile_samplers=("learned",),
    curve=(32, 64, 128, 188, 256, 444),
    train_configs=("nbody_transformer_ps.yaml", "nbody_gnn_ps.yaml", "pattern_vit_ps.yaml"),
    train_steps=(30, 300),  # a short and a long run: steps/s from their difference
    budget_s=420.0,
)

#: Rough seconds each task of the gpu preset takes on one H100 (compile warm-up included);
#: a task is skipped when less than this is left of the budget.
GPU_TASK_SECONDS: dict[str, float] = {
    "eager_eval": 30.0,
    "eager_train": 20.0,
    "memory": 30.0,
    "compile_eval": 90.0,
    "curve": 40.0,
    "compile_train": 120.0,
    "train": 45.0,
}
