"""lps.soft: the scale-invariant input block (ScaleFeatures) and the residual pathway
baseline (ResidualPathway)."""

import pytest
import torch

from lps.experiments.soft import relative_error
from lps.soft import Rep, ScaleFeatures, SoftMLP, group_matrices, rep_matrix
from lps.soft.residual import ResidualPathway

COSSIM_HIDDEN = "4x0e + 2x1o + 2x1o@1 + 2x0e@2"


def test_scale_features_transform_as_declared():
    feats = ScaleFeatures(Rep("2xT0 + 3xT1 + 1xT2"))
    assert str(feats.rep_out) == "2xT0 + 3xT1 + 1xT2 + 3xT1@0 + 1xT2@0 + 3x0e@1 + 1x0e@2"
    x = torch.randn(7, 2 + 9 + 9, dtype=torch.float64)
    y = feats(x)
    assert y.shape == (7, feats.rep_out.dim)
    assert torch.allclose(y[:, 20:29].reshape(7, 3, 3).norm(dim=-1), torch.ones(7, 3).double())
    for group in ("SO(3) x Scale", "O(3)", "Scale"):
        scale, rot = group_matrices(group, 3, seed=5)
        for i in range(3):
            rin = rep_matrix(Rep("2xT0 + 3xT1 + 1xT2"), scale[i : i + 1], rot[i : i + 1])[0]
            rout = rep_matrix(feats.rep_out, scale[i : i + 1], rot[i : i + 1])[0]
            assert torch.allclose(feats(x @ rin.T), y @ rout.T, atol=1e-9), group


def test_scale_projected_model_needs_scale_features():
    torch.manual_seed(0)
    x = torch.randn(64, 9, dtype=torch.float64)
    plain = SoftMLP("3xT1", "1xT0@0", hidden=COSSIM_HIDDEN).double().project_("Scale")
    with torch.no_grad():
        assert float(plain(x).std()) < 1e-9  # no degree-0 path from degree-1 inputs
    model = SoftMLP("3xT1", "1xT0@0", hidden=COSSIM_HIDDEN, scale_features=True).double()
    model.project_("Scale")
    with torch.no_grad():
        assert float(model(x).std()) > 1e-4
    assert relative_error(model, "Scale", x, "3xT1", "1xT0@0") < 1e-6
    assert relative_error(model, "SO(3)", x, "3xT1", "1xT0@0") > 1e-2
    both = SoftMLP("3xT1", "1xT0@0", hidden=COSSIM_HIDDEN, scale_features=True).double()
    both.project_("SO(3) x Scale")
    with torch.no_grad():
        assert float(both(x).std()) > 1e-6  # cosines of the unit directions
    assert relative_error(both, "SO(3) x Scale", x, "3xT1", "1xT0@0") < 1e-6


def test_residual_pathway():
    torch.manual_seed(1)
    model = ResidualPathway("5xT0 + 5xT1", "1xT2", "O(3)", prior=0.1,
                            hidden="4x0e + 2x1o@1 + 2x2e@2").double()  # fmt: skip
    x = torch.randn(40, 20, dtype=torch.float64)
    assert relative_error(model.equivariant, "O(3)", x, "5xT0 + 5xT1", "1xT2") < 1e-6
    assert relative_error(model, "O(3)", x, "5xT0 + 5xT1", "1xT2") > 1e-2  # the free path
    sq = sum(float(p.detach().pow(2).sum()) for p in model.free.parameters())
    assert abs(float(model.prior_penalty().detach()) - 0.05 * sq) < 1e-9 * sq
    with torch.no_grad():
        for p in model.free.parameters():
            p.zero_()
        model.equivariant.blocks[0]["linear"].weight.add_(0.3)  # break, then re-project
    model.project_("O(3)")
    assert relative_error(model, "O(3)", x, "5xT0 + 5xT1", "1xT2") < 1e-6
    assert set(model.penalties(["O(3)", "O(2)_z"])) == {"O(3)", "O(2)_z"}
    with pytest.raises(ValueError, match="prior must be >= 0"):
        ResidualPathway("3xT1", "1xT0", "O(3)", prior=-1.0)
    with pytest.raises(ValueError, match="belongs to O\\(3\\)"):
        model.project_("O(2)_z")
    with pytest.raises(ValueError, match="C4 does not act on 3-d vectors"):
        ResidualPathway("3xT1", "1xT0", "C4")


def test_strengths_rescale_keeps_the_ratios():
    from lps.soft import Strengths

    s = Strengths(["A", "B", "C"], init=10.0, adjust_at=2, rescale=0.1, pinned={"C": 3.0})
    s.observe(0, {"A": 1.0, "B": 4.0, "C": 0.0})
    assert s.observe(1, {"A": 2.0, "B": 8.0, "C": 0.0})
    assert abs(s["A"] - 1.0) < 1e-12 and abs(s["B"] - 1.0 / 16) < 1e-12
    assert s["C"] == 3.0  # pinned: neither adjusted nor rescaled
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="rescale must be finite and > 0"):
            Strengths(["A"], adjust_at=2, rescale=bad)


def test_symmetrized_mlp_frame_and_learned():
    from lps.data.soft import inertia_data
    from lps.soft.symmetrized import SymmetrizedMLP

    torch.manual_seed(2)
    x = inertia_data(32, 0.9, "z", seed=0)["x"].double()
    frame = SymmetrizedMLP("5xT0 + 5xT1", "1xT2", "O(3)", "frame", width=16).double()
    assert frame(x).shape == (32, 9)
    with torch.no_grad():  # the enumerated PCA frame: exactly O(3)-equivariant
        assert relative_error(frame, "O(3)", x, "5xT0 + 5xT1", "1xT2") < 1e-9
        vec = SymmetrizedMLP("5xT0 + 5xT1", "1xT1", "O(3)", "frame", width=16).double()
        assert relative_error(vec, "O(3)", x, "5xT0 + 5xT1", "1xT1") < 1e-9
    learned = SymmetrizedMLP("5xT0 + 5xT1", "1xT2", "O(3)", "learned", n_samples=2, width=16)
    y = learned(x.float())
    assert y.shape == (32, 9) and torch.isfinite(y).all()
    y.pow(2).mean().backward()
    assert any(p.grad is not None for p in learned.model.sampler.parameters())
    with pytest.raises(ValueError, match="rep_in must be"):
        SymmetrizedMLP("5xT1 + 5xT0", "1xT2")
    with pytest.raises(ValueError, match="rep_out must be 1xT0, 1xT1 or 1xT2"):
        SymmetrizedMLP("5xT0 + 5xT1", "2xT2")


def test_symmetrized_mlp_on_the_cossim_layout():
    """Three free vectors -> a scalar (CosSim): the frame model is exactly O(3)-invariant."""
    from lps.data.soft import COSSIM_REP
    from lps.soft.symmetrized import SymmetrizedMLP

    torch.manual_seed(3)
    x = torch.randn(16, 9, dtype=torch.float64)
    frame = SymmetrizedMLP(*COSSIM_REP, "O(3)", "frame", width=16).double()
    assert frame(x).shape == (16, 1)
    with torch.no_grad():
        assert relative_error(frame, "O(3)", x, *COSSIM_REP) < 1e-9


def test_run_soft_variant_frame_and_residual():
    from lps.experiments.soft import run_soft_variant

    small = {"epochs": 2, "adjust_at": 1, "sizes": (40, 20, 20), "groups": ("O(3)", "O(2)_z")}
    res = run_soft_variant(symmetrized="frame", **small)
    assert res["model_rel_equiv_error"]["O(3)"] < 1e-4  # exactly equivariant (float32)
    assert set(res["strengths"].values()) == {0.0}
    res = run_soft_variant(project="O(3)", residual_prior=0.5, pinned={"O(3)": 0, "O(2)_z": 0},
                           hidden="4x0e + 2x1o@1 + 2x2e@2", **small)  # fmt: skip
    assert res["settings"]["residual_prior"] == 0.5
    with pytest.raises(ValueError, match="has no layers to project"):
        run_soft_variant(symmetrized="frame", project="O(3)", **small)
    with pytest.raises(ValueError, match="residual_prior needs project"):
        run_soft_variant(residual_prior=0.5, **small)


def test_soft_table_all_variants():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from soft_table import ALL_VARIANTS, oracle_group, parse_variant

    parsed = [parse_variant(v) for v in ALL_VARIANTS]
    assert sum(v["data"] == "inertia" for v in parsed) == 7 and len(parsed) == 11
    assert [oracle_group(v) for v in parsed[:2]] == ["O(3)", "O(2)_x"]
    assert oracle_group(parse_variant("cossim:1:both")) is None
    with pytest.raises(ValueError, match="expected inertia:EPS:AXIS"):
        parse_variant("qm9:1:z")
