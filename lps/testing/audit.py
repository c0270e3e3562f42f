"""The audit behind ``lps check``: every group x sampler on the group's example inputs, at
input scale 1, at scales 1e-3 and 1e3, and in float64."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from lps.fields import FieldSpec, FieldType
from lps.groups import Group, get_group
from lps.testing.checks import default_tolerance, equivariance_error


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
    """Small random inputs for ``group``: (fields, types, mask, output shapes, output types).

    The group's own :meth:`~lps.groups.Group.example`, as a tuple.
    """
    ex = group.example(batch, num_nodes, seed)
    return ex.fields, ex.types, ex.mask, ex.out_shapes, ex.out_types


def field_specs(fields: dict[str, Tensor], types: dict[str, FieldType]) -> dict[str, FieldSpec]:
    """``{name: FieldSpec}`` with the channel counts read off example tensors."""
    axis = {FieldType.NODE_VECTOR: 2, FieldType.IMAGE: 1}
    return {
        n: FieldSpec.parse((t, int(fields[n].shape[axis.get(t, -1)])))
        if t != FieldType.POSITION
        else FieldSpec(t, 1)
        for n, t in types.items()
    }


#: Input scales of the audit's scale sweep: equivariance must not depend on units.
AUDIT_SCALES = (1e-3, 1e3)


def audit(
    groups: tuple[str, ...] | None = None,
    samplers: tuple[str, ...] | None = None,
    n_samples: int = 3,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    scales: tuple[float, ...] = AUDIT_SCALES,
    float64: bool = True,
) -> list[AuditRow]:
    """Coupled-noise equivariance error of every supported group x sampler pair.

    Each row symmetrizes a random :class:`~lps.backbones.FlatMLP` (no symmetry of its own)
    over the group, feeds it the group's example inputs (padded sets with masks where nodes
    move), and measures the error under random group elements (with translations for
    E(d)). Besides the row at scale 1 in ``dtype``, each pair gets a row per input scale in
    ``scales`` and, with ``float64``, a row with the whole model in float64 (tolerance
    1e-9). Groups whose actions resample (``image-SO(2)``) use their own tolerance. Pairs a
    sampler has no construction for are left out.
    """
    from lps.backbones import FlatMLP
    from lps.groups import GROUP_NAMES
    from lps.samplers import SAMPLER_NAMES, UnsupportedGroupError, list_samplers
    from lps.symmetrize import symmetrize

    samplers = samplers or tuple(n for n in SAMPLER_NAMES if n in list_samplers())
    variants = [("coupled", 1.0, dtype)]
    variants += [(f"scale={s:g}", s, dtype) for s in scales]
    if float64 and dtype != torch.float64:
        variants.append(("float64", 1.0, torch.float64))
    rows = []
    for gname in groups or GROUP_NAMES:
        group = get_group(gname)
        ex = group.example(seed=seed)
        in_shapes = {k: tuple(v.shape[1:]) for k, v in ex.fields.items()}
        specs = field_specs(ex.fields, ex.types)
        for sname in samplers:
            for mode, scale, dt in variants:
                torch.manual_seed(seed)
                base = FlatMLP(in_shapes, ex.out_shapes, hidden=32)
                try:
                    model = symmetrize(
                        base,
                        group,
                        specs,
                        ex.out_types,
                        sname,
                        sampler_args={"hidden": 16} if sname in ("learned", "canonical") else None,
                        n_samples=n_samples,
                    )
                except UnsupportedGroupError:
                    break
                model = model.to(dt).eval()
                if dt == torch.float64:  # the sampler networks' own dtype follows the model
                    model.sampler.to(torch.float64)
                fields = {k: (v * scale).to(dt) for k, v in ex.fields.items()}
                tol = default_tolerance(dt)
                note = ""
                if not group.exact:
                    tol, note = max(tol, group.tolerance or 0.0), group.note
                err = equivariance_error(model, fields, ex.mask, n_trials=2)
                rows.append(AuditRow(group.name, sname, err, tol, bool(err <= tol), mode, note))
    return rows


def audit_table(rows: list[AuditRow]) -> str:
    """A plain-text table of audit rows."""
    lines = [f"{'group':<14}{'sampler':<11}{'mode':<13}{'error':>11}{'tolerance':>11}  ok"]
    for r in rows:
        flag = "yes" if r.ok else "NO"
        note = f"  ({r.note})" if r.note else ""
        lines.append(
            f"{r.group:<14}{r.sampler:<11}{r.mode:<13}{r.error:>11.2e}{r.tolerance:>11.1e}"
            f"  {flag}{note}"
        )
    return "\n".join(lines)


def audit_json(rows: list[AuditRow]) -> list[dict[str, Any]]:
    """Audit rows as plain dicts (group, sampler, error, tolerance, ok, mode, note)."""
    return [asdict(r) for r in rows]
