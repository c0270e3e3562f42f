"""Per-layer readout of discovered symmetry, and its figure (layers x paths).

For each residual layer: the prior precision of every parameter tensor, the effective
dimensionality ``sum h / (h + delta)`` of each path, and the **free-path share**
``r_free / (r_free + r_equiv)``, with ``r`` the root-mean-square output of a path on a batch
of data: 0 when the free path is switched off, 1 when it carries the layer alone.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lps.marglik.laplace import Curvature, Precisions, effective_dims

__all__ = ["layer_readout", "plot_shares"]


def _layers(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if hasattr(m, "path_outputs")}


@torch.no_grad()
def layer_readout(
    model: nn.Module, x: Tensor, prec: Precisions | None = None, curv: Curvature | None = None
) -> list[dict]:
    """One dict per residual layer: ``name``, ``rms`` and ``eff_dim`` per path, ``precision``
    per tensor, ``share`` (free-path share; 0 without a free path, 1 without an equivariant one).
    ``x`` is a batch of network inputs."""
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
        free = rms.get("free", 0.0)
        equiv = sum(v for k, v in rms.items() if k != "free")
        share = free / (free + equiv) if free + equiv > 0 else math.nan
        row = {"name": n, "rms": rms, "share": share}
        row["precision"] = {
            k[len(n) + 1 :]: v for k, v in prec_vals.items() if k.startswith(n + ".")
        }
        row["eff_dim"] = {
            p: sum(v for k, v in eff.items() if k.startswith(f"{n}.{p}.")) for p in rms
        }
        rows.append(row)
    return rows


def plot_shares(results: dict[str, list[float]], path: str, title: str = "") -> None:
    """Grouped bars of the free-path share: ``results[label] = [share per layer]``."""
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
    fig.savefig(path, dpi=120)
    plt.close(fig)
