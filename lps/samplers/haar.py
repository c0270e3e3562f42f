"""Group averaging: elements from the Haar distribution, independent of the input."""

from __future__ import annotations

from lps.fields import infer_sizes
from lps.groups import Rigid
from lps.samplers.base import Sampler, SamplerOutput, inputs_dtype, repeat_rows


class HaarSampler(Sampler):
    """Uniform elements; the noise *is* the element, so coupled noise composes with ``h``.

    For E(d)/SE(d) the translation is the centroid of the positions (centring), not random.
    Elements are float64 for float64 inputs, else fp32.
    """

    def sample_noise(self, inputs, types, mask, k, generator=None):
        batch, num_nodes, _ = infer_sizes(inputs, types)
        device = next(iter(inputs.values())).device
        rows_mask = None if mask is None else repeat_rows(mask, k)
        dtype = inputs_dtype(inputs)
        return self.group.haar(batch * k, num_nodes, rows_mask, device, generator, dtype)

    def transform_noise(self, h, noise, k):
        parts = self.group.split(self.group.repeat(h, k))
        if "rigid" in parts:  # the noise is translation-free; centring restores it
            parts["rigid"] = Rigid(parts["rigid"].matrix, None)
        return self.group.compose(self.group.join(parts), noise)

    def sample(self, inputs, types, mask, k, noise, edge_index=None) -> SamplerOutput:
        return SamplerOutput(self.centre(noise, inputs, types, mask, k))
