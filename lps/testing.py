"""Equivariance checks that users can call from their own tests.

- :func:`equivariance_error`: ``||phi(h.x) - h.phi(x)|| / ||phi(x)||`` under random ``h``.
  In coupled-noise mode the sampler noise is transformed together with the input, so a
  symmetrized model is exactly equivariant and the error is at float precision.
- :func:`assert_equivariant`: the same with dtype-aware tolerances and a readable message.
- :func:`error_vs_k`: the Monte-Carlo regime, fresh noise on both sides; the error falls
  like 1/sqrt(k).
- :func:`audit`: every group x sampler on small random inputs (``lps check``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from lps.fields import FieldType
from lps.groups import Group, Perm, PermRigid, get_group
from lps.symmetrize import Symmetrized

#: Relative-error tolerances by dtype for exact (coupled-noise) equivariance.
TOLERANCES = {
    torch.float64: 1e-9,
    torch.float32: 1e-4,
    torch.bfloat16: 5e-2,
    torch.float16: 1e-2,
}


def default_tolerance(dtype: torch.dtype) -> float:
    """The tolerance used by :func:`assert_equivariant` for outputs of ``dtype``."""
    return TOLERANCES.get(dtype, 1e-4)


def permute_edge_index(edge_index: Tensor, perm: Perm, num_nodes: int) -> Tensor:
    """Relabel flat edges (``b * N + i``) by ``perm`` (batch B): node ``i`` moves to ``p[i]``."""
    graph, node = edge_index // num_nodes, edge_index % num_nodes
    return graph * num_nodes + perm.index[graph, node]


def transform_inputs(
    group: Group,
    h: Any,
    fields: dict[str, Tensor],
    types: dict[str, FieldType],
    edge_index: Tensor | None = None,
) -> tuple[dict[str, Tensor], Tensor | None]:
    """``h . x`` for every field (and the relabelled flat ``edge_index``, if any)."""
    out = {name: group.act(h, x, types[name]) for name, x in fields.items()}
    if edge_index is not None:
        perm = h if isinstance(h, Perm) else h.perm if isinstance(h, PermRigid) else None
        if perm is not None:
            num_nodes = perm.index.shape[1]
            edge_index = permute_edge_index(edge_index, perm, num_nodes)
    return out, edge_index


def _as_dict(y: Tensor | dict[str, Tensor]) -> dict[str, Tensor]:
    return y if isinstance(y, dict) else {"output": y}


def _rel_error(a: dict[str, Tensor], b: dict[str, Tensor]) -> float:
    num = sum(float((a[k].double() - b[k].double()).pow(2).sum()) for k in a)
    den = sum(float(b[k].double().pow(2).sum()) for k in b)
    return math.sqrt(num) / max(math.sqrt(den), 1e-30)


@torch.no_grad()
def equivariance_error(
    model: Symmetrized,
    inputs: dict[str, Tensor],
    mask: Tensor | None = None,
    edge_index: Tensor | None = None,
    coupled_noise: bool = True,
    n_samples: int | None = None,
    n_trials: int = 3,
    generator: torch.Generator | None = None,
) -> float:
    """Largest relative error ``||phi(h.x) - h.phi(x)|| / ||h.phi(x)||`` over ``n_trials``.

    Args:
        model: a symmetrized model (its group and field types say how to transform).
        inputs: the input fields (each (B, ...)).
        coupled_noise: transform the sampler noise with the input (exact mode); otherwise
            both sides draw fresh noise (Monte-Carlo mode).
        n_samples: k for both calls (default: the model's setting for its mode).
    """
    group, types = model.group, model.input_types
    worst = 0.0
    for _ in range(n_trials):
        batch = next(iter(inputs.values())).shape[0]
        num_nodes = mask.shape[1] if mask is not None else _num_nodes(inputs, types)
        device = next(iter(inputs.values())).device
        h = group.random_element(batch, num_nodes, mask, device, generator)
        moved, moved_edges = transform_inputs(group, h, inputs, types, edge_index)
        noise = moved_noise = None
        if coupled_noise:
            noise = model.sample_noise(mask=mask, n_samples=n_samples, **inputs)
            moved_noise = model.transform_noise(h, noise, n_samples)
        y = model(mask=mask, edge_index=edge_index, noise=noise, n_samples=n_samples, **inputs)
        y_moved = model(
            mask=mask, edge_index=moved_edges, noise=moved_noise, n_samples=n_samples, **moved
        )
        pred = _as_dict(y.prediction)
        out_types = dict(zip(pred, model.output_types.values()))
        expected = {k: group.act(h, v, out_types[k]) for k, v in pred.items()}
        worst = max(worst, _rel_error(_as_dict(y_moved.prediction), expected))
    return worst


def _num_nodes(inputs: dict[str, Tensor], types: dict[str, FieldType]) -> int | None:
    for name, ftype in types.items():
        if ftype in (FieldType.NODE, FieldType.PAIR, FieldType.NODE_VECTOR, FieldType.POSITION):
            return inputs[name].shape[1]
    return None


def assert_equivariant(
    model: Symmetrized,
    inputs: dict[str, Tensor],
    mask: Tensor | None = None,
    edge_index: Tensor | None = None,
    tolerance: float | None = None,
    n_trials: int = 3,
    **kwargs: Any,
) -> float:
    """Assert that ``model`` is exactly equivariant in coupled-noise mode; return the error.

    The default tolerance depends on the output dtype (see :data:`TOLERANCES`).
    """
    err = equivariance_error(model, inputs, mask, edge_index, True, n_trials=n_trials, **kwargs)
    if tolerance is None:
        dtypes = [v.dtype for v in inputs.values() if v.is_floating_point()]
        tolerance = default_tolerance(dtypes[0] if dtypes else torch.float32)
    if not err <= tolerance:
        raise AssertionError(
            f"{type(model.base_model).__name__} symmetrized over {model.group.name} with "
            f"{type(model.sampler).__name__}: relative equivariance error {err:.3e} exceeds "
            f"tolerance {tolerance:.1e} (coupled noise, {n_trials} random transformations)"
        )
    return err


def error_vs_k(
    model: Symmetrized,
    inputs: dict[str, Tensor],
    ks: tuple[int, ...] = (1, 4, 16, 64),
    mask: Tensor | None = None,
    edge_index: Tensor | None = None,
    n_trials: int = 4,
    generator: torch.Generator | None = None,
) -> list[tuple[int, float]]:
    """Monte-Carlo equivariance error (fresh noise on both sides) for each k: [(k, error)].

    For an estimator that is equivariant in expectation the error falls like 1/sqrt(k).
    The error at each k is the root mean square over ``n_trials`` transformations.
    """
    rows = []
    for k in ks:
        errs = [
            equivariance_error(
                model, inputs, mask, edge_index, False, k, n_trials=1, generator=generator
            )
            for _ in range(n_trials)
        ]
        rows.append((k, math.sqrt(sum(e * e for e in errs) / len(errs))))
    return rows


# The audit behind `lps check` ----------------------------------------------------------


@dataclass
class AuditRow:
    """One group x sampler result of :func:`audit`."""

    group: str
    sampler: str
    error: float
    tolerance: float
    ok: bool
    mode: str = "coupled"
    note: str = ""


def audit_inputs(group: Group, batch: int = 4, num_nodes: int = 7, seed: int = 0):
    """Small random inputs for ``group``: (fields, types, mask, output shapes, output types)."""
    from lps.groups import ImageRotation, Orthogonal, Permutation, Product

    gen = torch.Generator().manual_seed(seed)
    n = num_nodes
    sizes = torch.tensor([n - (i % 3) for i in range(batch)])
    mask = torch.arange(n)[None, :] < sizes[:, None]
    if isinstance(group, ImageRotation):
        from lps.groups.image import smooth_disc_images

        size = 8 if group.order == 4 else 32
        fields = {"img": smooth_disc_images(batch, 2, size, gen)}
        types = {"img": FieldType.IMAGE}
        out_shapes = {"cls": (3,)}
        out_types = {"cls": FieldType.INVARIANT}
        if group.order == 4:  # resampling a random (non-smooth) output map is not exact
            out_shapes["seg"], out_types["seg"] = (1, size, size), FieldType.IMAGE
        return fields, types, None, out_shapes, out_types
    fields: dict[str, Tensor] = {}
    types: dict[str, FieldType] = {}
    fields["x"] = torch.randn(batch, n, 2, generator=gen) * mask[..., None]
    types["x"] = FieldType.NODE
    out_shapes: dict[str, tuple[int, ...]] = {"graph": (2,), "node": (n, 2)}
    out_types = {"graph": FieldType.INVARIANT, "node": FieldType.NODE}
    if isinstance(group, (Permutation, Product)):
        adj = (torch.rand(batch, n, n, generator=gen) < 0.5).float()
        adj = torch.triu(adj, 1)
        adj = (adj + adj.transpose(1, 2)) * mask[:, :, None] * mask[:, None, :]
        fields["adj"], types["adj"] = adj.unsqueeze(-1), FieldType.PAIR
    if isinstance(group, (Orthogonal, Product)):
        d = group.d
        fields["pos"] = torch.randn(batch, n, d, generator=gen) * mask[..., None]
        fields["vel"] = torch.randn(batch, n, 1, d, generator=gen) * mask[..., None, None]
        types["pos"], types["vel"] = FieldType.POSITION, FieldType.NODE_VECTOR
        out_shapes["pos_out"] = (n, d)
        out_types["pos_out"] = FieldType.POSITION
    use_mask = mask if isinstance(group, (Permutation, Product)) else None
    if use_mask is None:
        fields = {k: v for k, v in fields.items()}
    return fields, types, use_mask, out_shapes, out_types


def _sampler_kwargs(name: str, group: Group, fields, types) -> dict[str, Any]:
    from lps.groups import Permutation

    if name not in ("learned", "canonical"):
        return {}
    chans = {t: 0 for t in FieldType}
    for k, t in types.items():
        chans[t] += fields[k].shape[2] if t == FieldType.NODE_VECTOR else fields[k].shape[-1]
    if isinstance(group, Permutation):
        return {"in_dim": chans[FieldType.NODE], "hidden": 16, "layers": 2}
    return {
        "scalar_dim": chans[FieldType.NODE],
        "vector_dim": chans[FieldType.NODE_VECTOR],
        "pair_dim": chans[FieldType.PAIR],
        "hidden": 16,
    }


def audit(
    groups: tuple[str, ...] | None = None,
    samplers: tuple[str, ...] = ("haar", "frame", "canonical", "learned"),
    n_samples: int = 3,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> list[AuditRow]:
    """Coupled-noise equivariance error of every supported group x sampler pair.

    Each row symmetrizes a random :class:`~lps.backbones.FlatMLP` (no symmetry of its own)
    over the group, feeds it small random inputs (padded sets with masks for S_n), and
    measures the error under random group elements (with translations for E(d)).
    Continuous image rotations resample the image twice, so their tolerance is the
    interpolation error instead of float precision.
    """
    from lps.backbones import FlatMLP
    from lps.groups import GROUP_NAMES, ImageRotation
    from lps.symmetrize import symmetrize

    rows = []
    torch.manual_seed(seed)
    for gname in groups or GROUP_NAMES:
        group = get_group(gname)
        fields, types, mask, out_shapes, out_types = audit_inputs(group, seed=seed)
        fields = {k: v.to(dtype) for k, v in fields.items()}
        in_shapes = {k: tuple(v.shape[1:]) for k, v in fields.items()}
        for sname in samplers:
            if isinstance(group, ImageRotation) and sname != "haar":
                continue
            base = FlatMLP(in_shapes, out_shapes, hidden=32).to(dtype)
            model = symmetrize(
                base,
                group,
                types,
                out_types,
                sname,
                n_samples=n_samples,
                **_sampler_kwargs(sname, group, fields, types),
            ).to(dtype)
            model.eval()
            tol, note = default_tolerance(dtype), ""
            if isinstance(group, ImageRotation) and group.order is None:
                tol, note = 0.05, "bilinear resampling of smooth images"
            err = equivariance_error(model, fields, mask, n_trials=2)
            rows.append(AuditRow(group.name, sname, err, tol, bool(err <= tol), note=note))
    return rows


def audit_table(rows: list[AuditRow]) -> str:
    """A plain-text table of audit rows."""
    lines = [f"{'group':<14}{'sampler':<11}{'error':>11}{'tolerance':>11}  ok"]
    for r in rows:
        flag = "yes" if r.ok else "NO"
        note = f"  ({r.note})" if r.note else ""
        lines.append(
            f"{r.group:<14}{r.sampler:<11}{r.error:>11.2e}{r.tolerance:>11.1e}  {flag}{note}"
        )
    return "\n".join(lines)


def audit_json(rows: list[AuditRow]) -> list[dict[str, Any]]:
    """Audit rows as plain dicts (group, sampler, error, tolerance, ok, mode, note)."""
    return [asdict(r) for r in rows]
