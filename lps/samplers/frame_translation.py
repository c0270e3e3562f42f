"""The frame of ``T(d)``: canonicalize by the masked centroid of the first position input.

``centroid(x + t) = centroid(x) + t``, so the element ``t = centroid(x)`` moves with the
input and the frame (one element, deterministic, k = 1) is exactly equivariant. The centroid
is computed in float64; elements are fp32, or float64 for float64 inputs.
"""

from __future__ import annotations

from lps.fields import FieldType
from lps.groups import full_precision, masked_centroid
from lps.samplers import register_frame
from lps.samplers.base import (
    SamplerOutput,
    SingleElementFrame,
    first_of_type,
    inputs_dtype,
    repeat_rows,
)


@register_frame("translation")
class TranslationFrame(SingleElementFrame):
    """The centroid canonicalization of ``T(d)`` (a frame of one element; no settings)."""

    def sample(self, inputs, types, mask, k, noise, edge_index=None) -> SamplerOutput:
        name = first_of_type(inputs, types, FieldType.POSITION)
        if name is None:
            raise ValueError(
                f"frame sampler for {self.group.name}: the centroid frame needs a 'position' "
                "input; got " + ", ".join(f"{n}: {t.value}" for n, t in types.items())
            )
        x = inputs[name]
        with full_precision(x.device):
            t = masked_centroid(x.double(), mask).to(inputs_dtype(inputs))
        return SamplerOutput(repeat_rows(t, k))
