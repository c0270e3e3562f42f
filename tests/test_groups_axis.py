"""Axis subgroups O(2)_a and SO(2)_a of O(3): group laws, the fixed axis, reflections, Haar
angles, names, samplers, and symmetrization over the part of O(3) that is known to hold."""

from __future__ import annotations

import math

import pytest
import torch

from lps import symmetrize
from lps.backbones import FlatMLP
from lps.fields import FieldType
from lps.groups import AxisSubgroup, Rigid, get_group, list_groups
from lps.groups.axis import AXES, axis_matrix
from lps.samplers import UnsupportedGroupError, build_sampler
from lps.testing import assert_equivariant, equivariance_error, field_specs

pytestmark = pytest.mark.usefixtures("single_thread")

NAMES = [f"{p}O(2)_{a}" for p in ("", "S") for a in "xyz"]


def haar(name: str, m: int = 64, seed: int = 0, dtype=torch.float64) -> Rigid:
    gen = torch.Generator().manual_seed(seed)
    return get_group(name).haar(m, generator=gen, dtype=dtype)


def angle_of(g: Rigid, axis: str) -> torch.Tensor:
    """(M,) angle in [0, 2 pi) of the rotation part (the first plane axis is not reflected)."""
    i = AXES[axis]
    u, v = (i + 1) % 3, (i + 2) % 3
    return torch.atan2(g.matrix[:, v, u], g.matrix[:, u, u]) % (2 * math.pi)


@pytest.mark.parametrize("name", NAMES)
def test_elements_are_orthogonal_and_fix_the_axis(name: str) -> None:
    group = get_group(name)
    g = haar(name)
    eye = torch.eye(3, dtype=torch.float64)
    assert g.matrix.dtype == torch.float64 and g.translation is None
    assert (g.matrix.transpose(1, 2) @ g.matrix - eye).abs().max() < 1e-12
    e = group.axis_vector.double()
    # The axis is fixed pointwise, and the plane orthogonal to it is mapped to itself.
    assert (g.matrix @ e - e).abs().max() < 1e-12
    assert (e @ g.matrix - e).abs().max() < 1e-12
    det = torch.linalg.det(g.matrix)
    assert ((det - 1).abs() < 1e-12).logical_or((det + 1).abs() < 1e-12).all()
    if group.special:
        assert (det > 0).all()
    else:  # both components are sampled
        assert (det > 0).any() and (det < 0).any()


def test_reflections_in_o2_not_so2() -> None:
    mirror = axis_matrix(torch.zeros(1), "z", torch.tensor([True]))  # (x, y, z) -> (x, -y, z)
    assert torch.equal(mirror[0], torch.diag(torch.tensor([1.0, -1.0, 1.0])))
    dets = torch.linalg.det(haar("O(2)_z", 2000).matrix)
    assert 0.45 < float((dets < 0).double().mean()) < 0.55
    assert (torch.linalg.det(haar("SO(2)_z", 2000).matrix) > 0).all()
    # The axis flip z -> -z maps the axis to itself but is not in O(2)_z (it fixes z).
    assert (haar("O(2)_z", 2000).matrix[:, 2, 2] == 1).all()


@pytest.mark.parametrize("name", ["O(2)_z", "SO(2)_x", "O(2)_y"])
def test_group_axioms(name: str) -> None:
    group = get_group(name)
    g, h, f = haar(name, 16, 0), haar(name, 16, 1), haar(name, 16, 2)
    eye = torch.eye(3, dtype=torch.float64)
    e = group.identity(16, None, "cpu")
    assert torch.allclose(group.compose(g, group.inverse(g)).matrix, eye.expand(16, 3, 3))
    assert torch.allclose(group.compose(g, e).matrix, g.matrix)
    assert torch.allclose(group.compose(e, g).matrix, g.matrix)
    gh_f = group.compose(group.compose(g, h), f).matrix
    g_hf = group.compose(g, group.compose(h, f)).matrix
    assert torch.allclose(gh_f, g_hf)
    # Closure: a product is again an element (axis fixed, planar block).
    gh = group.compose(g, h).matrix
    i = AXES[group.axis]
    assert torch.allclose(gh[:, i], eye[i].expand(16, 3)) and torch.allclose(gh[:, :, i], eye[i])
    # The rotation angles add for SO(2).
    if group.special:
        expected = (angle_of(g, group.axis) + angle_of(h, group.axis)) % (2 * math.pi)
        diff = (angle_of(group.compose(g, h), group.axis) - expected + math.pi) % (2 * math.pi)
        assert (diff - math.pi).abs().max() < 1e-9


@pytest.mark.parametrize("name", ["O(2)_z", "SO(2)_z", "O(2)_x"])
def test_haar_angle_is_uniform(name: str) -> None:
    """Chi-square of the angle in 12 bins (fixed seed): far below the 1e-4 critical value
    (about 37 for 11 degrees of freedom); for O(2) also within each component."""
    group = get_group(name)
    g = haar(name, 12000, seed=3)
    det = torch.linalg.det(g.matrix)
    angles = angle_of(g, group.axis)
    for part in [det > 0] + ([] if group.special else [det < 0]):
        counts = torch.histc(angles[part], bins=12, min=0.0, max=2 * math.pi)
        expected = float(part.sum()) / 12
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        assert chi2 < 37.0, (name, chi2)


def test_haar_dtype_and_stream() -> None:
    """fp32 and float64 elements come from the same random stream."""
    g32, g64 = haar("O(2)_z", 8, 5, torch.float32), haar("O(2)_z", 8, 5, torch.float64)
    assert g32.matrix.dtype == torch.float32 and g64.matrix.dtype == torch.float64
    assert (g32.matrix.double() - g64.matrix).abs().max() < 1e-6


def test_names_round_trip_and_registry() -> None:
    for name in NAMES:
        group = get_group(name)
        assert isinstance(group, AxisSubgroup) and group.name == name
        assert get_group(f" {name} ").name == name
        assert name in list_groups()
        assert group.kind == "axis_rigid" and group.factor("rigid") is None
    product = get_group("S_n x O(2)_z")
    assert product.name == "S_n x O(2)_z" and product.kinds == ("permutation", "axis_rigid")
    with pytest.raises(ValueError, match="unknown group"):
        get_group("O(2)_w")
    with pytest.raises(ValueError, match="axis must be one of"):
        AxisSubgroup("w")


def test_action_matches_the_matrix_and_checks_d() -> None:
    group = get_group("O(2)_z")
    g = haar("O(2)_z", 2, dtype=torch.float32)
    pos = torch.randn(2, 5, 3)
    vec = torch.randn(2, 5, 2, 3)
    assert torch.allclose(group.act(g, pos, FieldType.POSITION), pos @ g.matrix.transpose(1, 2))
    moved = group.act(g, vec, FieldType.NODE_VECTOR)
    assert torch.allclose(moved, torch.einsum("mij,mncj->mnci", g.matrix, vec), atol=1e-6)
    assert torch.equal(group.act(g, pos[..., :2], FieldType.NODE), pos[..., :2])
    with pytest.raises(ValueError, match=r"O\(2\)_z: a position field needs last axis d=3"):
        group.act(g, torch.zeros(2, 5, 2), FieldType.POSITION)


@pytest.mark.parametrize("sampler", ["frame", "learned", "canonical"])
def test_full_o3_samplers_refuse_axis_subgroups(sampler: str) -> None:
    """Samplers built for all of O(d) must not treat an axis subgroup as O(3)."""
    ex = get_group("O(2)_z").example()
    with pytest.raises(UnsupportedGroupError):
        build_sampler(sampler, "O(2)_z", inputs=field_specs(ex.fields, ex.types), hidden=16)


def symmetrized(name: str, sampler: str = "haar", seed: int = 0):
    group = get_group(name)
    ex = group.example(3, 6, seed)
    torch.manual_seed(seed)
    base = FlatMLP({k: tuple(v.shape[1:]) for k, v in ex.fields.items()}, ex.out_shapes, 32)
    model = symmetrize(
        base, group, field_specs(ex.fields, ex.types), ex.out_types, sampler, n_samples=3
    )
    return model.eval(), ex


@pytest.mark.parametrize("name", ["O(2)_z", "SO(2)_z", "O(2)_x"])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_symmetrize_haar_is_equivariant(name: str, scale: float) -> None:
    model, ex = symmetrized(name)
    fields = {k: v * scale for k, v in ex.fields.items()}
    assert_equivariant(model, fields)


def test_symmetrize_haar_float64() -> None:
    model, ex = symmetrized("O(2)_z")
    model = model.double()
    fields = {k: v.double() for k, v in ex.fields.items()}
    assert assert_equivariant(model, fields) <= 1e-9
    out = model(**fields)
    assert all(v.dtype == torch.float64 for v in out.prediction.values())


def test_model_equivariant_to_o2z_but_not_o3() -> None:
    """``f(x) = x + |x|^2 e_z`` per point commutes with O(2)_z (which fixes e_z and keeps
    norms) but not with O(3): the check tells the part that holds from the rest."""
    ez = torch.tensor([0.0, 0.0, 1.0])

    def fn(pos):
        return pos + pos.pow(2).sum(-1, keepdim=True) * ez

    example = {"pos": torch.randn(4, 7, 3, generator=torch.Generator().manual_seed(0))}
    kwargs = dict(inputs={"pos": "position"}, outputs="position", example=example)
    gen = torch.Generator().manual_seed(1)
    assert equivariance_error(fn, "O(2)_z", generator=gen, **kwargs) < 1e-6
    assert equivariance_error(fn, "SO(2)_z", generator=gen, **kwargs) < 1e-6
    assert equivariance_error(fn, "O(2)_x", generator=gen, **kwargs) > 0.1
    assert equivariance_error(fn, "O(3)", generator=gen, **kwargs) > 0.1
