"""Approximate equivariance for a symmetrized model: fixed inputs passed untransformed.

``phi(x) = mean_j g_j . f(g_j^-1 . x, b(x))``: the regular inputs are canonicalized as in
:class:`~lps.symmetrize.Symmetrized`, while the fixed inputs ``b(x)`` (a
:class:`~lps.relax.FixedInputs` of the *world-frame* positions) reach the base model as an
extra per-node field that the group's geometric part does not act on (a permutation still
reorders it with its nodes). The sampler sees only the regular inputs. With the fixed inputs
off (``b = 0``) the model is exactly the strict symmetrized model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lps.fields import FieldSpec, FieldType
from lps.groups import Group
from lps.relax.fixed_inputs import FixedInputs, forced
from lps.samplers import Sampler, SamplerOutput
from lps.symmetrize import Symmetrized, SymmetrizedOutput, resolve_wrapper_args


class RegularInputsSampler(Sampler):
    """A sampler that sees only the regular inputs: it drops the fixed-input field."""

    def __init__(self, inner: Sampler, drop: str):
        super().__init__(inner.group)
        self.inner, self.drop = inner, drop
        self.deterministic = inner.deterministic

    def num_samples(self, k: int) -> int:
        return self.inner.num_samples(k)

    def _strip(self, inputs, types):
        return (
            {n: x for n, x in inputs.items() if n != self.drop},
            {n: t for n, t in types.items() if n != self.drop},
        )

    def sample_noise(self, inputs, types, mask, k, generator=None):
        return self.inner.sample_noise(*self._strip(inputs, types), mask, k, generator)

    def transform_noise(self, h, noise, k):
        return self.inner.transform_noise(h, noise, k)

    def forward(self, inputs, types, mask, k, noise=None, edge_index=None) -> SamplerOutput:
        return self.inner(*self._strip(inputs, types), mask, k, noise, edge_index)


class RelaxedSymmetrized(Symmetrized):
    """A :class:`~lps.symmetrize.Symmetrized` model whose base model also receives fixed
    inputs ``b(x)`` (B * k, N, m) as the keyword ``fixed_name``, computed from the position
    input ``fixed_at`` (B, N, d) in the world frame. Built by :func:`symmetrize_relaxed`.

    ``forward(..., fixed_on=None)``: None follows the :class:`FixedInputs` mode (dropout in
    training, ``off_at_eval``); True/False forces them on (no dropout) or off.
    """

    def __init__(self, *args, fixed_inputs: FixedInputs, fixed_at: str, fixed_name: str, **kw):
        super().__init__(*args, **kw)
        self.fixed_inputs, self.fixed_at, self.fixed_name = fixed_inputs, fixed_at, fixed_name

    def forward(
        self,
        mask: Tensor | None = None,
        edge_index: Tensor | None = None,
        noise: Any = None,
        n_samples: int | None = None,
        return_samples: bool = False,
        fixed_on: bool | None = None,
        **fields: Tensor,
    ) -> SymmetrizedOutput:
        if self.fixed_name in fields:
            raise ValueError(
                f"field {self.fixed_name!r}: the fixed inputs are computed from "
                f"{self.fixed_at!r} in the world frame; do not pass them"
            )
        if self.fixed_at not in fields:
            raise ValueError(f"inputs: the position field {self.fixed_at!r} is missing")
        b = self.fixed_inputs(fields[self.fixed_at], mask, on=fixed_on)
        out = super().forward(
            mask, edge_index, noise, n_samples, return_samples, **fields, **{self.fixed_name: b}
        )
        out.diagnostics["fixed_inputs_rms"] = b.detach().pow(2).mean().sqrt()
        return out


def symmetrize_relaxed(
    base_model: nn.Module,
    group: str | Group,
    inputs: dict[str, Any],
    outputs: Any,
    fixed_inputs: FixedInputs,
    sampler: str | Sampler = "haar",
    *,
    fixed_at: str | None = None,
    fixed_name: str = "fixed",
    sampler_args: dict[str, Any] | None = None,
    n_samples: int = 1,
    n_samples_eval: int | None = None,
    validate: bool = True,
) -> RelaxedSymmetrized:
    """:func:`lps.symmetrize` with learnable fixed inputs (approximate equivariance).

    Args:
        base_model: called as ``base_model(**canonicalized_fields, fixed=b)`` with ``b``
            (B * k, N, m) the fixed inputs at the world positions of the nodes.
        fixed_inputs: the :class:`FixedInputs` (count ``m``, dropout, domain, eval switch).
        fixed_at: the ``position`` input they are evaluated at (default: the only one).
        fixed_name: the keyword the base model receives them as.
        group, inputs, outputs, sampler, sampler_args, n_samples, n_samples_eval, validate:
            as for :func:`lps.symmetrize`.
    """
    if not isinstance(fixed_inputs, FixedInputs):
        raise TypeError(f"fixed_inputs: expected a FixedInputs, got {type(fixed_inputs).__name__}")
    group, specs, out_specs, sampler = resolve_wrapper_args(
        group, inputs, outputs, sampler, sampler_args
    )
    if fixed_name in specs:
        raise ValueError(f"fixed_name {fixed_name!r} is already an input field; choose another")
    positions = [n for n, s in specs.items() if s.type == FieldType.POSITION]
    if fixed_at is None:
        if len(positions) != 1:
            raise ValueError(
                f"fixed_at: give the position input the fixed inputs are evaluated at; "
                f"position inputs: {positions}"
            )
        fixed_at = positions[0]
    if fixed_at not in positions:
        raise ValueError(f"fixed_at={fixed_at!r} is not a position input; got {positions}")
    all_specs = {**specs, fixed_name: FieldSpec(FieldType.NODE, max(fixed_inputs.count, 1))}
    if fixed_inputs.count == 0:
        all_specs[fixed_name] = FieldSpec(FieldType.NODE, None)
    return RelaxedSymmetrized(
        base_model,
        group,
        RegularInputsSampler(sampler, fixed_name),
        all_specs,
        out_specs,
        n_samples,
        n_samples_eval,
        validate,
        False,
        fixed_inputs=fixed_inputs,
        fixed_at=fixed_at,
        fixed_name=fixed_name,
    )


def departure(
    model: nn.Module, example: dict[str, Tensor], mask: Tensor | None = None, **kwargs: Any
) -> dict[str, float]:
    """The departure from equivariance: :func:`lps.testing.equivariance_error` of ``model``
    (eval mode) with its fixed inputs forced on (``"on"``) and off (``"off"``, the strict
    model: float precision). ``kwargs`` go to ``equivariance_error`` (``n_trials``, and
    ``group``/``inputs``/``outputs`` for a model that is not symmetrized)."""
    from lps.testing import equivariance_error

    was_training = model.training
    model.eval()
    try:
        result = {}
        for label, on in (("on", True), ("off", False)):
            with forced(model, on), torch.no_grad():
                gen = torch.Generator().manual_seed(0)
                result[label] = equivariance_error(model, example, mask, generator=gen, **kwargs)
        return result
    finally:
        model.train(was_training)
