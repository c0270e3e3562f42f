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
    from lps.backbones import create_backbone

    graph = dict(max_nodes=n, node_dim=3, pair_dim=1, out_dim=2)
    if name == "mlp":
        return create_backbone("mlp", "node", **graph, hidden=256)
    if name in VIT_NAMES:
        vit = dict(vit_name=VIT_NAMES[name], patch_size=16, node_readout="tokens")
        return create_backbone("vit", "node", **graph, **vit)
    if name == "nbody":
        point = dict(max_nodes=NBODY_PARTICLES, hidden=64, layers=4, heads=4)
        return create_backbone("transformer", "position", **point)
    raise ValueError(f"bench: unknown base {name!r}; expected one of {', '.join(BASES)}")


def build_model(
    base_name: str, base: nn.Module, sampler: str, k: int, relax_band: int | None = None
) -> Symmetrized:
    """``base`` symmetrized with ``sampler`` at k samples in training and eval."""
    learned = sampler in ("learned", "canonical")
    if base_name == "nbody":
        from lps.train.tasks.nbody import NBODY_FIELDS

        group, inputs, outputs, args = "S_n x E(3)", NBODY_FIELDS, "position", {}
    else:
        group, inputs, outputs = "S_n", {"x": "node:3", "adj": "pair:1"}, "node"
        args = dict(relax_band=relax_band, **SN_SAMPLER) if learned else {}
    if sampler == "frame":  # timed at the row's k: draws k frame elements, not the whole frame
        args = {"exact": False}
    return symmetrize(
        base,
        group,
        inputs,
        outputs,
        sampler,
        sampler_args=args,
        n_samples=k,
        n_samples_eval=k,
        validate=False,
    )


def make_inputs(
    base_name: str, batch: int, n: int, degree: float, gen: torch.Generator, device
) -> dict[str, Tensor]:
    """Inputs of ``base_name`` on ``device``: random graphs, or particle systems for nbody."""
    if base_name == "nbody":
        data = random_particles(batch, gen)
    else:
        data = random_graphs(batch, n, degree, 3, gen)
    return {key: v.to(device) for key, v in data.items()}
