"""The learned S_n sampler alone over a range of N: its cost curve (dense and banded)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from lps.bench.measure import eval_call, peak_memory, saved_for_backward, time_call
from lps.bench.models import make_inputs
from lps.bench.settings import SN_SAMPLER
from lps.samplers import repeat_rows


def sampler_curve(
    sizes: tuple[int, ...],
    k: int,
    batch: int,
    degree: float,
    repeats: int,
    device,
    bands: tuple[int | None, ...] = (None,),
) -> list[dict[str, Any]]:
    """Eval and training-step seconds of the learned S_n sampler alone over N, per relaxation
    band (None: dense). The training step also canonicalizes the node features and the
    adjacency with the sampled elements (straight-through) and back-propagates a random
    linear loss through them, since the band changes the cost of that backward pass too."""
    from lps.fields import parse_field_types
    from lps.groups import get_group
    from lps.samplers import build_sampler
    from lps.samplers.learned import random_walk_features

    types = parse_field_types({"x": "node", "adj": "pair"}, "inputs")
    group = get_group("S_n")
    rows = []
    for n, band in ((n, band) for n in sizes for band in bands):
        gen = torch.Generator().manual_seed(n)
        data = make_inputs("mlp", batch, n, degree, gen, device)
        torch.manual_seed(n)
        sampler = build_sampler("learned", group, in_dim=3, relax_band=band, **SN_SAMPLER).to(
            device
        )
        fields = {"x": data["x"], "adj": data["adj"]}
        weights = {
            name: torch.randn(x.repeat_interleave(k, 0).shape, generator=gen).to(device)
            for name, x in fields.items()
        }

        def call() -> Any:
            return sampler(fields, types, data["mask"], k, None, data["edge_index"])  # noqa: B023

        def forward() -> Tensor:
            g, loss = call().element, 0.0
            for name, x in fields.items():  # noqa: B023
                canonical = group.act(g, repeat_rows(x, k), types[name], inverse=True)  # noqa: B023
                loss = loss + (canonical * weights[name]).sum()  # noqa: B023
            return loss

        def step() -> None:
            forward().backward()  # noqa: B023

        adj, dtype = data["adj"][..., 0] != 0, sampler.embed.weight.dtype

        def walk() -> Any:
            return random_walk_features(adj, SN_SAMPLER["walk_steps"], dtype)  # noqa: B023

        mass = None if band is None else _band_mass(sampler, data, types, k, band)
        sampler.eval()
        t_eval = time_call(eval_call(call, device), device, repeats)
        t_walk = time_call(eval_call(walk, device), device, repeats)
        sampler.train()
        t_train = time_call(step, device, repeats)
        rows.append(
            {
                "n": n,
                "k": k,
                "relax_band": band,
                "band_mass": mass,
                "edges": int(data["edge_index"].shape[1]),
                "nodes": int(data["mask"].sum()),
                "eval_s": t_eval,
                "walk_features_s": t_walk,
                "train_s": t_train,
                "train_peak_bytes": peak_memory(step, device),
                "saved_for_backward_bytes": saved_for_backward(forward),
            }
        )
    return rows


def _band_mass(sampler, data, types, k: int, band: int) -> float:
    """Share of the dense relaxation's mass within the band, for this sampler's scores."""
    from lps.samplers.relax import band_mass, scores_to_perm

    fields, mask = {"x": data["x"], "adj": data["adj"]}, data["mask"]
    noise = sampler.sample_noise(fields, types, mask, k)
    with torch.no_grad():
        scores = sampler.node_scores(fields, types, mask, k, noise, data["edge_index"])
    rows_mask = repeat_rows(mask, k)
    perm, _ = scores_to_perm(
        scores.requires_grad_(True),
        rows_mask,
        sampler.tau,
        sampler.sinkhorn_iters,
        tiebreak=noise[..., -1],
    )
    return float(band_mass(perm.soft.detach(), perm.index, rows_mask, band))
