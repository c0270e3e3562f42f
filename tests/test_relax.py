"""Fixed inputs (lps.relax): strict with them off, measurably not with them on."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lps.relax import FixedInputs, departure, forced, symmetrize_relaxed
from lps.testing import assert_equivariant, equivariance_error


class PointNet(nn.Module):
    """Per-point MLP of (position, node features, fixed inputs) -> (B, N, d) offsets plus a
    pooled invariant; positions out are ``pos + offset``."""

    def __init__(self, d: int, channels: int, m: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d + channels + m, 32), nn.Tanh(), nn.Linear(32, d + 1))
        self.d = d

    def forward(self, pos, x, fixed):
        h = self.net(torch.cat([pos, x, fixed], -1))
        return {"pos_out": pos + h[..., : self.d], "graph": h[..., self.d :].mean(1)}


def _model(group: str, d: int, sampler: str, m: int = 2, **fixed_args):
    torch.manual_seed(0)
    fixed = FixedInputs(dim=d, count=m, **fixed_args)
    return symmetrize_relaxed(
        PointNet(d, 2, m),
        group,
        {"pos": "position", "x": "node:2"},
        {"pos_out": "position", "graph": "invariant"},
        fixed,
        sampler,
    )


@pytest.mark.parametrize(
    "group,d,sampler",
    [("T(1)", 1, "frame"), ("E(3)", 3, "frame"), ("SO(3)", 3, "haar"), ("S_n x E(3)", 3, "frame")],
)
def test_off_is_strict_on_is_not(group, d, sampler):
    model = _model(group, d, sampler)
    ex = {
        "pos": torch.randn(4, 7, d, generator=torch.Generator().manual_seed(1)),
        "x": torch.randn(4, 7, 2, generator=torch.Generator().manual_seed(2)),
    }
    model.eval()
    with forced(model, False):
        assert assert_equivariant(model, ex) < 1e-5
    with forced(model, True):
        assert equivariance_error(model, ex) > 1e-4
    dep = departure(model, ex)
    assert dep["off"] < 1e-5 < 1e-4 < dep["on"]


@torch.no_grad()
def test_fixed_inputs_domain_dropout_and_eval_switch():
    torch.manual_seed(0)
    fixed = FixedInputs(dim=1, count=3, domain=(-2.0, 2.0), p_drop=0.5)
    pos = torch.linspace(-4, 4, 81).view(1, 81, 1).repeat(400, 1, 1)
    with forced(fixed, True):
        b = fixed(pos)
    outside = pos[0, :, 0].abs() > 2
    assert b.shape == (400, 81, 3)
    assert float(b[:, outside].abs().max()) == 0.0
    assert float(b[:, ~outside].abs().mean()) > 1e-3
    fixed.train()
    dropped = (fixed(pos).abs().sum((1, 2)) == 0).float().mean()
    assert abs(float(dropped) - 0.5) < 0.1
    fixed.eval()
    assert float(fixed(pos).abs().sum()) > 0  # on at eval by default
    fixed.off_at_eval = True
    assert float(fixed(pos).abs().sum()) == 0.0
    assert FixedInputs(dim=1, count=0)(pos).shape == (400, 81, 0)


def test_zero_fixed_inputs_is_the_strict_model():
    model = _model("T(1)", 1, "frame", m=0)
    ex = {"pos": torch.randn(3, 5, 1), "x": torch.randn(3, 5, 2)}
    model.train()
    assert assert_equivariant(model, ex) < 1e-5


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="p_drop"):
        FixedInputs(p_drop=1.5)
    with pytest.raises(ValueError, match="domain"):
        FixedInputs(domain=(1.0, -1.0))
    with pytest.raises(ValueError, match=r"expected \(B, N, 1\)"):
        FixedInputs(dim=1)(torch.randn(2, 3, 2))
    model = _model("T(1)", 1, "frame")
    with pytest.raises(ValueError, match="do not pass them"):
        model(pos=torch.randn(2, 3, 1), x=torch.randn(2, 3, 2), fixed=torch.zeros(2, 3, 2))
    with pytest.raises(ValueError, match="not a position input"):
        symmetrize_relaxed(
            PointNet(1, 2, 1),
            "T(1)",
            {"pos": "position", "x": "node:2"},
            "position",
            FixedInputs(),
            "frame",
            fixed_at="x",
        )
    with pytest.raises(ValueError, match="not compact"):
        _model("T(1)", 1, "haar")
