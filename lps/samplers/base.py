"""What a sampler is: a module that picks ``k`` group elements for each input.

Layout: a batch of ``B`` inputs and ``k`` samples gives ``M = B * k`` elements, ordered
b-major (row ``b * k + j`` is sample ``j`` of input ``b``), so sample ``j`` of graph ``b`` is
always paired with graph ``b``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from lps.fields import FieldType
from lps.groups import Group, Rigid, element_dtype, full_precision, masked_centroid
from lps.samplers.settings import NoArgs, parse_args


@dataclass
class SamplerOutput:
    """Sampled elements (batch ``B * k``), auxiliary losses (scalars to add to the training
    loss, already weighted) and detached diagnostics (scalars).

    ``weights`` (B * k,) are the weights of the samples in the average, summing to 1 over the
    ``k`` samples of each input (an enumerated frame whose elements are not equally often
    listed); None means uniform, ``1 / k`` each.
    """

    element: Any
    aux_losses: dict[str, Tensor] = field(default_factory=dict)
    diagnostics: dict[str, Tensor] = field(default_factory=dict)
    weights: Tensor | None = None


def repeat_rows(x: Tensor, k: int) -> Tensor:
    """(B, ...) -> (B * k, ...), each row repeated ``k`` times in place (b-major)."""
    return x if k == 1 else x.repeat_interleave(k, 0)


def first_of_type(inputs: dict[str, Tensor], types: dict[str, FieldType], ftype: FieldType):
    """The name of the first input of type ``ftype``, or None."""
    return next((n for n, t in types.items() if t == ftype), None)


def inputs_dtype(inputs: dict[str, Tensor]) -> torch.dtype:
    """The dtype of sampled elements for these inputs: float64 for float64 inputs, else fp32."""
    return element_dtype(*(x for x in inputs.values() if x.is_floating_point()))


class UnsupportedGroupError(ValueError):
    """A sampler was asked for a group it has no construction for."""


class Sampler(nn.Module):
    """Base class. Subclasses implement :meth:`sample_noise`, :meth:`transform_noise` and
    :meth:`sample`.

    The noise is everything random that a sample depends on; passing it explicitly
    (coupled-noise mode) makes a sample a deterministic function of (input, noise). If the
    noise is transformed with the input by :meth:`transform_noise`, the canonical form
    does not change, so one sample of a symmetrized model is exactly equivariant.
    """

    #: True when every sample is the same (canonicalization): the wrapper then uses k = 1.
    deterministic: bool = False

    def __init__(self, group: Group):
        super().__init__()
        self.group = group

    def num_samples(self, k: int) -> int:
        """The number of samples used when ``k`` are asked for: 1 for a deterministic sampler,
        else ``k``. A sampler that enumerates a finite frame returns its frame size."""
        return 1 if self.deterministic else k

    def sample_noise(
        self,
        inputs: dict[str, Tensor],
        types: dict[str, FieldType],
        mask: Tensor | None,
        k: int,
        generator: torch.Generator | None = None,
    ) -> Any:
        """Fresh noise for ``k`` samples of each input (batch ``B * k``)."""
        raise NotImplementedError

    def transform_noise(self, h: Any, noise: Any, k: int) -> Any:
        """The noise that goes with ``h . x``, for ``h`` a batch of ``B`` elements."""
        raise NotImplementedError

    def sample(
        self,
        inputs: dict[str, Tensor],
        types: dict[str, FieldType],
        mask: Tensor | None,
        k: int,
        noise: Any,
        edge_index: Tensor | None = None,
    ) -> SamplerOutput:
        """``B * k`` elements for the inputs (each (B, ...)), given the noise."""
        raise NotImplementedError

    def forward(self, inputs, types, mask, k, noise=None, edge_index=None) -> SamplerOutput:
        if noise is None:
            noise = self.sample_noise(inputs, types, mask, k)
        # The sampler network is small; under autocast its bf16 rounding is amplified by the
        # sort (ties, swapped near-ties) and by Gram-Schmidt (ill-conditioned frames) into
        # O(1) equivariance errors, so it runs in full precision like the group math.
        device = next(iter(inputs.values())).device
        with full_precision(device):
            return self.sample(inputs, types, mask, k, noise, edge_index)

    # Helpers shared by subclasses -------------------------------------------------------

    def centre(
        self,
        g: Any,
        inputs: dict[str, Tensor],
        types: dict[str, FieldType],
        mask: Tensor | None,
        k: int,
    ) -> Any:
        """``g`` with the translation of its rigid part (if any) set to the centroid."""
        parts = self.group.split(g)
        if "rigid" not in parts:
            return g
        parts["rigid"] = self.translate_to_centroid(parts["rigid"], inputs, types, mask, k)
        return self.group.join(parts)

    def translate_to_centroid(
        self,
        rigid: Rigid,
        inputs: dict[str, Tensor],
        types: dict[str, FieldType],
        mask: Tensor | None,
        k: int,
    ) -> Rigid:
        """Set the translation of E(d)/SE(d) elements to the centroid of the position field."""
        group = self.group.factor("rigid")
        if group is None or not group.translations:
            return rigid
        name = first_of_type(inputs, types, FieldType.POSITION)
        if name is None:
            raise ValueError(
                f"{self.group.name}: translations are removed by centring a 'position' field, "
                "but no input has that type (got "
                + ", ".join(f"{n}: {t.value}" for n, t in types.items())
                + ")"
            )
        centre = masked_centroid(inputs[name].to(rigid.matrix.dtype), mask)
        return Rigid(rigid.matrix, repeat_rows(centre, k))


class SingleElementFrame(Sampler):
    """A canonicalization that needs no noise and takes no settings: one element per input,
    computed by :meth:`sample` (the centroid of ``T(d)``, the RMS norm of ``Scale``)."""

    deterministic = True

    def __init__(self, group: Group, **args):
        parse_args(NoArgs, args, f"sampler 'frame' for {group.name}")
        super().__init__(group)

    def sample_noise(self, inputs, types, mask, k, generator=None):
        return None

    def transform_noise(self, h, noise, k):
        return None
