"""Group averaging: elements from the Haar distribution, independent of the input."""

from __future__ import annotations

from typing import Any

from lps.groups import Group, PermRigid, Product, Rigid
from lps.groups.orthogonal import Orthogonal
from lps.samplers.base import Sampler, SamplerOutput, repeat_rows


def _drop_translation(group: Group, g: Any) -> Any:
    if isinstance(g, Rigid):
        return Rigid(g.matrix, None)
    if isinstance(g, PermRigid):
        return PermRigid(g.perm, Rigid(g.rigid.matrix, None))
    return g


class HaarSampler(Sampler):
    """Uniform elements; the noise *is* the element, so coupled noise composes with ``h``.

    For E(d)/SE(d) the translation is the centroid of the positions (centring), not random.
    """

    def sample_noise(self, inputs, types, mask, k, generator=None):
        from lps.fields import infer_sizes

        batch, num_nodes, _ = infer_sizes(inputs, types)
        device = next(iter(inputs.values())).device
        rows_mask = None if mask is None else repeat_rows(mask, k)
        return self.group.haar(batch * k, num_nodes, rows_mask, device, generator)

    def transform_noise(self, h, noise, k):
        return self.group.compose(_drop_translation(self.group, self.group.repeat(h, k)), noise)

    def sample(self, inputs, types, mask, k, noise, edge_index=None) -> SamplerOutput:
        g = noise
        if isinstance(self.group, Orthogonal):
            g = self.translate_to_centroid(g, inputs, types, mask, k)
        elif isinstance(self.group, Product):
            g = PermRigid(g.perm, self.translate_to_centroid(g.rigid, inputs, types, mask, k))
        return SamplerOutput(g)
