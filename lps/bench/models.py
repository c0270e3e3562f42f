"""The models and inputs ``lps bench`` measures.

All construction of base models is in :func:`build_base` and all construction of
symmetrized models in :func:`build_model`: change how models are built there only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lps.bench.settings import BASES, NBODY_PARTICLES, SN_SAMPLER, VIT_NAMES
from lps.symmetrize import Symmetrized, symmetrize


def random_graphs(
    batch: int, n: int, degree: float, node_dim: int, gen: torch.Generator
) -> dict[str, Tensor]:
    """Padded random graphs: ``x`` (B, N, node_dim), ``adj`` (B, N, N, 1), ``mask`` (B, N) and
    ``edge_index`` (2, E) in the flat layout ``b * N + i``. Sizes are uniform in [N/2, N]."""
    sizes = torch.randint(max(n // 2, 1), n + 1, (batch,), generator=gen)
    mask = torch.arange(n)[None] < sizes[:, None]
    p = (degree / (sizes.float() - 1).clamp_min(1)).clamp(max=1.0)[:, None, None]
    adj = torch.triu((torch.rand(batch, n, n, generator=gen) < p).float(), 1)
    adj = (adj + adj.transpose(1, 2)) * mask[:, :, None] * mask[:, None, :]
    b, i, j = adj.nonzero(as_tuple=True)
    x = torch.randn(batch, n, node_dim, generator=gen) * mask[..., None]
    return {
        "x": x,
        "adj": adj.unsqueeze(-1),
        "mask": mask,
        "edge_index": torch.stack([b * n + i, b * n + j]),
    }


def random_particles(batch: int, gen: torch.Generator) -> dict[str, Tensor]:
    """Inputs of the n-body model: positions, velocities, charges and the charge products."""
    q = torch.randint(0, 2, (batch, NBODY_PARTICLES, 1), generator=gen).float() * 2 - 1
    return {
        "pos": torch.randn(batch, NBODY_PARTICLES, 3, generator=gen),
        "vel": torch.randn(batch, NBODY_PARTICLES, 1, 3, generator=gen) * 0.5,
        "charges": q,
        "edge_attr": (q * q.transpose(1, 2)).unsqueeze(-1),
    }


def build_base(name: str, n: int) -> nn.Module:
    """The base model ``name`` for graphs of at most ``n`` nodes (node outputs, 2 classes)."""
    if name == "mlp":
        from lps.backbones import FlatMLP

        return FlatMLP({"x": (n, 3), "adj": (n, n, 1)}, (n, 2), hidden=256)
    if name in VIT_NAMES:
        from lps.backbones.vit import GraphViT

        return GraphViT(3, 1, n, node_out=2, model_name=VIT_NAMES[name], patch_size=16)
    if name == "nbody":
        from lps.backbones.transformer import PointTransformer

        return PointTransformer(max_nodes=NBODY_PARTICLES, hidden=64, layers=4, heads=4)
    raise ValueError(f"bench: unknown base {name!r}; expected one of {', '.join(BASES)}")


def build_model(
    base_name: str, base: nn.Module, sampler: str, k: int, relax_band: int | None = None
) -> Symmetrized:
    """``base`` symmetrized with ``sampler`` at k samples in training and eval."""
    learned = sampler in ("learned", "canonical")
    if base_name == "nbody":
        from lps.train.nbody_task import NBODY_INPUTS

        kw = dict(scalar_dim=1, vector_dim=1, pair_dim=1) if learned else {}
        return symmetrize(
            base, "S_n x E(3)", NBODY_INPUTS, "position", sampler, k, k, validate=False, **kw
        )
    kw = dict(in_dim=3, relax_band=relax_band, **SN_SAMPLER) if learned else {}
    inputs = {"x": "node", "adj": "pair"}
    return symmetrize(base, "S_n", inputs, "node", sampler, k, k, validate=False, **kw)


def make_inputs(
    base_name: str, batch: int, n: int, degree: float, gen: torch.Generator, device
) -> dict[str, Tensor]:
    """Inputs of ``base_name`` on ``device``: random graphs, or particle systems for nbody."""
    if base_name == "nbody":
        data = random_particles(batch, gen)
    else:
        data = random_graphs(batch, n, degree, 3, gen)
    return {key: v.to(device) for key, v in data.items()}
