"""Rotated digits: shapes, fixed splits, per-class rotation sets, caching."""

from __future__ import annotations

import math

import pytest
import torch

from lps.data.digits import (
    ROTATION_SETS,
    SPLIT_SIZES,
    DigitsCacheError,
    RotatedDigits,
    class_levels,
    load_digits_split,
    rotate_degrees,
    split_indices,
)
from lps.levels import discrete_level, uniform_level_ml


@pytest.fixture
def root(tmp_path):
    return tmp_path / "digits"


def test_splits_are_fixed_and_disjoint() -> None:
    parts = [split_indices(s) for s in SPLIT_SIZES]
    allidx = torch.cat(parts)
    assert allidx.numel() == 1797 and allidx.unique().numel() == 1797
    assert torch.equal(split_indices("val"), parts[1])
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        split_indices("dev")


def test_shapes_and_range(root) -> None:
    d = load_digits_split("multiple", "val", root=root)
    assert d["x"].shape == (300, 1, 28, 28) and d["x"].dtype == torch.float32
    assert d["upright"].shape == (300, 1, 28, 28)
    assert float(d["x"].min()) >= -1e-6 and float(d["x"].max()) <= 1 + 1e-6
    # The digit sits in the central 20 x 20 when upright.
    assert float(d["upright"][..., :4, :].abs().sum()) == 0.0
    assert set(d["y"].tolist()) == set(range(10))


def test_per_class_angles_follow_the_set(root) -> None:
    d = load_digits_split("multiple", "train", root=root)
    for c in (0, 3, 9):
        a = d["angle"][d["y"] == c]
        assert float(a.abs().max()) <= 18 * c + 1e-9
        if c:
            assert abs(uniform_level_ml(a) - 18 * c) < 0.15 * 18 * c  # ~120 angles a class
    c2c4 = load_digits_split("c2c4", "train", root=root)
    for c in (1, 7):
        a = c2c4["angle"][c2c4["y"] == c]
        assert discrete_level(a) == (2 if c < 5 else 4)
    g = load_digits_split("gaussian", "train", root=root)
    a = g["angle"][g["y"] == 8]
    assert abs(float(a.std()) - 72) < 15


def test_rotation_matches_angles(root) -> None:
    """x is the upright digit turned by its angle (exact for quarter turns)."""
    d = load_digits_split("c2c4", "test", root=root)
    assert torch.equal(d["x"], rotate_degrees(d["upright"], d["angle"].float()))
    q = d["angle"] == 90
    assert torch.equal(d["x"][q], torch.rot90(d["upright"][q], 1, dims=(-2, -1)))


def test_cache_round_trip_and_corruption(root) -> None:
    a = load_digits_split("uniform60", "val", seed=1, root=root)
    b = load_digits_split("uniform60", "val", seed=1, root=root)  # read back
    assert torch.equal(a["x"], b["x"]) and torch.equal(a["angle"], b["angle"])
    c = load_digits_split("uniform60", "val", seed=2, root=root)
    assert not torch.equal(a["angle"], c["angle"])
    npz = root / "uniform60_val_1.npz"
    npz.write_bytes(npz.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DigitsCacheError, match="sha256"):
        load_digits_split("uniform60", "val", seed=1, root=root, regenerate=False)
    again = load_digits_split("uniform60", "val", seed=1, root=root)  # regenerated
    assert torch.equal(again["x"], a["x"])


def test_dataset_and_bad_names(root) -> None:
    ds = RotatedDigits("full", "test", root=root)
    item = ds[0]
    assert item["img"].shape == (1, 28, 28) and len(ds) == 300
    assert float(ds.angle.abs().max()) <= 180 and float(ds.angle.abs().max()) > 150
    assert len(ROTATION_SETS) == 7 and all(len(class_levels(s)) == 10 for s in ROTATION_SETS)
    with pytest.raises(ValueError, match="unknown rotation set 'mnist'"):
        load_digits_split("mnist", "train", root=root)
    assert math.isclose(class_levels("multiple")[9].value, 162.0)
