"""The function-level (sampled) equivariance regularizer, for any model.

``E_{x, g ~ G} ||f(g . x) - g . f(x)||^2`` with ``g`` from the group's Haar sampler. Inputs
and outputs are declared like those of :func:`lps.symmetrize.symmetrize`: a field type
(``"position"``, ``"node_vector"``, ``"image"``, ...) that the group acts on, or a
:class:`~lps.soft.reps.Rep` for flat tensors (B, rep.dim) of declared O(3) x Scale tensors
(the inputs and outputs of :class:`~lps.soft.mlp.SoftMLP`). The relative form divides by
``E ||g . f(x)||^2``. It is differentiable, so it is a training penalty, and it is also the
sampled relative equivariance error that the strength tuner logs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from lps.fields import FieldSpec, FieldType
from lps.groups import Group, element_dtype, get_group
from lps.soft.reps import Rep, element_matrices, rep_matrix

__all__ = ["act", "parse_specs", "relative_error", "sampled_penalty"]

Spec = FieldType | Rep


def parse_specs(spec: dict[str, Any] | Any, what: str) -> dict[str, Spec]:
    """``{name: field type or Rep}``; a single spec becomes ``{"output": spec}``."""
    if not isinstance(spec, dict):
        spec = {"output": spec}
    out: dict[str, Spec] = {}
    for name, s in spec.items():
        if isinstance(s, Rep):
            out[name] = s
            continue
        try:
            out[name] = FieldSpec.parse(s, f"{what}[{name!r}]").type
        except ValueError as err:
            try:
                out[name] = Rep(s)
            except (ValueError, TypeError):
                raise ValueError(f"{err}, or a Rep such as '1xT2'") from None
    return out


def act(group: Group, g: Any, x: Tensor, spec: Spec) -> Tensor:
    """``g . x`` for a field type (the group's own action) or a Rep (its matrices)."""
    if isinstance(spec, FieldType):
        return group.act(g, x, spec)
    scale, rot = element_matrices(group, g, x.shape[0], dtype=element_dtype(x))
    return torch.einsum("mij,mj->mi", rep_matrix(spec, scale, rot).to(x.dtype), x)


def _num_nodes(fields: dict[str, Tensor], specs: dict[str, Spec]) -> int | None:
    nodes = (FieldType.NODE, FieldType.PAIR, FieldType.NODE_VECTOR, FieldType.POSITION)
    for name, s in specs.items():
        if s in nodes:
            return fields[name].shape[1]
    return None


def _as_dict(y: Any) -> dict[str, Tensor]:
    return {"output": y} if isinstance(y, Tensor) else dict(y)


def sampled_penalty(
    fn: Callable[..., Any],
    group: Group | str,
    fields: dict[str, Tensor],
    inputs: dict[str, Any],
    outputs: Any,
    n_samples: int = 1,
    relative: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Monte-Carlo ``E ||f(g.x) - g.f(x)||^2`` over the batch and ``n_samples`` elements
    per input (squared norm summed over each output, averaged over inputs and samples).

    Args:
        fn: any callable ``fn(**fields)`` returning a tensor or a dict of tensors (an
            ``nn.Module``, a timm model called as ``model(x=images)``).
        inputs: ``{name: field type or Rep}`` for every tensor in ``fields``.
        outputs: a field type / Rep, or ``{name: ...}`` for dict outputs.
        relative: divide by ``E ||g . f(x)||^2`` (a scale-free error).
    """
    group = get_group(group)
    in_specs, out_specs = parse_specs(inputs, "inputs"), parse_specs(outputs, "outputs")
    missing = sorted(set(in_specs) - set(fields))
    if missing:
        raise ValueError(f"fields: no tensor for the declared inputs {missing}")
    for name, s in in_specs.items():
        if isinstance(s, FieldType):
            group.check_acts_on(name, s)
    batch = next(iter(fields.values())).shape[0]
    if n_samples > 1:
        fields = {k: v.repeat_interleave(n_samples, 0) for k, v in fields.items()}
    m = batch * n_samples
    dtype = element_dtype(*(x for x in fields.values() if x.is_floating_point()))
    device = next(iter(fields.values())).device
    g = group.haar(m, _num_nodes(fields, in_specs), None, device, generator, dtype)
    moved = {k: act(group, g, v, in_specs[k]) for k, v in fields.items()}
    y, y_moved = _as_dict(fn(**fields)), _as_dict(fn(**moved))
    unknown = sorted(set(y) - set(out_specs))
    if unknown:
        raise ValueError(f"the model returned outputs {sorted(y)}, declared {sorted(out_specs)}")
    num = den = 0.0
    for k, v in y.items():
        expected = act(group, g, v, out_specs[k])
        num = num + (y_moved[k] - expected).pow(2).reshape(m, -1).sum(1).mean()
        den = den + expected.pow(2).reshape(m, -1).sum(1).mean()
    return num / den.clamp_min(1e-30) if relative else num


def relative_error(fn, group: Group | str, x: Tensor, rep_in, rep_out, seed: int = 0) -> float:
    """Sampled ``sqrt(E ||f(g.x) - g.f(x)||^2 / E ||g.f(x)||^2)`` of a flat-tensor function
    ``fn(x)`` ((B, rep_in.dim) -> (B, rep_out.dim)), one Haar ``g`` per input, from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        rel = sampled_penalty(fn, group, {"x": x}, {"x": rep_in}, rep_out, 1, True, gen)
    return math.sqrt(float(rel))
