"""Graph separation with untrained symmetrized models on GRAPH8c and EXP.

The protocol of the literature (Balcilar et al. 2021; Puny et al. 2022, frame averaging;
Kim et al. 2023, probabilistic symmetrization): build a model with random weights, embed
every graph, and call a pair of non-isomorphic graphs *undistinguished* when their outputs
are within a tolerance for every random initialisation. GRAPH8c: all pairs of its 11,117
connected graphs on 8 nodes (61,788,286 pairs); EXP: the 600 pairs ``(2i, 2i + 1)`` of
1-WL-equivalent, non-isomorphic graphs.

That protocol can be fooled: a stochastic model whose samples differ "distinguishes" every
pair by Monte-Carlo noise alone, and so does a model that is not invariant at all. So each
graph is also relabelled by a random permutation and the isomorphic copy must be judged the
*same*. The rules, per seed (every seed builds a new model and draws new noise):

- embeddings: ``e(G)`` is the k-sample mean output (``out_dim`` numbers per graph; weighted
  by the sampler's weights for an enumerated frame), ``v(G)`` its squared standard error,
  ``trace(sample covariance) / k`` from ``return_samples=True`` (0 for deterministic
  samplers, which use k = 1);
- scale: ``s`` = root-mean-square norm of the centred embeddings of the original graphs, so
  the tolerance is relative and ignores a common offset;
- literature rule: a pair is *separated* when ``||e(G) - e(H)|| > tolerance * s``
  (tolerance 1e-3 by default);
- noise-aware rule: separated only when also ``||e(G) - e(H)|| > c * sqrt(v(G) + v(H))``
  (``c = iso_sigma = 5``): the gap exceeds what Monte-Carlo noise at this k explains;
- an isomorphic copy is *identified* when ``||e(G) - e(pi G)|| <= max(tolerance * s,
  c * sqrt(v(G) + v(pi G)))``. Under exact invariance in expectation the left side is a
  difference of two independent k-sample means with expected square ``v(G) + v(pi G)``;
  exceeding 5 times its root has probability about 6e-7 per copy for near-Gaussian means
  when one output direction dominates (chi-square with one degree of freedom; less when the
  noise spreads over several), ignoring the error of the estimated ``v`` (small at k = 64).
  So a correct model fails essentially never, while a non-invariant one fails whenever its
  bias is large compared to its noise.

Over seeds: a pair is undistinguished when no seed separates it; a copy is identified when
every seed identifies it. All pair distances are computed in float64 blocks with
``torch.cdist``; no Python loop runs over pairs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import torch

# The pieces live in sibling modules, one concern each; their names stay importable from here.
from lps.experiments.separation_data import DATASETS, load_separation_data, relabel
from lps.experiments.separation_metrics import _all_pairs_separated, _listed_pairs_separated
from lps.experiments.separation_models import MODELS, SAMPLERS, build_model, embed_graphs
from lps.experiments.separation_report import PUBLISHED_SEPARATION, markdown_table, row_label

__all__ = [
    "DATASETS",
    "MODELS",
    "PUBLISHED_SEPARATION",
    "SAMPLERS",
    "build_model",
    "embed_graphs",
    "load_separation_data",
    "main",
    "markdown_table",
    "row_label",
    "run_separation",
    "separation_from_config",
]

_CONFIG_KEYS = {
    "dataset", "model", "sampler", "n_samples", "seeds", "batch_size", "hidden", "tolerance",
    "out_dim", "iso_sigma", "subset", "sampler_hidden", "sampler_layers", "dtype",
    "noise_scale", "sampler_kwargs",
}  # fmt: skip


# --------------------------------------------------------------------------- runs


def run_separation(
    dataset: str,
    model: str,
    sampler: str,
    n_samples: int = 64,
    seeds: int = 3,
    batch_size: int = 256,
    hidden: int = 64,
    tolerance: float = 1e-3,
    out_dim: int = 16,
    iso_sigma: float = 5.0,
    subset: int | None = None,
    sampler_hidden: int = 32,
    sampler_layers: int = 3,
    dtype: str | torch.dtype = "float32",
    noise_scale: float = 1.0,
    sampler_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Separation of non-isomorphic pairs and identification of isomorphic copies.

    Args:
        dataset: ``"graph8c"`` or ``"exp"``. model: ``"mlp"``, ``"gin_id"`` or ``"node_sum"``.
        sampler: ``"learned"`` (PS), ``"canonical"``, ``"haar"`` (GA) or ``"frame"`` (FA).
        n_samples: k for stochastic samplers (deterministic ones use 1).
        seeds: number of random initialisations (seed ``i`` for run ``i``).
        batch_size: graphs per forward pass (each expands to ``k`` copies).
        hidden, out_dim: base-model width and embedding size.
        tolerance: relative tolerance of the literature rule (see the module docstring).
        iso_sigma: ``c`` of the noise-aware rules.
        subset: first graphs (GRAPH8c) or first pairs (EXP) only.
        sampler_hidden, sampler_layers: size of the learned/canonical sampler's GIN.
        dtype: ``"float32"`` or ``"float64"`` for the models.
        noise_scale: multiplies the learned sampler's noise (see :func:`embed_graphs`).
        sampler_kwargs: extra arguments of the learned/canonical sampler.

    Returns:
        a dict with ``undistinguished`` (literature rule), ``undistinguished_noise_aware``,
        ``num_pairs``, ``separated``, ``isomorphic_copies``, ``isomorphic_identified``,
        ``isomorphic_distinguished_literature`` (copies the literature rule alone calls
        different: the way it is fooled), ``iso_worst_ratio`` (largest
        distance / threshold of a copy), ``examples`` (a few undistinguished pairs),
        ``per_seed`` details, the settings and ``seconds``.
    """
    start_time = time.perf_counter()
    torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    data = load_separation_data(dataset, subset)
    pairs = data.pop("pairs")
    data = {k: v.to(torch_dtype) if v.is_floating_point() else v for k, v in data.items()}
    count, num_nodes, node_dim = data["x"].shape
    embs, errs, thr_lit = [], [], []
    iso_ok = torch.ones(count, dtype=torch.bool)
    iso_lit_diff = torch.zeros(count, dtype=torch.bool)
    iso_worst = 0.0
    per_seed = []
    k_used = 1
    for seed in range(seeds):
        torch.manual_seed(seed)
        sym = build_model(
            model, sampler, node_dim, num_nodes, n_samples, hidden, out_dim,
            sampler_hidden, sampler_layers, sampler_kwargs,
        ).to(torch_dtype)  # fmt: skip
        sym.eval()
        k_used = sym.num_samples(n_samples)
        e, v = embed_graphs(sym, data, n_samples, batch_size, noise_scale)
        moved = relabel(data, torch.Generator().manual_seed(10_000 + seed))
        e_iso, v_iso = embed_graphs(sym, moved, n_samples, batch_size, noise_scale)
        scale = float((e - e.mean(0)).pow(2).sum(-1).mean().sqrt())
        t = tolerance * max(scale, 1e-30)
        d_iso = (e - e_iso).norm(dim=-1)
        thr_iso = torch.clamp(iso_sigma * (v + v_iso).sqrt(), min=t)
        ok = d_iso <= thr_iso
        iso_ok &= ok
        iso_lit_diff |= d_iso > t
        iso_worst = max(iso_worst, float((d_iso / thr_iso).max()))
        embs.append(e)
        errs.append(v)
        thr_lit.append(t)
        per_seed.append(
            {
                "seed": seed,
                "scale": scale,
                "mean_std_error": float(v.sqrt().mean()),
                "isomorphic_identified": int(ok.sum()),
                "iso_median_distance": float(d_iso.median()),
            }
        )
    if pairs is None:
        undist, undist_noise, examples = _all_pairs_separated(embs, errs, thr_lit, iso_sigma)
        num_pairs = count * (count - 1) // 2
    else:
        undist, undist_noise, examples = _listed_pairs_separated(
            embs, errs, thr_lit, iso_sigma, pairs
        )
        num_pairs = int(pairs.shape[0])
    return {
        "dataset": dataset,
        "model": model,
        "sampler": sampler,
        "n_samples": k_used,
        "seeds": seeds,
        "num_graphs": count,
        "num_pairs": num_pairs,
        "undistinguished": undist,
        "undistinguished_noise_aware": undist_noise,
        "separated": num_pairs - undist,
        "isomorphic_copies": count,
        "isomorphic_identified": int(iso_ok.sum()),
        "isomorphic_distinguished_literature": int(iso_lit_diff.sum()),
        "iso_worst_ratio": iso_worst,
        "tolerance": tolerance,
        "iso_sigma": iso_sigma,
        "hidden": hidden,
        "out_dim": out_dim,
        "noise_scale": noise_scale,
        "sampler_kwargs": dict(sampler_kwargs or {}),
        "examples": examples,
        "per_seed": per_seed,
        "seconds": time.perf_counter() - start_time,
    }


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def separation_from_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run separation from a plain dict; writes nothing.

    Keys: ``dataset``, ``model``, ``sampler`` (each a name or a list of names: every
    combination runs), and optionally ``n_samples``, ``seeds``, ``batch_size``, ``hidden``,
    ``tolerance``, ``out_dim``, ``iso_sigma``, ``subset``, ``sampler_hidden``,
    ``sampler_layers``, ``dtype`` (see :func:`run_separation`).

    Returns ``{"rows": [run_separation dicts], "table": markdown, "published":
    PUBLISHED_SEPARATION}``.
    """
    if not isinstance(cfg, dict):
        raise TypeError(f"separation config: expected a dict, got {type(cfg).__name__}")
    unknown = sorted(set(cfg) - _CONFIG_KEYS)
    if unknown:
        raise ValueError(
            f"separation config: unknown keys {unknown}; expected some of {sorted(_CONFIG_KEYS)}"
        )
    missing = [k for k in ("dataset", "model", "sampler") if k not in cfg]
    if missing:
        raise ValueError(f"separation config: missing keys {missing}")
    for key, valid in (("dataset", DATASETS), ("model", MODELS), ("sampler", SAMPLERS)):
        bad = [v for v in _as_list(cfg[key]) if v not in valid]
        if bad:
            raise ValueError(f"separation config: {key} {bad} unknown; expected one of {valid}")
    options = {k: v for k, v in cfg.items() if k not in ("dataset", "model", "sampler")}
    rows = [
        run_separation(dataset, model, sampler, **options)
        for dataset in _as_list(cfg["dataset"])
        for model in _as_list(cfg["model"])
        for sampler in _as_list(cfg["sampler"])
    ]
    return {"rows": rows, "table": markdown_table(rows), "published": PUBLISHED_SEPARATION}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: run one or more separation experiments and print JSON or a table."""
    parser = argparse.ArgumentParser(prog="lps-separation", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--model", nargs="+", default=["mlp", "gin_id"], choices=MODELS)
    parser.add_argument("--sampler", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--n-samples", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    cfg = {
        "dataset": args.dataset, "model": args.model, "sampler": args.sampler,
        "n_samples": args.n_samples, "seeds": args.seeds, "batch_size": args.batch_size,
        "hidden": args.hidden, "tolerance": args.tolerance, "subset": args.subset,
    }  # fmt: skip
    result = separation_from_config(cfg)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print(result["table"])
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
