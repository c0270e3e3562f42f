"""The wrapper: phi(x) = mean_j g_j . f(g_j^-1 . x) with g_j ~ p(g | x), j = 1..k.

The base model runs once on all ``B * k`` canonicalized copies (b-major: row ``b * k + j`` is
sample ``j`` of input ``b``); outputs are mapped back by their declared field types and
averaged over the sample axis, with the sampler's weights when it gives some (an enumerated
frame, ``SamplerOutput.weights``), else uniformly.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from lps.fields import (
    FieldSpec,
    FieldType,
    check_field,
    check_mask,
    infer_sizes,
    parse_field_specs,
)
from lps.groups import Group, get_group
from lps.samplers import Sampler, build_sampler, repeat_rows

_SINGLE = "__output__"

#: Keyword arguments of :meth:`Symmetrized.forward`; no input field may use these names.
RESERVED_NAMES = frozenset({"mask", "edge_index", "noise", "n_samples", "return_samples"})


@dataclass
class SymmetrizedOutput:
    """What a symmetrized model returns.

    Attributes:
        prediction: the averaged output: a tensor, or a dict for several output fields.
        aux_losses: weighted scalar losses from the sampler, to add to the training loss.
        diagnostics: detached scalars (soft-permutation entropy, sample spread, ...).
        samples: per-sample outputs with shape (B, k, ...) when requested, else None.
        element: the sampled group elements (batch B * k) when requested, else None.
        weights: (B, k) weights of the samples in the prediction, when requested and the
            sampler weights them (an enumerated frame); None means uniform, ``1 / k``.
    """

    prediction: Tensor | dict[str, Tensor]
    aux_losses: dict[str, Tensor] = field(default_factory=dict)
    diagnostics: dict[str, Tensor] = field(default_factory=dict)
    samples: Tensor | dict[str, Tensor] | None = None
    element: Any = None
    weights: Tensor | None = None

    @property
    def aux_loss(self) -> Tensor | float:
        """The sum of the auxiliary losses (0.0 when there are none)."""
        return sum(self.aux_losses.values()) if self.aux_losses else 0.0


class Symmetrized(nn.Module):
    """A base model made equivariant by averaging over sampled group elements.

    Call it with the input fields as keyword arguments (each (B, ...)), plus optionally
    ``mask`` (B, N) bool, ``edge_index`` (2, E) in the flat layout ``b * N + i``, ``noise``
    (coupled-noise mode: from :meth:`sample_noise`), ``n_samples`` and ``return_samples``.
    """

    def __init__(
        self,
        base_model: nn.Module,
        group: Group,
        sampler: Sampler,
        inputs: dict[str, FieldType | FieldSpec],
        outputs: dict[str, FieldType | FieldSpec],
        n_samples: int = 1,
        n_samples_eval: int | None = None,
        validate: bool = True,
        pass_mask: bool | None = None,
    ):
        super().__init__()
        self.base_model = base_model
        self.group = group
        self.sampler = sampler
        self.input_specs = {n: FieldSpec.parse(t, f"inputs[{n!r}]") for n, t in inputs.items()}
        self.output_specs = {n: FieldSpec.parse(t, f"outputs[{n!r}]") for n, t in outputs.items()}
        self.input_types = {n: s.type for n, s in self.input_specs.items()}
        self.output_types = {n: s.type for n, s in self.output_specs.items()}
        clash = sorted(RESERVED_NAMES & set(self.input_specs))
        if clash:
            raise ValueError(
                f"inputs: field name(s) {clash} are reserved for the forward's own arguments "
                f"({', '.join(sorted(RESERVED_NAMES))}); rename the field(s)"
            )
        inputs, outputs = self.input_types, self.output_types
        # Inputs and outputs separately: an output named like an input must not hide it.
        for name, ftype in inputs.items():
            group.check_acts_on(name, ftype)
        for name, ftype in outputs.items():
            group.check_acts_on("output" if name == _SINGLE else name, ftype)
        for name, n in (("n_samples", n_samples), ("n_samples_eval", n_samples_eval)):
            if n is not None and (not isinstance(n, int) or n < 1):
                raise ValueError(f"{name} must be a positive integer, got {n!r}")
        self.n_samples = n_samples
        self.n_samples_eval = n_samples_eval if n_samples_eval is not None else n_samples
        self.validate = validate
        if pass_mask is None:
            try:
                params = inspect.signature(base_model.forward).parameters
                pass_mask = "mask" in params or any(
                    p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()
                )
            except (TypeError, ValueError):
                pass_mask = False
        self.pass_mask = pass_mask

    def num_samples(self, n_samples: int | None = None) -> int:
        """The k used for a call: ``n_samples`` or the train/eval setting, as the sampler takes
        it (:meth:`Sampler.num_samples`): 1 for deterministic samplers, the frame size for an
        enumerated frame (``sampler="frame"`` with ``exact=True``)."""
        if n_samples is not None and (not isinstance(n_samples, int) or n_samples < 1):
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        if n_samples is None:
            n_samples = self.n_samples if self.training else self.n_samples_eval
        return self.sampler.num_samples(n_samples)

    def _check(self, fields: dict[str, Tensor], mask: Tensor | None) -> None:
        missing = [n for n in self.input_types if n not in fields]
        extra = [n for n in fields if n not in self.input_types]
        if missing or extra:
            raise ValueError(
                f"inputs: expected fields {sorted(self.input_types)}, missing {missing}, "
                f"unexpected {extra}"
            )
        batch, num_nodes, _ = infer_sizes(fields, self.input_types)
        dim = self._dim()
        for name, spec in self.input_specs.items():
            check_field(name, fields[name], spec.type, batch, num_nodes, dim, spec.channels)
            x = fields[name]
            if x.is_floating_point() and not bool(torch.isfinite(x).all()):
                raise ValueError(f"field {name!r}: contains NaN or infinite values")
        if mask is not None:
            if num_nodes is None:
                raise ValueError("mask: given, but no input has a node axis")
            check_mask(mask, batch, num_nodes)

    def _dim(self) -> int | None:
        rigid = self.group.factor("rigid")
        return None if rigid is None else rigid.d

    def _check_outputs(self, raw: dict[str, Tensor], rows: int, num_nodes: int | None) -> None:
        """Every output against its declared type: (B * k, ...) with the inputs' N and d."""
        dim = self._dim()
        for name, spec in self.output_specs.items():
            label = "the output" if name == _SINGLE else f"output {name!r}"
            try:
                check_field(name, raw[name], spec.type, rows, num_nodes, dim, spec.channels, label)
            except (ValueError, TypeError) as err:
                raise type(err)(
                    f"base model {type(self.base_model).__name__}: {err} (batch B * k = {rows})"
                ) from None

    def sample_noise(self, mask: Tensor | None = None, n_samples: int | None = None, **fields):
        """Fresh sampler noise for these inputs (coupled-noise mode)."""
        k = self.num_samples(n_samples)
        return self.sampler.sample_noise(fields, self.input_types, mask, k)

    def transform_noise(self, h: Any, noise: Any, n_samples: int | None = None) -> Any:
        """The noise that goes with ``h . x``, for ``h`` a batch of B group elements."""
        return self.sampler.transform_noise(h, noise, self.num_samples(n_samples))

    def forward(
        self,
        mask: Tensor | None = None,
        edge_index: Tensor | None = None,
        noise: Any = None,
        n_samples: int | None = None,
        return_samples: bool = False,
        **fields: Tensor,
    ) -> SymmetrizedOutput:
        if self.validate:
            self._check(fields, mask)
        k = self.num_samples(n_samples)
        batch = next(iter(fields.values())).shape[0]
        out = self.sampler(fields, self.input_types, mask, k, noise, edge_index)
        g = out.element
        canon = {
            name: self.group.act(g, repeat_rows(x, k), self.input_types[name], inverse=True)
            for name, x in fields.items()
        }
        kwargs = dict(canon)
        if self.pass_mask:
            kwargs["mask"] = None if mask is None else repeat_rows(mask, k)
        raw = self.base_model(**kwargs)
        raw_dict = self._as_dict(raw)
        num_nodes = infer_sizes(fields, self.input_types)[1] if mask is None else mask.shape[1]
        self._check_outputs(raw_dict, batch * k, num_nodes)
        samples = {}
        for name, ftype in self.output_types.items():
            y = self.group.act(g, raw_dict[name], ftype)
            samples[name] = y.view(batch, k, *y.shape[1:])
        weights = None if out.weights is None else out.weights.view(batch, k)
        prediction = {name: _average(y, weights) for name, y in samples.items()}
        single = list(self.output_types) == [_SINGLE]
        unwrap = (lambda d: d[_SINGLE]) if single else (lambda d: d)
        return SymmetrizedOutput(
            prediction=unwrap(prediction),
            aux_losses=out.aux_losses,
            diagnostics=out.diagnostics,
            samples=unwrap(samples) if return_samples else None,
            element=g if return_samples else None,
            weights=weights if return_samples else None,
        )

    def _as_dict(self, raw: Any) -> dict[str, Tensor]:
        if isinstance(raw, Tensor):
            if list(self.output_types) != [_SINGLE]:
                raise ValueError(
                    f"base model returned one tensor, but outputs declare {list(self.output_types)}"
                )
            return {_SINGLE: raw}
        if isinstance(raw, dict):
            missing = [n for n in self.output_types if n not in raw]
            if missing or list(self.output_types) == [_SINGLE]:
                raise ValueError(
                    f"base model returned keys {sorted(raw)}, outputs declare "
                    f"{[n for n in self.output_types if n != _SINGLE] or 'a single tensor'}"
                )
            return raw
        raise TypeError(f"base model must return a Tensor or a dict of Tensors, got {type(raw)}")


def _average(y: Tensor, weights: Tensor | None) -> Tensor:
    """(B, k, ...) -> (B, ...): the mean over the samples, or their weighted sum."""
    if weights is None:
        return y.mean(1)
    w = weights.to(y.dtype).view(*weights.shape, *([1] * (y.dim() - 2)))
    return (y * w).sum(1)


def resolve_wrapper_args(
    group: str | Group,
    inputs: dict[str, str | FieldType | FieldSpec],
    outputs: str | FieldType | FieldSpec | dict[str, str | FieldType | FieldSpec],
    sampler: str | Sampler,
    sampler_args: dict[str, Any] | None,
) -> tuple[Group, dict[str, FieldSpec], dict[str, FieldSpec], Sampler]:
    """What a wrapper is built from, by name or object, checked: the group, the input and
    output specs (a single output under one internal name), and the sampler (built from its
    name with ``sampler_args``, or a built one for the same group)."""
    group = get_group(group)
    input_specs = parse_field_specs(inputs, "inputs")
    if isinstance(outputs, dict):
        output_specs = parse_field_specs(outputs, "outputs")
    else:
        output_specs = {_SINGLE: FieldSpec.parse(outputs, "outputs")}
    if isinstance(sampler, str):
        sampler = build_sampler(sampler, group, inputs=input_specs, **(sampler_args or {}))
    elif sampler_args:
        raise ValueError(f"sampler_args {sorted(sampler_args)} given with a built sampler")
    if sampler.group.name != group.name:
        raise ValueError(f"sampler is for group {sampler.group.name}, the wrapper for {group.name}")
    return group, input_specs, output_specs, sampler


def symmetrize(
    base_model: nn.Module,
    group: str | Group,
    inputs: dict[str, str | FieldType | FieldSpec],
    outputs: str | FieldType | FieldSpec | dict[str, str | FieldType | FieldSpec],
    sampler: str | Sampler = "haar",
    *,
    sampler_args: dict[str, Any] | None = None,
    n_samples: int = 1,
    n_samples_eval: int | None = None,
    validate: bool = True,
    pass_mask: bool | None = None,
) -> Symmetrized:
    """Wrap ``base_model`` so that it is equivariant (in expectation) to ``group``.

    Args:
        base_model: any module called as ``base_model(**fields[, mask=mask])`` on the
            canonicalized fields (batch ``B * k``), returning a tensor or a dict of tensors.
        group: a group or its name (``"S_n"``, ``"SO(3)"``, ``"S_n x E(3)"``, ``"C4"``, ...;
            :func:`lps.groups.list_groups`).
        inputs: ``{name: field type}`` of the keyword inputs, e.g. ``{"x": "node:3"}``; the
            optional ``:C`` channel count sizes the learned sampler's network.
        outputs: the output's field type, or ``{name: type}`` for a dict output.
        sampler: ``"haar"`` (default), ``"frame"``, ``"canonical"``, ``"learned"`` (or any name in
            :func:`lps.samplers.list_samplers`), or a built ``Sampler``.
        sampler_args: the sampler's settings, e.g. ``{"hidden": 32, "walk_steps": 8}``
            (:mod:`lps.samplers.settings`); an unknown or bad one is an error here.
        n_samples: k in training; ``n_samples_eval``: k in eval mode (default: the same).
        validate: check shapes, masks and NaNs on every call (host syncs; turn off for speed).
        pass_mask: call the base model with ``mask=`` (default: if its forward takes one).

    Returns:
        a :class:`Symmetrized` module whose forward returns a :class:`SymmetrizedOutput`.
    """
    group, input_specs, output_specs, sampler = resolve_wrapper_args(
        group, inputs, outputs, sampler, sampler_args
    )
    return Symmetrized(
        base_model,
        group,
        sampler,
        input_specs,
        output_specs,
        n_samples,
        n_samples_eval,
        validate,
        pass_mask,
    )
