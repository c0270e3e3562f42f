"""The "Adding a group" recipe of docs/architecture.md, followed literally.

A toy group (reflection of the first coordinate) is defined and registered in this file,
audited by the ``lps check`` machinery, and symmetrized with the haar sampler and with a
frame sampler registered for its kind: one file for the group, one for its frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

import lps
from lps.fields import FieldType
from lps.groups import GROUPS, Example, Group, element_dtype, get_group, register_group
from lps.samplers import FRAMES, Sampler, SamplerOutput, register_frame
from lps.testing import assert_equivariant, audit, equivariance_error


# --- The group file -------------------------------------------------------------------
@dataclass
class Flip:
    """A batch of elements: ``sign`` (M,) in {-1, +1}, the sign of the first coordinate."""

    sign: Tensor


class FirstAxisFlip(Group):
    """Z_2 acting on positions and vectors by negating their first coordinate."""

    name = "Z2_flip"
    kind = "first_axis_flip"
    moves = frozenset({"space"})
    acts_on = frozenset(
        {FieldType.INVARIANT, FieldType.NODE, FieldType.NODE_VECTOR, FieldType.POSITION}
    )

    def identity(self, m, num_nodes=None, device="cpu"):
        return Flip(torch.ones(m, device=device))

    def haar(self, m, num_nodes=None, mask=None, device="cpu", generator=None, dtype=None):
        coin = torch.rand(m, device=device, generator=generator)
        return Flip(torch.where(coin < 0.5, -1.0, 1.0).to(dtype or torch.float32))

    def compose(self, g, h):
        return Flip(g.sign * h.sign)

    def inverse(self, g):
        return g

    def repeat(self, g, k):
        return Flip(g.sign.repeat_interleave(k, 0))

    def act(self, g, x, ftype, inverse=False):
        self.check_acts_on("input", ftype)
        if ftype not in (FieldType.NODE_VECTOR, FieldType.POSITION):
            return x
        flip = torch.ones(x.shape[0], *([1] * (x.dim() - 2)), x.shape[-1], dtype=x.dtype)
        flip[..., 0] = g.sign.to(x.dtype).view(-1, *([1] * (x.dim() - 2)))
        return x * flip

    def example(self, batch=4, num_nodes=7, seed=0):
        gen = torch.Generator().manual_seed(seed)
        pos = torch.randn(batch, num_nodes, 2, generator=gen)
        return Example(
            {"pos": pos},
            {"pos": FieldType.POSITION},
            None,
            {"graph": (2,), "pos_out": (num_nodes, 2)},
            {"graph": FieldType.INVARIANT, "pos_out": FieldType.POSITION},
        )


# --- The frame file -------------------------------------------------------------------
class FlipFrame(Sampler):
    """Canonicalize by the sign of the summed cubed first coordinates (a frame of one
    element); a tie (zero) is broken by a random sign that flips with the input."""

    def __init__(self, group):
        super().__init__(group)

    def sample_noise(self, inputs, types, mask, k, generator=None):
        batch = next(iter(inputs.values())).shape[0]
        return self.group.haar(batch * k, generator=generator).sign

    def transform_noise(self, h, noise, k):
        return noise * h.sign.repeat_interleave(k, 0).to(noise.dtype)

    def sample(self, inputs, types, mask, k, noise, edge_index=None):
        pos = next(inputs[n] for n, t in types.items() if t == FieldType.POSITION)
        skew = (pos[..., 0].double() ** 3).sum(-1).repeat_interleave(k, 0)
        sign = torch.where(skew == 0, noise.double(), torch.sign(skew))
        return SamplerOutput(Flip(sign.to(element_dtype(pos))))


@pytest.fixture
def toy_group():
    register_group("Z2_flip")(FirstAxisFlip)
    register_frame("first_axis_flip")(FlipFrame)
    yield
    GROUPS.unregister("Z2_flip")
    FRAMES.unregister("first_axis_flip")


def test_toy_group_is_found_by_name_and_audited(toy_group) -> None:
    assert "Z2_flip" in lps.groups.list_groups()
    assert get_group("Z2_flip").kind == "first_axis_flip"
    rows = audit(groups=("Z2_flip",))
    samplers = {r.sampler for r in rows}
    assert samplers == {"haar", "frame"}  # learned/canonical have no construction: skipped
    assert all(r.ok for r in rows), rows
    assert {r.mode for r in rows} == {"coupled", "scale=0.001", "scale=1000", "float64"}


@pytest.mark.parametrize("sampler", ["haar", "frame"])
def test_toy_group_symmetrizes_any_model(toy_group, sampler: str) -> None:
    torch.manual_seed(0)
    base = nn.Sequential(nn.Flatten(), nn.Linear(10, 10), nn.Unflatten(1, (5, 2)))
    model = lps.symmetrize(
        OnPositions(base), "Z2_flip", {"pos": "position"}, "position", sampler, n_samples=4
    ).eval()
    pos = torch.randn(3, 5, 2)
    assert_equivariant(model, example={"pos": pos})
    plain = equivariance_error(
        OnPositions(base), "Z2_flip", inputs={"pos": "position"}, outputs="position",
        example={"pos": pos},
    )  # fmt: skip
    assert plain > 1e-2  # the base model alone is not equivariant
    if sampler == "frame":  # a frame of one element: exact even with fresh noise
        assert equivariance_error(model, {"pos": pos}, coupled_noise=False) < 1e-6


def test_toy_group_products_with_sn(toy_group) -> None:
    """Products need no new code: S_n x Z2_flip acts on both axes."""
    group = get_group("S_n x Z2_flip")
    assert group.kinds == ("permutation", "first_axis_flip")
    torch.manual_seed(0)
    base = nn.Sequential(nn.Flatten(), nn.Linear(10, 2))
    model = lps.symmetrize(
        OnPositions(base), group, {"pos": "position"}, "invariant", "haar", n_samples=2
    ).eval()
    assert_equivariant(model, example={"pos": torch.randn(3, 5, 2)})


class OnPositions(nn.Module):
    """Calls a plain network with the keyword field ``pos``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, pos: Tensor) -> Tensor:
        return self.net(pos)
