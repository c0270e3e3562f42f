"""Frames for the positive scalings: ``Scale`` and ``SO(3) x Scale`` (O(d)/SO(d) x Scale).

- ``Scale``: a frame of one element, the canonicalization ``s = RMS norm`` of the first
  position input (centred on its masked centroid) or, without a position input, of all the
  node-vector inputs. ``rms(c x) = c rms(x)``, so ``s`` turns with the input and the frame
  is exactly equivariant; it is deterministic (k = 1). An all-zero input (fixed by every
  scaling) gets the smallest positive ``s``, so vector outputs of it are ~0, as equivariance
  requires.
- O(d)/SO(d) x Scale: the PCA frame of :class:`~lps.samplers.frame.FrameSampler` for the
  rotation (the covariance only scales by ``c^2``, and its tie test is relative, so the
  eigenvectors do not change) with the RMS scale above; the element is their pair.

The norm is computed in float64; the elements are fp32, or float64 for float64 inputs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lps.fields import FieldType
from lps.groups import Group, full_precision, masked_centroid
from lps.samplers import register_frame
from lps.samplers.base import Sampler, SamplerOutput, SingleElementFrame, inputs_dtype, repeat_rows
from lps.samplers.frame import FrameSampler
from lps.samplers.settings import FrameArgs, parse_args


def rms_scale(
    inputs: dict[str, Tensor],
    types: dict[str, FieldType],
    mask: Tensor | None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """(B,) RMS norm of the first position input (centred) or, without one, of all
    node-vector inputs; padding nodes (``mask`` False) are left out. Computed in float64,
    returned in ``dtype``, at least the smallest positive normal number of ``dtype``."""
    pos = [n for n, t in types.items() if t == FieldType.POSITION]
    names = pos[:1] or [n for n, t in types.items() if t == FieldType.NODE_VECTOR]
    if not names:
        raise ValueError(
            "frame sampler for Scale: the RMS frame needs a 'position' or 'node_vector' input; "
            "got " + ", ".join(f"{n}: {t.value}" for n, t in types.items())
        )
    total, count = 0.0, 0.0
    for name in names:
        x = inputs[name].double()
        if types[name] == FieldType.POSITION:
            x = (x - masked_centroid(x, mask).unsqueeze(1)).unsqueeze(2)
        sq = x.pow(2).sum(-1)  # (B, N, C)
        w = torch.ones_like(sq[..., 0]) if mask is None else mask.to(sq.dtype)
        total = total + (sq * w.unsqueeze(-1)).sum((1, 2))
        count = count + w.sum(1) * sq.shape[-1]
    rms = (total / torch.as_tensor(count).clamp_min(1.0)).sqrt()
    return rms.to(dtype).clamp_min(torch.finfo(dtype).tiny)


@register_frame("scale")
class ScaleFrame(SingleElementFrame):
    """The RMS-norm canonicalization of ``Scale`` (a frame of one element; no settings)."""

    def sample(self, inputs, types, mask, k, noise, edge_index=None) -> SamplerOutput:
        device = next(iter(inputs.values())).device
        with full_precision(device):
            s = rms_scale(inputs, types, mask, inputs_dtype(inputs))
        return SamplerOutput(repeat_rows(s, k))


class RigidScaleFrame(Sampler):
    """O(d)/SO(d) x Scale: the PCA frame for the rotation, the RMS norm for the scale.

    Takes the settings of the PCA frame (:class:`~lps.samplers.settings.FrameArgs`).
    """

    def __init__(self, group: Group, **args):
        super().__init__(group)
        settings = parse_args(FrameArgs, args, f"sampler 'frame' for {group.name}")
        self.rotation = FrameSampler(group.factor("rigid"), **vars(settings))

    def num_samples(self, k: int) -> int:
        return self.rotation.num_samples(k)  # the enumerated PCA frame, when exact

    def sample_noise(self, inputs, types, mask, k, generator=None):
        return self.rotation.sample_noise(inputs, types, mask, k, generator)

    def transform_noise(self, h, noise, k):
        return self.rotation.transform_noise(self.group.split(h)["rigid"], noise, k)

    def sample(self, inputs, types, mask, k, noise, edge_index=None) -> SamplerOutput:
        out = self.rotation.sample(inputs, types, mask, k, noise)
        device = next(iter(inputs.values())).device
        with full_precision(device):
            s = rms_scale(inputs, types, mask, inputs_dtype(inputs))
        out.element = self.group.join({"rigid": out.element, "scale": repeat_rows(s, k)})
        return out


for _kind in ("rigid x scale", "scale x rigid"):
    register_frame(_kind)(RigidScaleFrame)
