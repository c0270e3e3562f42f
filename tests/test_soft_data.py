"""Generated data for soft equivariance: shapes, seeding and the symmetries of the targets."""

import pytest
import torch

from lps.data.soft import (
    COSSIM_REP,
    INERTIA_REP,
    cossim_data,
    cossim_target,
    inertia_data,
    inertia_target,
    soft_splits,
)
from lps.soft import sampled_penalty
from lps.testing import equivariance_error


def test_inertia_shapes_and_seeding():
    splits = soft_splits("inertia", eps=0.3, axis="x", seed=1)
    assert [splits[s]["x"].shape for s in ("train", "val", "test")] == [(1000, 20)] * 3
    assert splits["test"]["y"].shape == (1000, 9)
    again = soft_splits("inertia", eps=0.3, axis="x", seed=1)
    assert torch.equal(splits["train"]["x"], again["train"]["x"])
    assert not torch.equal(splits["train"]["x"], splits["val"]["x"])
    assert (splits["train"]["x"][:, :5] > 0).all()  # softplus masses
    with pytest.raises(ValueError, match="axis"):
        inertia_data(4, eps=0.3, axis="w")


def _inertia_times_probe(eps, axis):
    def fn(pos, m, probe):  # I(pos) applied to a probe vector: equivariant iff I is
        x = torch.cat([m, pos.reshape(pos.shape[0], -1)], 1)
        inertia = inertia_target(x, eps, axis).reshape(-1, 3, 3)
        return (inertia @ probe[:, 0, 0, :, None])[:, None, None, :, 0]

    return fn


def test_inertia_eps0_is_exactly_o3_equivariant():
    gen = torch.Generator().manual_seed(0)
    example = {
        "pos": torch.randn(8, 5, 3, generator=gen, dtype=torch.float64),
        "m": torch.rand(8, 5, generator=gen, dtype=torch.float64),
        "probe": torch.randn(8, 1, 1, 3, generator=gen, dtype=torch.float64),
    }
    kw = dict(
        inputs={"pos": "position", "m": "invariant", "probe": "node_vector"},
        outputs="node_vector",
        example=example,
    )
    assert equivariance_error(_inertia_times_probe(0.0, "z"), "O(3)", **kw) < 1e-12
    assert equivariance_error(_inertia_times_probe(0.9, "z"), "O(3)", **kw) > 1e-2


def test_inertia_breaking_is_graded_by_eps():
    x = inertia_data(200, seed=0)["x"].double()
    errs = []
    for eps in (0.0, 0.3, 0.9):
        fn = lambda x, eps=eps: inertia_target(x, eps, "z")  # noqa: E731
        errs.append(float(sampled_penalty(fn, "SO(3)", {"x": x}, {"x": INERTIA_REP[0]},
                                          INERTIA_REP[1], relative=True)))  # fmt: skip
    assert errs[0] < 1e-20 < errs[1] < errs[2]


def test_cossim_variants():
    data = cossim_data(50, breaks="none", seed=0)
    assert data["x"].shape == (50, 9) and data["y"].shape == (50, 1)
    assert data["y"].abs().max() <= 1.0 + 1e-6
    x = data["x"].double()
    kw = dict(inputs={"x": COSSIM_REP[0]}, outputs=COSSIM_REP[1], relative=True)
    for breaks, so3_broken in [("none", False), ("scale", False), ("rotation", True)]:
        fn = lambda x, b=breaks: cossim_target(x, 1.0, b)  # noqa: E731
        err = float(sampled_penalty(fn, "SO(3)", {"x": x}, **kw))
        assert (err > 1e-3) == so3_broken, breaks
    scaled = cossim_target(3.0 * x, 1.0, "scale") - cossim_target(x, 1.0, "scale")
    assert scaled.abs().max() > 1e-2  # the scale term breaks scale invariance
    assert (cossim_target(3.0 * x, 1.0, "rotation") - cossim_target(x, 1.0, "rotation")).abs(
    ).max() < 1e-12  # fmt: skip
    with pytest.raises(ValueError, match="breaks"):
        cossim_target(x, 1.0, "shear")


def test_run_soft_variant_small(tmp_path):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from soft_variant import main

    out = tmp_path / "run.json"
    result = main(
        ["--epochs", "3", "--adjust-at", "1", "--sizes", "100,50,50", "--hidden",
         "4x0e + 2x1o@1 + 2x2e@2", "--out", str(out)]
    )  # fmt: skip
    saved = json.loads(out.read_text())
    assert saved["test_mse"] == result["test_mse"] > 0
    assert set(saved["strengths"]) == {"O(3)", "SO(3)"}
    assert max(saved["strengths"].values()) == 100.0  # the smallest penalty keeps its strength
    assert min(saved["true_rel_equiv_error"].values()) > 0.1  # eps = 0.9 breaks both
    assert {"strength/O(3)", "penalty/SO(3)", "rel_equiv_error/O(3)"} <= set(saved["history"][0])
    assert out.with_suffix(".png").exists()


def test_run_soft_variant_bad_input():
    from lps.experiments.soft import run_soft_variant

    with pytest.raises(ValueError, match="C4 does not act"):
        run_soft_variant(groups=("O(3)", "C4"), epochs=2, adjust_at=1)
    with pytest.raises(ValueError, match="past the end of training"):
        run_soft_variant(epochs=2, adjust_at=5)
    with pytest.raises(ValueError, match=">= 0"):
        run_soft_variant(epochs=2, adjust_at=1, init=-1.0)
