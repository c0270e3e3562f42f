"""Per-layer readout of discovered symmetry, and its figure (layers x paths).

For each residual layer: the prior precision of every parameter tensor, the effective
dimensionality ``sum h / (h + delta)`` of each path, and three free-path shares, each 0 when
the free path is switched off and 1 when it carries the layer alone:

- ``share``: ``r_free / (r_free + r_equiv)``, ``r`` the root-mean-square output of a path
  (trained weights) on a batch of data;
- ``prior_share``: the same with ``r`` the root-mean-square output under the *learned prior*
  (weights ``N(0, 1 / delta)``, in closed form): how much of the layer's a-priori function
  the marginal likelihood gives each path;
- ``neff_share``: the reference's readout (van der Ouderaa et al. 2023): effective
  dimensionality per parameter, ``n_free / (n_free + n_equiv)`` with ``n = eff_dim / P``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lps.io import atomic_write_figure
from lps.marglik.laplace import Curvature, Precisions, effective_dims

__all__ = ["layer_readout", "plot_shares", "prior_rms"]


def _layers(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if hasattr(m, "path_outputs")}


def _share(values: dict[str, float]) -> float:
    """``free / (free + equivariant paths)``; NaN when every path is zero."""
    free = values.get("free", 0.0)
    total = free + sum(v for k, v in values.items() if k != "free")
    return free / total if total > 0 else math.nan


def prior_rms(layer: nn.Module, prefix: str, x: Tensor, prec: dict[str, float]) -> dict[str, float]:
    """Root-mean-square output of each path of ``layer`` on its input ``x`` ``(B, ...)`` under
    the prior ``N(0, 1 / delta)`` of its weights (``prec[f"{prefix}.{path}.{name}"]``), in
    closed form (each path's ``prior_mean_square``): the path's share of the prior function."""
    out = {}
    for name, path in layer.paths().items():
        local = {k: prec[f"{prefix}.{name}.{k}"] for k, _ in path.named_parameters()}
        out[name] = path.prior_mean_square(x, local) ** 0.5
    return out


@torch.no_grad()
def layer_readout(
    model: nn.Module, x: Tensor, prec: Precisions | None = None, curv: Curvature | None = None
) -> list[dict]:
    """One dict per residual layer: ``name``, ``rms``, ``eff_dim`` and ``prior_rms`` per path,
    ``precision`` per tensor, and the free-path shares ``share``, ``prior_share`` (with
    ``prec``) and ``neff_share`` (with ``prec`` and ``curv``); a share is 0 without a free path,
    1 without an equivariant one. ``x`` is a batch of network inputs."""
    was = model.training
    model.eval()
    inputs: dict[str, Tensor] = {}
    hooks = [
        m.register_forward_pre_hook(lambda mod, args, n=n: inputs.__setitem__(n, args[0]))
        for n, m in _layers(model).items()
    ]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    prec_vals = prec.values() if prec is not None else {}
    eff = effective_dims(prec, curv) if prec is not None and curv is not None else {}
    rows = []
    for n, m in _layers(model).items():
        rms = {k: float(v.pow(2).mean().sqrt()) for k, v in m.path_outputs(inputs[n]).items()}
        row = {"name": n, "rms": rms, "share": _share(rms)}
        row["precision"] = {
            k[len(n) + 1 :]: v for k, v in prec_vals.items() if k.startswith(n + ".")
        }
        if prec_vals:
            row["prior_rms"] = prior_rms(m, n, inputs[n], prec_vals)
            row["prior_share"] = _share(row["prior_rms"])
        row["eff_dim"] = {
            p: sum(v for k, v in eff.items() if k.startswith(f"{n}.{p}.")) for p in rms
        }
        if eff:
            sizes = {p: sum(q.numel() for q in path.parameters()) for p, path in m.paths().items()}
            row["neff_share"] = _share({p: row["eff_dim"][p] / sizes[p] for p in sizes})
        rows.append(row)
    return rows


def plot_shares(results: dict[str, list[float]], path: str, title: str = "") -> None:
    """Grouped bars of the free-path share, ``results[label] = [share per layer]``, written
    atomically to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(results)
    n_layers = max(len(v) for v in results.values())
    width = 0.8 / max(len(labels), 1)
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * n_layers, 3.2))
    for i, lab in enumerate(labels):
        xs = [j + (i - (len(labels) - 1) / 2) * width for j in range(len(results[lab]))]
        ax.bar(xs, results[lab], width, label=lab)
    ax.set_xticks(range(n_layers), [f"layer {j + 1}" for j in range(n_layers)])
    ax.set_ylim(0, 1)
    ax.axhline(0.1, color="grey", lw=0.6, ls=":")
    ax.axhline(0.5, color="grey", lw=0.6, ls="--")
    ax.set_ylabel("free-path share")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write_figure(path, fig, dpi=120)
    plt.close(fig)
