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
import functools
import json
import sys
import time
from typing import Any

import torch
from torch import Tensor, nn

from lps.backbones import GINID, FlatMLP
from lps.data.graphs import dense_graph_batch, load_exp, load_graph8c
from lps.fields import FieldType
from lps.groups import Permutation
from lps.symmetrize import Symmetrized, symmetrize

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

DATASETS = ("graph8c", "exp")
#: ``node_sum`` is a control that ignores the edges (sum-pooled node MLP): it must fail on EXP.
MODELS = ("mlp", "gin_id", "node_sum")
SAMPLERS = ("learned", "canonical", "haar", "frame")

#: Published undistinguished pairs (GRAPH8c, EXP) with untrained models: Balcilar et al. 2021
#: (GCN, GAT, GIN, ChebNet, PPGN, GNNML3); Puny et al. 2022 (MLP-FA, GIN-ID-FA).
PUBLISHED_SEPARATION: dict[str, dict[str, int]] = {
    "GCN": {"graph8c": 4755, "exp": 600},
    "GAT": {"graph8c": 1828, "exp": 600},
    "GIN": {"graph8c": 386, "exp": 600},
    "ChebNet": {"graph8c": 44, "exp": 71},
    "PPGN": {"graph8c": 0, "exp": 0},
    "GNNML3": {"graph8c": 0, "exp": 0},
    "MLP-FA": {"graph8c": 0, "exp": 0},
    "GIN-ID-FA": {"graph8c": 0, "exp": 0},
}

_CONFIG_KEYS = {
    "dataset", "model", "sampler", "n_samples", "seeds", "batch_size", "hidden", "tolerance",
    "out_dim", "iso_sigma", "subset", "sampler_hidden", "sampler_layers", "dtype",
    "noise_scale", "sampler_kwargs",
}  # fmt: skip


# --------------------------------------------------------------------------- data


@functools.lru_cache(maxsize=4)
def _dense(dataset: str) -> dict[str, Tensor]:
    graphs = load_graph8c() if dataset == "graph8c" else load_exp()
    max_nodes = max(int(g.num_nodes) for g in graphs)
    batch = dense_graph_batch(graphs, max_nodes)
    return {"x": batch["x"], "adj": batch["adj"][..., :1], "mask": batch["mask"]}


def load_separation_data(dataset: str, subset: int | None = None) -> dict[str, Any]:
    """Dense tensors of a separation data set, and its non-isomorphic pairs.

    Returns ``{"x": (G, N, 1), "adj": (G, N, N, 1), "mask": (G, N), "pairs": (P, 2) long or
    None}``. ``pairs`` is None for GRAPH8c (every pair ``i < j`` counts) and the rows
    ``(2i, 2i + 1)`` for EXP. ``subset`` keeps the first ``subset`` graphs of GRAPH8c or the
    first ``subset`` pairs of EXP. The tensors are shared (cached): do not modify them.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset: unknown {dataset!r}; expected one of {', '.join(DATASETS)}")
    data = dict(_dense(dataset))
    count = data["x"].shape[0]
    if dataset == "exp":
        num_pairs = count // 2 if subset is None else min(subset, count // 2)
        count = 2 * num_pairs
        pairs = torch.arange(count).view(-1, 2)
    else:
        count = count if subset is None else min(subset, count)
        pairs = None
    out: dict[str, Any] = {k: v[:count] for k, v in data.items()}
    used = int(out["mask"].sum(1).max())  # drop padding columns nobody uses
    out = {k: v[:, :used] if k != "adj" else v[:, :used, :used] for k, v in out.items()}
    out["pairs"] = pairs
    return out


# --------------------------------------------------------------------------- models


class _NodeSum(nn.Module):
    """Control model: a node-wise MLP, sum-pooled over real nodes. Ignores the adjacency."""

    def __init__(self, node_dim: int, out_dim: int, hidden: int):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(node_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.rho = nn.Sequential(nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor | None = None) -> Tensor:
        h = self.phi(x)
        if mask is not None:
            h = h * mask.unsqueeze(-1).to(h.dtype)
        return self.rho(h.sum(1))


def build_model(
    model: str,
    sampler: str,
    node_dim: int,
    num_nodes: int,
    n_samples: int = 64,
    hidden: int = 64,
    out_dim: int = 16,
    sampler_hidden: int = 32,
    sampler_layers: int = 3,
    sampler_kwargs: dict[str, Any] | None = None,
) -> Symmetrized:
    """An untrained base model symmetrized over S_n; inputs ``x`` (node), ``adj`` (pair).

    ``model``: ``"mlp"`` (:class:`~lps.backbones.FlatMLP` on the flattened canonical ``x`` and
    ``adj``, two hidden layers), ``"gin_id"`` (:class:`~lps.backbones.GINID`, three layers) or
    ``"node_sum"`` (control that ignores edges). The output is an invariant (B, out_dim).
    ``sampler_kwargs`` go to the learned/canonical sampler (e.g. ``{"walk_steps": 16}``).
    """
    if model == "mlp":
        shapes = {"x": (num_nodes, node_dim), "adj": (num_nodes, num_nodes, 1)}
        base: nn.Module = FlatMLP(shapes, (out_dim,), hidden=hidden, layers=2)
    elif model == "gin_id":
        base = GINID(node_dim, num_nodes, out_dim=out_dim, hidden=hidden, layers=3)
    elif model == "node_sum":
        base = _NodeSum(node_dim, out_dim, hidden)
    else:
        raise ValueError(f"model: unknown {model!r}; expected one of {', '.join(MODELS)}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler: unknown {sampler!r}; expected one of {', '.join(SAMPLERS)}")
    kwargs: dict[str, Any] = {}
    if sampler in ("learned", "canonical"):
        kwargs = {"in_dim": node_dim, "hidden": sampler_hidden, "layers": sampler_layers}
        kwargs.update(sampler_kwargs or {})
    elif sampler_kwargs:
        raise ValueError(f"sampler_kwargs apply to 'learned' and 'canonical', not {sampler!r}")
    return symmetrize(
        base,
        "S_n",
        inputs={"x": "node", "adj": "pair"},
        outputs="invariant",
        sampler=sampler,
        n_samples=n_samples,
        sampler_args=kwargs,
    )


@torch.no_grad()
def embed_graphs(
    model: Symmetrized,
    data: dict[str, Tensor],
    n_samples: int,
    batch_size: int = 256,
    noise_scale: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """k-sample mean embeddings (G, D) and their squared standard errors (G,).

    The squared standard error of graph g is ``trace(sample covariance) / k`` of its ``k``
    per-sample outputs (unbiased; 0 when the model uses a single sample). ``noise_scale``
    multiplies the noise fed to a learned sampler's network (i.i.d. per node, so the sampled
    distribution stays equivariant; its separate sorting tie-break is left alone): small
    values make the untrained sampler sort nodes by its structural scores and leave the noise
    to break ties.
    """
    means, errs = [], []
    count = data["x"].shape[0]
    for start in range(0, count, batch_size):
        part = slice(start, start + batch_size)
        fields = {"x": data["x"][part], "adj": data["adj"][part]}
        mask = data["mask"][part]
        noise = None
        if noise_scale != 1.0:
            noise = model.sample_noise(mask=mask, n_samples=n_samples, **fields)
            channels = getattr(model.sampler, "noise_dim", None)
            if not isinstance(noise, Tensor) or channels is None:
                raise ValueError(
                    f"noise_scale applies to the learned S_n sampler, not "
                    f"{type(model.sampler).__name__}"
                )
            noise = noise.clone()  # scale the network's noise, keep the sorting tie-break
            noise[..., :channels] *= noise_scale
        out = model(mask=mask, noise=noise, n_samples=n_samples, return_samples=True, **fields)
        samples = out.samples.flatten(2).double()  # (b, k, D)
        b, k = samples.shape[:2]
        # Uniform weights, or the sampler's (an enumerated frame): the weighted mean, and
        # its squared standard error sum_j w_j^2 |s_j - mean|^2 * k / (k - 1) (var / k when
        # uniform; an upper bound where the frame is enumerated exactly).
        w = out.weights
        w = torch.full((b, k), 1.0 / k, dtype=torch.float64) if w is None else w.double()
        mean = (w.unsqueeze(-1) * samples).sum(1)
        means.append(mean)
        if k > 1:
            spread = (samples - mean.unsqueeze(1)).pow(2).sum(-1)
            errs.append((w.pow(2) * spread).sum(1) * k / (k - 1))
        else:
            errs.append(torch.zeros(b, dtype=torch.float64))
    return torch.cat(means), torch.cat(errs)


def _relabel(data: dict[str, Tensor], generator: torch.Generator) -> dict[str, Tensor]:
    """Each graph relabelled by its own uniform permutation of the real nodes."""
    group = Permutation()
    h = group.haar(data["x"].shape[0], mask=data["mask"], generator=generator)
    return {
        "x": group.act(h, data["x"], FieldType.NODE),
        "adj": group.act(h, data["adj"], FieldType.PAIR),
        "mask": data["mask"],
    }


# --------------------------------------------------------------------------- metrics


def _all_pairs_separated(
    emb: list[Tensor], err: list[Tensor], thr_lit: list[float], sigma: float, block: int = 1024
) -> tuple[int, int, list[tuple[int, int]]]:
    """Undistinguished pairs ``i < j`` over all graphs: (literature, noise-aware, examples).

    ``emb[s]`` (G, D) float64, ``err[s]`` (G,), one entry per seed.
    """
    count = emb[0].shape[0]
    undist_lit = undist_noise = 0
    examples: list[tuple[int, int]] = []
    cols = torch.arange(count)
    for start in range(0, count, block):
        rows = torch.arange(start, min(start + block, count))
        upper = cols[None, :] > rows[:, None]
        sep_lit = torch.zeros(len(rows), count, dtype=torch.bool)
        sep_noise = torch.zeros_like(sep_lit)
        for e, v, t in zip(emb, err, thr_lit):
            dist = torch.cdist(e[rows], e)
            noise = sigma * (v[rows, None] + v[None, :]).sqrt()
            sep_lit |= dist > t
            sep_noise |= (dist > t) & (dist > noise)
        undist = upper & ~sep_lit
        undist_lit += int(undist.sum())
        undist_noise += int((upper & ~sep_noise).sum())
        if len(examples) < 10 and bool(undist.any()):
            idx = undist.nonzero()[: 10 - len(examples)]
            examples += [(int(start + i), int(j)) for i, j in idx]
    return undist_lit, undist_noise, examples


def _listed_pairs_separated(
    emb: list[Tensor], err: list[Tensor], thr_lit: list[float], sigma: float, pairs: Tensor
) -> tuple[int, int, list[tuple[int, int]]]:
    sep_lit = torch.zeros(pairs.shape[0], dtype=torch.bool)
    sep_noise = torch.zeros_like(sep_lit)
    for e, v, t in zip(emb, err, thr_lit):
        dist = (e[pairs[:, 0]] - e[pairs[:, 1]]).norm(dim=-1)
        noise = sigma * (v[pairs[:, 0]] + v[pairs[:, 1]]).sqrt()
        sep_lit |= dist > t
        sep_noise |= (dist > t) & (dist > noise)
    examples = [tuple(int(i) for i in p) for p in pairs[~sep_lit][:10]]
    return int((~sep_lit).sum()), int((~sep_noise).sum()), examples


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
        moved = _relabel(data, torch.Generator().manual_seed(10_000 + seed))
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


_MODEL_LABEL = {"mlp": "MLP", "gin_id": "GIN-ID", "node_sum": "NodeSum (control)"}
_SAMPLER_LABEL = {"learned": "PS", "canonical": "Canon", "haar": "GA", "frame": "FA"}


def row_label(row: dict[str, Any]) -> str:
    """``MLP-PS``, ``GIN-ID-FA``, ...; non-default sampler settings are added in brackets."""
    label = f"{_MODEL_LABEL.get(row['model'], row['model'])}-"
    label += _SAMPLER_LABEL.get(row["sampler"], row["sampler"])
    extras = [f"{k}={v}" for k, v in sorted(row.get("sampler_kwargs", {}).items())]
    if row.get("noise_scale", 1.0) != 1.0:
        extras.insert(0, f"noise x{row['noise_scale']:g}")
    return f"{label} ({', '.join(extras)})" if extras else label


def markdown_table(rows: list[dict[str, Any]], published: bool = True) -> str:
    """A markdown table: one line per model x sampler, GRAPH8c and EXP side by side.

    Cells: undistinguished pairs (literature rule) / noise-aware undistinguished, and
    isomorphic copies identified / total. Published rows (undistinguished only) follow.
    """
    keyed: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        keyed.setdefault(row_label(r), {})[r["dataset"]] = r
    head = (
        "| model | k | GRAPH8c undist. (lit. / noise-aware) | GRAPH8c iso. identified "
        "| EXP undist. (lit. / noise-aware) | EXP iso. identified |"
    )
    lines = [head, "| --- | --- | --- | --- | --- | --- |"]

    def cells(r: dict[str, Any] | None) -> str:
        if r is None:
            return "– | –"
        und = f"{r['undistinguished']} / {r['undistinguished_noise_aware']}"
        return f"{und} | {r['isomorphic_identified']} / {r['isomorphic_copies']}"

    for label, by_ds in keyed.items():
        k = next(iter(by_ds.values()))["n_samples"]
        lines.append(
            f"| {label} | {k} | {cells(by_ds.get('graph8c'))} | {cells(by_ds.get('exp'))} |"
        )
    if published:
        for name, vals in PUBLISHED_SEPARATION.items():
            lines.append(f"| {name} (published) | – | {vals['graph8c']} | – | {vals['exp']} | – |")
    return "\n".join(lines)


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
