"""Equivariance checks that users can call from their own tests.

- :func:`equivariance_error`: ``||f(h.x) - h.f(x)|| / ||h.f(x)||`` under random ``h``, for
  any callable with declared input and output field types, or a symmetrized model (in
  coupled-noise mode exactly equivariant, so the error is at float precision).
- :func:`assert_equivariant`: the same with dtype-aware tolerances and a readable message.
- :func:`error_vs_k`: the Monte-Carlo regime; the error falls like 1/sqrt(k).
- :func:`audit`: every group x sampler on small random inputs (``lps check``), also at
  input scales 1e-3 and 1e3 and in float64.
"""

from lps.testing.audit import (
    AUDIT_SCALES,
    AuditRow,
    audit,
    audit_inputs,
    audit_json,
    audit_table,
    field_specs,
)
from lps.testing.checks import (
    TOLERANCES,
    assert_equivariant,
    default_tolerance,
    equivariance_error,
    error_vs_k,
    permute_edge_index,
    transform_inputs,
)

__all__ = [
    "AUDIT_SCALES",
    "AuditRow",
    "TOLERANCES",
    "assert_equivariant",
    "audit",
    "audit_inputs",
    "audit_json",
    "audit_table",
    "default_tolerance",
    "equivariance_error",
    "error_vs_k",
    "field_specs",
    "permute_edge_index",
    "transform_inputs",
]
