"""T(d): the translation group, its centroid frame, and exact symmetrization over it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import lps
from lps.fields import FieldType
from lps.groups import get_group
from lps.testing import assert_equivariant, equivariance_error


def test_group_math():
    g = get_group("T(2)")
    assert g.name == "T(2)" and not g.compact
    a, b = g.haar(5), g.haar(5)
    x = torch.randn(5, 4, 2)
    ab = g.act(g.compose(a, b), x, FieldType.POSITION)
    torch.testing.assert_close(ab, g.act(a, g.act(b, x, FieldType.POSITION), FieldType.POSITION))
    torch.testing.assert_close(g.act(g.inverse(a), g.act(a, x, FieldType.POSITION), "position"), x)
    v = torch.randn(5, 4, 1, 2)
    assert torch.equal(g.act(a, v, FieldType.NODE_VECTOR), v)  # vectors do not translate
    with pytest.raises(ValueError, match="expected d=2"):
        g.act(a, torch.randn(5, 4, 3), FieldType.POSITION)
    with pytest.raises(ValueError, match="image"):
        g.check_acts_on("img", FieldType.IMAGE)
    assert get_group("S_n x T(1)").kinds == ("permutation", "translation")


def test_symmetrized_mlp_is_exactly_translation_equivariant():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    ex = {"pos": 3 * torch.randn(4, 9, 1)}
    assert (
        equivariance_error(
            lambda pos: net(pos), "T(1)", inputs={"pos": "position"}, outputs="position", example=ex
        )
        > 1e-2
    )
    model = lps.symmetrize(lambda_module(net), "T(1)", {"pos": "position"}, "position", "frame")
    assert assert_equivariant(model, ex, tolerance=1e-5) < 1e-5
    mask = torch.ones(4, 9, dtype=torch.bool)
    mask[:, 6:] = False
    assert equivariance_error(model, ex, mask=mask) < 1e-5


def lambda_module(net: nn.Module) -> nn.Module:
    class Shift(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, pos):
            return pos + self.net(pos)

    return Shift()


def test_audit_passes_for_translations():
    from lps.testing import audit

    rows = [r for r in audit(groups=("T(1)", "T(2)")) if r.sampler == "frame"]
    assert len(rows) == 8 and all(r.ok for r in rows)
