"""Models of the separation experiment and the embedding of graphs by them.

An untrained base model symmetrized over S_n (:func:`build_model`), and :func:`embed_graphs`:
its k-sample mean output per graph with the squared standard error of that mean.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lps.backbones import GINID, FlatMLP
from lps.symmetrize import Symmetrized, symmetrize

__all__ = ["MODELS", "SAMPLERS", "build_model", "embed_graphs"]

#: ``node_sum`` is a control that ignores the edges (sum-pooled node MLP): it must fail on EXP.
MODELS = ("mlp", "gin_id", "node_sum")
SAMPLERS = ("learned", "canonical", "haar", "frame")


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
