"""Equivariance checks that users can call from their own tests.

- :func:`equivariance_error`: ``||f(h.x) - h.f(x)|| / ||h.f(x)||`` under random ``h``, for
  any callable ``f`` with declared input and output field types (a plain function, an
  ``nn.Module``) or a :class:`~lps.symmetrize.Symmetrized` model. For the latter, in
  coupled-noise mode the sampler noise is transformed together with the input, so the model
  is exactly equivariant and the error is at float precision.
- :func:`assert_equivariant`: the same with dtype-aware tolerances and a readable message.
- :func:`error_vs_k`: the Monte-Carlo regime, fresh noise on both sides; the error falls
  like 1/sqrt(k).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from lps.fields import FieldSpec, FieldType, parse_field_types
from lps.groups import Group, element_dtype, get_group
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


def permute_edge_index(edge_index: Tensor, perm: Any, num_nodes: int) -> Tensor:
    """Relabel flat edges (``b * N + i``) by a permutation element (batch B)."""
    return get_group("S_n").relabel_edges(perm, edge_index, num_nodes)


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
        edge_index = group.relabel_edges(h, edge_index, _num_nodes(fields, types) or 0)
    return out, edge_index


def _as_dict(y: Any) -> dict[str, Tensor]:
    if hasattr(y, "prediction"):  # a SymmetrizedOutput
        y = y.prediction
    if isinstance(y, Tensor):
        return {"output": y}
    if isinstance(y, dict):
        return y
    raise TypeError(f"the function returned {type(y).__name__}; expected a Tensor or a dict")


def _rel_error(a: dict[str, Tensor], b: dict[str, Tensor]) -> float:
    num = sum(float((a[k].double() - b[k].double()).pow(2).sum()) for k in a)
    den = sum(float(b[k].double().pow(2).sum()) for k in b)
    return math.sqrt(num) / max(math.sqrt(den), 1e-30)


def _num_nodes(inputs: dict[str, Tensor], types: dict[str, FieldType]) -> int | None:
    for name, ftype in types.items():
        if ftype in (FieldType.NODE, FieldType.PAIR, FieldType.NODE_VECTOR, FieldType.POSITION):
            return inputs[name].shape[1]
    return None


@dataclass
class _Check:
    """What a check needs to know about the function under test."""

    fn: Callable[..., Any]
    group: Group
    types: dict[str, FieldType]
    out_types: dict[str, FieldType]
    example: dict[str, Tensor]
    symmetrized: bool


def _resolve(fn, group_or_example, group, inputs, outputs, example) -> _Check:
    """Accept ``(model, example)`` for symmetrized models and ``(fn, group, inputs=...,
    outputs=..., example=...)`` for any callable."""
    if isinstance(group_or_example, dict):
        if example is not None:
            raise ValueError("example given twice (positionally and as example=)")
        example = group_or_example
    elif group_or_example is not None:
        if group is not None:
            raise ValueError("group given twice (positionally and as group=)")
        group = group_or_example
    if example is None:
        raise ValueError("example: the input tensors {name: (B, ...)} to check at are needed")
    if isinstance(fn, Symmetrized):
        g = fn.group if group is None else get_group(group)
        if g.name != fn.group.name:
            raise ValueError(f"group {g.name} given for a model symmetrized over {fn.group.name}")
        types = fn.input_types if inputs is None else parse_field_types(inputs, "inputs")
        out_types = fn.output_types
        if outputs is not None:
            out_types = _output_types(outputs)
        out_types = {("output" if k == "__output__" else k): v for k, v in out_types.items()}
        return _Check(fn, g, types, out_types, example, True)
    if group is None or inputs is None or outputs is None:
        raise ValueError(
            f"{type(fn).__name__} is not a Symmetrized model: pass group=, inputs= "
            "({name: field type}) and outputs= (a field type or {name: type})"
        )
    types = parse_field_types(inputs, "inputs")
    missing = sorted(set(types) - set(example))
    if missing:
        raise ValueError(f"example: no tensor for the declared inputs {missing}")
    return _Check(fn, get_group(group), types, _output_types(outputs), example, False)


def _output_types(outputs) -> dict[str, FieldType]:
    if isinstance(outputs, dict):
        return parse_field_types(outputs, "outputs")
    return {"output": FieldSpec.parse(outputs, "outputs").type}


def _call(check: _Check, fields, mask, edge_index, noise, n_samples) -> dict[str, Tensor]:
    if check.symmetrized:
        out = check.fn(mask=mask, edge_index=edge_index, noise=noise, n_samples=n_samples, **fields)
    else:
        extra = {} if mask is None else {"mask": mask}
        if edge_index is not None:
            extra["edge_index"] = edge_index
        out = check.fn(**fields, **extra)
    out = _as_dict(out)
    unknown = sorted(set(out) - set(check.out_types))
    if unknown:
        raise ValueError(
            f"the function returned outputs {sorted(out)}, declared {sorted(check.out_types)}"
        )
    return out


def _in_units(group: Group, h: Any, check: _Check) -> Any:
    """``h`` with its translation (if any) in the units of the positions: scaled by their
    root-mean-square spread, so that a check at input scale 1e-3 does not translate by
    O(1) (which alone loses four digits of an fp32 point cloud's shape)."""
    parts = group.split(h)
    rigid = parts.get("rigid")
    pos = [check.example[n] for n, t in check.types.items() if t == FieldType.POSITION]
    if rigid is None or rigid.translation is None or not pos:
        return h
    x = pos[0].double()
    spread = float((x - x.mean(1, keepdim=True)).pow(2).sum(-1).mean().sqrt())
    if spread > 0:
        parts["rigid"] = type(rigid)(rigid.matrix, rigid.translation * spread)
    return group.join(parts)


@torch.no_grad()
def equivariance_error(
    fn: Callable[..., Any],
    group_or_example: str | Group | dict[str, Tensor] | None = None,
    mask: Tensor | None = None,
    edge_index: Tensor | None = None,
    coupled_noise: bool = True,
    n_samples: int | None = None,
    n_trials: int = 3,
    generator: torch.Generator | None = None,
    *,
    group: str | Group | None = None,
    inputs: dict[str, str | FieldType] | None = None,
    outputs: Any = None,
    example: dict[str, Tensor] | None = None,
) -> float:
    """Largest relative error ``||f(h.x) - h.f(x)|| / ||h.f(x)||`` over ``n_trials``.

    Call it as ``equivariance_error(fn, group, inputs={...}, outputs=..., example={...})``
    for any callable ``fn(**fields[, mask=...])`` returning a tensor or a dict of tensors,
    or as ``equivariance_error(model, example)`` for a symmetrized model, whose group and
    field types are known.

    Args:
        mask: (B, N) node mask, passed to ``fn`` as ``mask=`` when given.
        coupled_noise: for a symmetrized model, transform the sampler noise with the input
            (exact mode); otherwise both sides draw fresh noise (Monte-Carlo mode).
        n_samples: k for both calls of a symmetrized model (default: its own setting).
        generator: the random stream of the test transformations ``h``.
    """
    check = _resolve(fn, group_or_example, group, inputs, outputs, example)
    g, types, fields = check.group, check.types, check.example
    batch = next(iter(fields.values())).shape[0]
    num_nodes = mask.shape[1] if mask is not None else _num_nodes(fields, types)
    device = next(iter(fields.values())).device
    dtype = element_dtype(*(x for x in fields.values() if x.is_floating_point()))
    worst = 0.0
    for _ in range(n_trials):
        h = _in_units(g, g.random_element(batch, num_nodes, mask, device, generator, dtype), check)
        moved, moved_edges = transform_inputs(g, h, fields, types, edge_index)
        noise = moved_noise = None
        if coupled_noise and check.symmetrized:
            noise = fn.sample_noise(mask=mask, n_samples=n_samples, **fields)
            moved_noise = fn.transform_noise(h, noise, n_samples)
        y = _call(check, fields, mask, edge_index, noise, n_samples)
        y_moved = _call(check, moved, mask, moved_edges, moved_noise, n_samples)
        expected = {k: g.act(h, v, check.out_types[k]) for k, v in y.items()}
        worst = max(worst, _rel_error(y_moved, expected))
    return worst


def assert_equivariant(
    fn: Callable[..., Any],
    group_or_example: str | Group | dict[str, Tensor] | None = None,
    mask: Tensor | None = None,
    edge_index: Tensor | None = None,
    tolerance: float | None = None,
    n_trials: int = 3,
    *,
    group: str | Group | None = None,
    inputs: dict[str, str | FieldType] | None = None,
    outputs: Any = None,
    example: dict[str, Tensor] | None = None,
    **kwargs: Any,
) -> float:
    """Assert that ``fn`` is equivariant (a symmetrized model: exactly, in coupled-noise
    mode); return the error. Arguments as for :func:`equivariance_error`.

    The default tolerance depends on the dtype of the inputs (see :data:`TOLERANCES`); for a
    group whose actions are not exact (``image-SO(2)`` resamples) it is the group's own.
    """
    check = _resolve(fn, group_or_example, group, inputs, outputs, example)
    err = equivariance_error(
        fn,
        check.group,
        mask,
        edge_index,
        True,
        n_trials=n_trials,
        inputs=check.types,
        outputs=check.out_types,
        example=check.example,
        **kwargs,
    )
    if tolerance is None:
        dtypes = [v.dtype for v in check.example.values() if v.is_floating_point()]
        tolerance = default_tolerance(dtypes[0] if dtypes else torch.float32)
        tolerance = max(tolerance, check.group.tolerance or 0.0)
    if not err <= tolerance:
        name = type(fn.base_model if check.symmetrized else fn).__name__
        how = (
            f"symmetrized over {check.group.name} with {type(fn.sampler).__name__}"
            if check.symmetrized
            else f"under {check.group.name}"
        )
        mode = "coupled noise, " if check.symmetrized else ""
        raise AssertionError(
            f"{name} {how}: relative equivariance error {err:.3e} exceeds "
            f"tolerance {tolerance:.1e} ({mode}{n_trials} random transformations)"
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
