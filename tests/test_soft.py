"""lps.soft: projectors, the layer-wise and sampled penalties, strengths and their chart."""

import math

import pytest
import timm
import torch

from lps.soft import (
    Rep,
    RepLinear,
    SoftMLP,
    Strengths,
    equivariant_basis,
    group_matrices,
    plot_strengths,
    projector,
    rep_matrix,
    sampled_penalty,
)

GROUPS = ["O(3)", "SO(3)"]
BLOCKS = Rep("1xT0 + 1xT1 + 1xT2 + 1x0e + 1x0o + 1x1o + 1x1e + 1x2e").blocks


@pytest.mark.parametrize("group", GROUPS)
def test_projectors_idempotent_and_symmetric(group):
    for _, a in BLOCKS:
        for _, b in BLOCKS:
            p = projector(group, a, b)
            assert p.dtype == torch.float64
            assert (p @ p - p).abs().max() < 1e-10
            assert (p - p.T).abs().max() < 1e-10


# (out, in): dimension of the equivariant maps, by Schur's lemma and the decomposition
# T1 = 1o, T2 = 0e + 1e + 2e (SO(3) forgets parity: 1o ~ 1e, 0o ~ 0e).
KNOWN = {
    ("O(3)", "T1", "T1"): 1,
    ("SO(3)", "T1", "T1"): 1,
    ("O(3)", "T1", "T2"): 0,
    ("SO(3)", "T1", "T2"): 1,  # the cross product: antisymmetric part -> vector
    ("O(3)", "T2", "T2"): 3,
    ("SO(3)", "T2", "T2"): 3,
    ("O(3)", "T0", "T2"): 1,  # the trace
    ("O(3)", "1o", "T1"): 1,
    ("O(3)", "1e", "T1"): 0,
    ("SO(3)", "1e", "T1"): 1,
    ("O(3)", "2e", "T2"): 1,
    ("O(3)", "0o", "0e"): 0,
    ("SO(3)", "0o", "0e"): 1,
    ("O(3)", "2e", "1o"): 0,
}


@pytest.mark.parametrize("key", sorted(KNOWN))
def test_equivariant_dimensions_match_known_counts(key):
    group, out, inp = key
    blocks = {str(b): b for _, b in BLOCKS}
    assert equivariant_basis(group, blocks[out], blocks[inp]).shape[0] == KNOWN[key]


def _apply(rep, s, r, x):
    return torch.einsum("mij,mj->mi", rep_matrix(rep, s, r), x)


@pytest.mark.parametrize("group", GROUPS)
def test_projected_layer_is_equivariant_and_penalty_vanishes(group):
    torch.manual_seed(0)
    lin = RepLinear("2xT0 + 2xT1 + 1xT2", "3x0e + 2x1o + 1x1e + 1x2e + 1xT2").double()
    torch.nn.init.normal_(lin.bias)
    assert lin.penalty(group) > 1e-2  # a random layer is not equivariant
    lin.project_(group)
    assert lin.penalty(group) < 1e-20
    s, r = group_matrices(group, 6, seed=123)  # elements never used to build the basis
    x = torch.randn(6, lin.rep_in.dim, dtype=torch.float64)
    err = lin(_apply(lin.rep_in, s, r, x)) - _apply(lin.rep_out, s, r, lin(x))
    assert err.abs().max() < 1e-6


def test_so3_projection_keeps_what_o3_removes():
    torch.manual_seed(0)
    lin = RepLinear("1xT1", "1x1e").double().project_("SO(3)")
    assert lin.penalty("SO(3)") < 1e-20
    assert lin.penalty("O(3)") > 1e-3  # an SO(3) map 1o -> 1e is not O(3)-equivariant


@pytest.mark.parametrize("group", GROUPS)
def test_projected_soft_mlp_is_equivariant(group):
    torch.manual_seed(0)
    mlp = SoftMLP("2xT0 + 2xT1", "1xT2", hidden="4x0e + 2x1o@1 + 2x0e@2 + 2x2e@2", layers=2)
    mlp = mlp.double()
    assert mlp.penalty(group) > 0
    mlp.project_(group)
    assert mlp.penalty(group) < 1e-20
    s, r = group_matrices(group, 5, seed=7)
    x = torch.randn(5, mlp.rep_in.dim, dtype=torch.float64)
    y = mlp(x)
    err = (mlp(_apply(mlp.rep_in, s, r, x)) - _apply(mlp.rep_out, s, r, y)).norm() / y.norm()
    assert err < 1e-6
    rel = sampled_penalty(mlp, group, {"x": x}, {"x": mlp.rep_in}, mlp.rep_out, relative=True)
    assert rel < 1e-12


def test_penalty_gradient_moves_towards_equivariance():
    torch.manual_seed(0)
    lin = RepLinear("1xT1", "1xT1")
    opt = torch.optim.SGD(lin.parameters(), lr=0.5)
    before = float(lin.penalty("O(3)").detach())
    for _ in range(5):
        opt.zero_grad()
        lin.penalty("O(3)").backward()
        opt.step()
    assert float(lin.penalty("O(3)").detach()) < 1e-3 * before


def test_candidate_group_must_act_on_vectors():
    mlp = SoftMLP("1xT1", "1xT0", hidden="2x0e + 1x1o@1", layers=1)
    with pytest.raises(ValueError, match="C4 does not act on 3-d vectors"):
        mlp.check_group("C4")
    with pytest.raises(ValueError, match="O\\(2\\) cannot act on 3-d vectors"):
        mlp.check_group("O(2)")
    assert mlp.check_group("SO(3)").name == "SO(3)"


def test_rep_parsing():
    rep = Rep("5xT0 + 5xT1 + 2x2e@2 + 1o")
    assert rep.dim == 5 + 15 + 10 + 3
    assert [b.degree for _, b in rep.blocks] == [0, 1, 2, 0]
    assert str(rep) == "5xT0 + 5xT1 + 2x2e@2 + 1x1o"
    with pytest.raises(ValueError, match="cannot read"):
        Rep("3xvector")
    with pytest.raises(ValueError, match="l = 2"):
        Rep("1x3o")


def test_sampled_penalty_on_timm_vit_with_c4():
    torch.manual_seed(0)
    vit = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=16, patch_size=8, in_chans=3,
        num_classes=5, embed_dim=32, depth=1, num_heads=2,
    )  # fmt: skip
    x = torch.randn(4, 3, 16, 16)
    gen = torch.Generator().manual_seed(0)
    kw = dict(inputs={"x": "image"}, outputs="invariant", generator=gen)
    pen = sampled_penalty(vit, "C4", {"x": x}, n_samples=2, **kw)
    assert pen > 0 and pen.requires_grad
    pen.backward()
    assert vit.head.weight.grad is not None
    rel = sampled_penalty(vit, "C4", {"x": x}, relative=True, **kw)
    assert 0 < float(rel.detach()) < 10
    # an invariant model has no penalty
    pooled = lambda x: x.mean((2, 3))  # noqa: E731
    assert sampled_penalty(pooled, "C4", {"x": x}, **kw) < 1e-10
    with pytest.raises(ValueError, match="cannot act on field type 'image'"):
        sampled_penalty(vit, "O(3)", {"x": x}, inputs={"x": "image"}, outputs="invariant")


def test_sampled_penalty_field_types_and_reps():
    pos = torch.randn(3, 5, 3, dtype=torch.float64)

    def inertia(pos):  # (B, 9): flat rank-2 tensor, declared as a Rep
        eye = torch.eye(3, dtype=pos.dtype)
        sq = pos.pow(2).sum(-1)[..., None, None] * eye - pos[..., :, None] * pos[..., None, :]
        return sq.sum(1).reshape(-1, 9)

    for group in GROUPS:
        assert sampled_penalty(inertia, group, {"pos": pos}, {"pos": "position"}, "1xT2") < 1e-20
    broken = lambda pos: inertia(pos) + pos[:, :1, :].repeat(1, 3, 1).reshape(-1, 9)  # noqa
    assert sampled_penalty(broken, "SO(3)", {"pos": pos}, {"pos": "position"}, "1xT2") > 1e-3


def test_strengths_adjustment_and_pinning():
    s = Strengths(["A", "B", "C"], init=100.0, adjust_at=4, window=2, pinned={"C": 3.0})
    for step, (a, b) in enumerate([(9, 9), (9, 9), (1.0, 4.0), (2.0, 2.0)]):
        adjusted = s.observe(step, {"A": a, "B": b, "C": 0.0})
    assert adjusted and s.adjusted
    assert s["A"] == 100.0 and math.isclose(s["B"], 100.0 * (1 / 2) ** 2)
    assert s["C"] == 3.0
    log = s.log({"A": 0.5}, {"A": 0.1})
    assert log["strength/B"] == s["B"] and log["penalty/A"] == 0.5
    assert log["rel_equiv_error/A"] == 0.1
    off = Strengths(["A", "B"], pinned={"B": 0})
    assert off.active() == ["A"]


def test_strengths_bad_input():
    with pytest.raises(ValueError, match=">= 0"):
        Strengths(["A"], init=-1.0)
    with pytest.raises(ValueError, match=">= 0"):
        Strengths(["A"], pinned={"A": -0.5})
    with pytest.raises(ValueError, match="past the end of training"):
        Strengths(["A"], adjust_at=100, total_steps=50)
    with pytest.raises(ValueError, match="not candidate groups"):
        Strengths(["A"], pinned={"B": 1.0})


def test_plot_strengths(tmp_path):
    path = plot_strengths({"O(3)": 1e-2, "SO(3)": 1.0}, tmp_path / "levels.png",
                          reference={"O(3)": 0.3, "SO(3)": 0.0})  # fmt: skip
    assert path.exists() and path.read_bytes()[:4] == b"\x89PNG"
