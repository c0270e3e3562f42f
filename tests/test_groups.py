"""Group math: laws of the action on every field type, Haar sampling, image rotations and
Gram-Schmidt."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from lps.fields import FieldType
from lps.groups import (
    GROUP_NAMES,
    Angle,
    ImageRotation,
    Orthogonal,
    Perm,
    Permutation,
    Product,
    get_group,
    gram_schmidt,
    haar_orthogonal,
)
from lps.groups.image import smooth_disc_images

pytestmark = pytest.mark.usefixtures("single_thread")

B, N = 3, 5


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative error ``||a - b|| / ||b||`` in float64."""
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def orth_error(q: torch.Tensor) -> float:
    eye = torch.eye(q.shape[-1], dtype=q.dtype, device=q.device)
    return float((q.detach().transpose(-1, -2) @ q.detach() - eye).abs().max())


def prefix_mask(sizes: list[int], n: int) -> torch.Tensor:
    return torch.arange(n)[None, :] < torch.tensor(sizes)[:, None]


def group_dim(group) -> int:
    return getattr(group, "d", 3)


def fields_for(group, gen: torch.Generator, mask: torch.Tensor) -> dict[FieldType, torch.Tensor]:
    """One random tensor per field type the group acts on (padding zeroed)."""
    d = group_dim(group)
    m = mask.float()
    out = {}
    for ftype in group.acts_on:
        if ftype == FieldType.INVARIANT:
            x = torch.randn(B, 3, generator=gen)
        elif ftype == FieldType.NODE:
            x = torch.randn(B, N, 2, generator=gen) * m[..., None]
        elif ftype == FieldType.PAIR:
            x = torch.randn(B, N, N, 2, generator=gen) * (m[:, :, None] * m[:, None, :])[..., None]
        elif ftype == FieldType.NODE_VECTOR:
            x = torch.randn(B, N, 2, d, generator=gen) * m[..., None, None]
        elif ftype == FieldType.POSITION:
            x = torch.randn(B, N, d, generator=gen) * m[..., None]
        elif ftype == FieldType.IMAGE:
            if group.grid_exact:
                x = torch.randn(B, 2, 8, 8, generator=gen)
            else:  # continuous rotation resamples: only band-limited images survive it
                x = smooth_disc_images(B, 2, 32, gen)
        out[ftype] = x
    return out


def law_tolerances(group) -> tuple[float, float]:
    """(tolerance for one action vs one action, tolerance for two actions vs one)."""
    if isinstance(group, ImageRotation) and not group.grid_exact:
        return 1e-5, 0.05  # two bilinear resamplings vs one (measured ~0.035 at 32 px)
    if isinstance(group, ImageRotation) or isinstance(group, Permutation):
        return 0.0, 0.0  # exact gathers / rot90
    return 1e-5, 1e-5


# Group laws on every field type ----------------------------------------------------------


@pytest.mark.parametrize("name", GROUP_NAMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_group_laws_on_every_field(name: str, seed: int) -> None:
    group = get_group(name)
    gen = torch.Generator().manual_seed(seed)
    mask = prefix_mask([N, N - 1, 2], N)
    fields = fields_for(group, gen, mask)
    g = group.random_element(B, N, mask, "cpu", gen)
    h = group.random_element(B, N, mask, "cpu", gen)
    e = group.identity(B, N, "cpu")
    one, two = law_tolerances(group)
    assert fields, name
    for ftype, x in fields.items():
        act = group.act
        where = f"{name} on {ftype.value}"
        # Identity acts trivially.
        assert rel(act(e, x, ftype), x) <= one, where
        # g g^-1 = e and g^-1 g = e, acting on the field.
        assert rel(act(group.compose(g, group.inverse(g)), x, ftype), x) <= one, where
        assert rel(act(group.compose(group.inverse(g), g), x, ftype), x) <= one, where
        # act(g^-1) equals act(g, inverse=True).
        assert rel(act(group.inverse(g), x, ftype), act(g, x, ftype, inverse=True)) <= one, where
        # (g h) . x = g . (h . x).
        lhs = act(group.compose(g, h), x, ftype)
        rhs = act(g, act(h, x, ftype), ftype)
        assert rel(lhs, rhs) <= two, where
        # Round trip g^-1 . (g . x) = x.
        assert rel(act(g, act(g, x, ftype), ftype, inverse=True), x) <= two, where
        # repeat(g, k) pairs each element with k consecutive copies (b-major).
        k = 2
        rep = act(group.repeat(g, k), x.repeat_interleave(k, 0), ftype)
        assert rel(rep, act(g, x, ftype).repeat_interleave(k, 0)) <= one, where
        # The action does not change shape or dtype.
        y = act(g, x, ftype)
        assert y.shape == x.shape and y.dtype == x.dtype, where


@pytest.mark.parametrize("name", GROUP_NAMES)
def test_action_is_not_trivial(name: str) -> None:
    """Guard against a vacuous law test: a random element moves the non-invariant fields."""
    group = get_group(name)
    gen = torch.Generator().manual_seed(0)
    mask = torch.ones(B, N, dtype=torch.bool)
    fields = fields_for(group, gen, mask)
    g = group.random_element(B, N, mask, "cpu", gen)
    permutes = "nodes" in group.moves
    for ftype, x in fields.items():
        y = group.act(g, x, ftype)
        fixed = ftype == FieldType.INVARIANT or (
            ftype in (FieldType.NODE, FieldType.PAIR) and not permutes
        )
        # Translations move positions only: vectors are differences of positions.
        fixed = fixed or (ftype == FieldType.NODE_VECTOR and group.kind == "translation")
        if fixed:
            assert torch.equal(y, x), (name, ftype)
        elif not (isinstance(group, ImageRotation) and group.order is not None):
            # (a Haar C_n element may be the identity, so C_n images are not checked here)
            assert rel(y, x) > 1e-2, (name, ftype)


def test_permutation_action_convention() -> None:
    """``(g^-1 . x)[i] = x[p[i]]`` and ``(g . x)[p[i]] = x[i]``."""
    group = Permutation()
    p = torch.tensor([[2, 0, 1, 3]])
    g = Perm(p)
    x = torch.arange(4.0).view(1, 4, 1) * 10
    canon = group.act(g, x, FieldType.NODE, inverse=True)
    assert canon.flatten().tolist() == [20.0, 0.0, 10.0, 30.0]
    moved = group.act(g, x, FieldType.NODE)
    assert moved[0, p[0], 0].tolist() == x.flatten().tolist()
    pair = torch.arange(16.0).view(1, 4, 4, 1)
    canon_pair = group.act(g, pair, FieldType.PAIR, inverse=True)
    for i, j in itertools.product(range(4), repeat=2):
        assert canon_pair[0, i, j, 0] == pair[0, p[0, i], p[0, j], 0]
    assert torch.equal(g.as_matrix()[0] @ x[0], canon[0])


def test_rigid_action_convention() -> None:
    """``g . x = R x + t`` on positions; vectors rotate but do not translate."""
    group = get_group("E(3)")
    gen = torch.Generator().manual_seed(0)
    g = group.random_element(2, None, None, "cpu", gen)
    assert g.translation is not None and g.translation.abs().sum() > 0
    pos = torch.randn(2, 4, 3, generator=gen)
    vec = torch.randn(2, 4, 1, 3, generator=gen)
    expected = torch.einsum("mij,mnj->mni", g.matrix, pos) + g.translation[:, None]
    assert rel(group.act(g, pos, FieldType.POSITION), expected) < 1e-6
    expected_vec = torch.einsum("mij,mncj->mnci", g.matrix, vec)
    assert rel(group.act(g, vec, FieldType.NODE_VECTOR), expected_vec) < 1e-6


def test_product_factors_commute() -> None:
    group = get_group("S_n x E(3)")
    gen = torch.Generator().manual_seed(0)
    g = group.random_element(B, N, None, "cpu", gen)
    pos = torch.randn(B, N, 3, generator=gen)
    via_product = group.act(g, pos, FieldType.POSITION)
    perm_first = group.rigid_group.act(
        g.rigid, group.perm_group.act(g.perm, pos, FieldType.POSITION), FieldType.POSITION
    )
    rigid_first = group.perm_group.act(
        g.perm, group.rigid_group.act(g.rigid, pos, FieldType.POSITION), FieldType.POSITION
    )
    assert rel(via_product, perm_first) < 1e-6
    assert rel(via_product, rigid_first) < 1e-6


# Names and errors ------------------------------------------------------------------------


@pytest.mark.parametrize("name", GROUP_NAMES)
def test_group_names_round_trip(name: str) -> None:
    group = get_group(name)
    assert group.name == name
    assert get_group(name.replace(" ", "")).name == name
    assert get_group(group) is group


@pytest.mark.parametrize(
    "name, cls, d, special, translations",
    [
        ("O(2)", Orthogonal, 2, False, False),
        ("SO(5)", Orthogonal, 5, True, False),
        ("E(2)", Orthogonal, 2, False, True),
        ("SE(5)", Orthogonal, 5, True, True),
        ("S_n x SO(2)", Product, 2, True, False),
        ("S_n x E(5)", Product, 5, False, True),
    ],
)
def test_group_dimensions(name, cls, d, special, translations) -> None:
    group = get_group(name)
    assert isinstance(group, cls)
    rigid = group.rigid_group if isinstance(group, Product) else group
    assert (rigid.d, rigid.special, rigid.translations) == (d, special, translations)


@pytest.mark.parametrize("bad", ["SU(2)", "S_n x C4", "Z_2", "O(3) x SO(3)", ""])
def test_unknown_group_lists_valid_names(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown group") as info:
        get_group(bad)
    for valid in GROUP_NAMES:
        assert valid in str(info.value)


def test_dimension_below_two_is_rejected() -> None:
    with pytest.raises(ValueError, match="d must be an integer >= 2, got 1"):
        get_group("O(1)")


@pytest.mark.parametrize("name", GROUP_NAMES)
def test_unsupported_field_type_raises(name: str) -> None:
    group = get_group(name)
    unsupported = [f for f in FieldType if f not in group.acts_on]
    assert unsupported, f"{name} acts on every field type; pick another case"
    e = group.identity(B, N, "cpu")
    shapes = {
        FieldType.NODE: (B, N, 2),
        FieldType.PAIR: (B, N, N, 2),
        FieldType.NODE_VECTOR: (B, N, 2, 3),
        FieldType.POSITION: (B, N, 3),
        FieldType.IMAGE: (B, 2, 8, 8),
    }
    for ftype in unsupported:
        x = torch.zeros(shapes[ftype])
        with pytest.raises(ValueError, match=f"cannot act on field type '{ftype.value}'"):
            group.act(e, x, ftype)
        with pytest.raises(ValueError, match=f"field 'feat'.*'{ftype.value}'"):
            group.check_acts_on("feat", ftype)


def test_rigid_wrong_dimension_names_shape() -> None:
    group = get_group("SO(3)")
    e = group.identity(2, None, "cpu")
    with pytest.raises(ValueError, match=r"d=3, got shape \(2, 4, 2\)"):
        group.act(e, torch.zeros(2, 4, 2), FieldType.POSITION)


def test_permutation_identity_needs_num_nodes() -> None:
    with pytest.raises(ValueError, match="number of nodes"):
        Permutation().identity(2, None, "cpu")
    with pytest.raises(ValueError, match="num_nodes or a mask"):
        Permutation().haar(2)


# Haar sampling: S_n ----------------------------------------------------------------------


def chi_square(counts: torch.Tensor) -> float:
    expected = counts.sum() / counts.numel()
    return float(((counts - expected) ** 2 / expected).sum())


# df = 23 for 4! cells; mean 23, sd 6.8. P(chi2_23 > 70) < 1e-6: generous but still catches
# a real bias (a sampler that favours one permutation by 30% gives ~200 at this size).
CHI2_CRITICAL_DF23 = 70.0


@pytest.mark.parametrize("padded", [False, True])
def test_haar_permutation_uniform(padded: bool) -> None:
    n_real, n = 4, (6 if padded else 4)
    m = 24 * 400
    mask = (torch.arange(n) < n_real).expand(m, n) if padded else None
    gen = torch.Generator().manual_seed(0)
    g = Permutation().haar(m, n, mask, "cpu", gen)
    idx = g.index
    # Bijection of the real nodes, padding fixed.
    assert torch.equal(idx[:, :n_real].sort(1).values, torch.arange(n_real).expand(m, n_real))
    assert torch.equal(idx[:, n_real:], torch.arange(n_real, n).expand(m, n - n_real))
    perms = list(itertools.permutations(range(n_real)))
    code = {p: i for i, p in enumerate(perms)}
    cells = torch.tensor([code[tuple(r)] for r in idx[:, :n_real].tolist()])
    counts = torch.bincount(cells, minlength=len(perms)).double()
    assert (counts > 0).all()
    stat = chi_square(counts)
    assert stat < CHI2_CRITICAL_DF23, f"chi-square {stat:.1f} for {len(perms)} permutations"
    # Control: the same statistic flags a biased sampler.
    biased = counts.clone()
    biased[0] += 0.3 * counts.mean()
    assert chi_square(biased) > CHI2_CRITICAL_DF23


def test_haar_permutation_three_nodes_marginals() -> None:
    """n = 3: each node lands in each position 1/3 of the time."""
    m = 6000
    g = Permutation().haar(m, 3, None, "cpu", torch.Generator().manual_seed(1))
    onehot = g.as_matrix().mean(0)  # P[i, j] = P(p[i] = j)
    assert torch.allclose(onehot, torch.full((3, 3), 1 / 3), atol=0.03)


def test_haar_permutation_mixed_masks() -> None:
    sizes = [1, 2, 5, 7, 3]
    mask = prefix_mask(sizes, 7)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        idx = Permutation().haar(len(sizes), None, mask, "cpu", gen).index
        for row, s in zip(idx.tolist(), sizes):
            assert sorted(row[:s]) == list(range(s))
            assert row[s:] == list(range(s, 7))


# Haar sampling: O(d), SO(d) --------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("special", [False, True])
def test_haar_orthogonal_moments(d: int, special: bool) -> None:
    m = 20000
    r = haar_orthogonal(m, d, special, "cpu", torch.Generator().manual_seed(d))
    assert r.shape == (m, d, d) and r.dtype == torch.float32
    assert orth_error(r) < 1e-5
    det = torch.linalg.det(r)
    assert torch.allclose(det.abs(), torch.ones(m), atol=1e-5)
    if special:
        assert (det > 0).all()
    else:
        assert abs(float((det > 0).float().mean()) - 0.5) < 0.02
    # E[R] = 0, E[R_ij^2] = 1/d (5 sigma bounds).
    mean = r.mean(0)
    assert mean.abs().max() < 5 * math.sqrt(1 / (d * m)), mean
    second = (r**2).mean(0)
    assert (second - 1 / d).abs().max() < 5 * math.sqrt(3 / (d * (d + 2) * m)), second
    # E[(tr R)^2] = 1 on O(d) and SO(d >= 3); 2 on SO(2) (tr = 2 cos theta).
    tr2 = (torch.diagonal(r, dim1=1, dim2=2).sum(-1) ** 2).mean()
    expected = 2.0 if (special and d == 2) else 1.0
    assert abs(float(tr2) - expected) < 0.08, float(tr2)


@pytest.mark.parametrize("name", ["O(3)", "SO(3)", "SE(2)", "S_n x SO(5)"])
def test_haar_rigid_under_bf16_autocast(name: str) -> None:
    group = get_group(name)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = group.haar(64, 4, None, "cpu", torch.Generator().manual_seed(0))
        rigid = g.rigid if isinstance(group, Product) else g
        composed = group.compose(g, group.inverse(g))
        rigid_c = composed.rigid if isinstance(group, Product) else composed
    assert rigid.matrix.dtype == torch.float32
    assert orth_error(rigid.matrix) < 1e-5
    assert rigid_c.matrix.dtype == torch.float32
    assert orth_error(rigid_c.matrix) < 1e-5
    rigid_group = group.rigid_group if isinstance(group, Product) else group
    if rigid_group.special:
        assert (torch.linalg.det(rigid.matrix) > 0).all()


def test_rigid_action_keeps_field_dtype_under_autocast() -> None:
    group = get_group("SO(3)")
    g = group.haar(2, generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 4, 3).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = group.act(g, x, FieldType.POSITION)
    assert y.dtype == torch.bfloat16
    expected = group.act(g, x.float(), FieldType.POSITION)
    assert rel(y.float(), expected) < 1e-2


# Image rotations -------------------------------------------------------------------------


def test_c4_is_exact() -> None:
    group = get_group("C4")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 2, 6, 6, generator=gen)
    quarter = Angle(torch.full((4,), math.pi / 2))
    y = x
    for turn in range(1, 5):
        y = group.act(quarter, y, FieldType.IMAGE)
        assert torch.equal(y, torch.rot90(x, turn, dims=(-2, -1)))
    assert torch.equal(y, x)  # four quarter turns are the identity
    angles = torch.tensor([0.0, 1.0, 2.0, 3.0]) * (math.pi / 2)
    mixed = group.act(Angle(angles), x, FieldType.IMAGE)
    for i in range(4):
        assert torch.equal(mixed[i], torch.rot90(x[i], i, dims=(-2, -1)))
    # Haar C4: only quarter turns, all four of them.
    h = group.haar(400, generator=gen).angle
    quarters = h / (math.pi / 2)
    assert torch.allclose(quarters, quarters.round(), atol=1e-6)
    counts = torch.bincount(quarters.round().long(), minlength=4)
    assert counts.numel() == 4 and (counts > 60).all(), counts


@pytest.mark.parametrize("quarter", [-1, 0, 1, 2, 3, 5])
def test_image_so2_matches_c4_at_quarter_turns(quarter: int) -> None:
    c4, so2 = get_group("C4"), get_group("image-SO(2)")
    x = torch.randn(3, 2, 9, 9, generator=torch.Generator().manual_seed(quarter + 10))
    angle = Angle(torch.full((3,), quarter * math.pi / 2))
    exact = c4.act(angle, x, FieldType.IMAGE)
    assert torch.equal(exact, torch.rot90(x, quarter, dims=(-2, -1)))
    resampled = so2.act(angle, x, FieldType.IMAGE)
    assert rel(resampled, exact) < 5e-6  # measured ~1e-6: cos(pi/2) = -4e-8 in fp32


def test_image_so2_round_trip_on_smooth_images() -> None:
    so2 = get_group("image-SO(2)")
    gen = torch.Generator().manual_seed(0)
    x = smooth_disc_images(8, 3, 32, gen)
    g = so2.haar(8, generator=gen)
    back = so2.act(g, so2.act(g, x, FieldType.IMAGE), FieldType.IMAGE, inverse=True)
    err = rel(back, x)
    assert err < 0.05, f"round-trip error {err:.3f} on smooth 32 px images (measured ~0.035)"
    # White noise is not band-limited: resampling destroys it, which is why image outputs
    # of continuous-rotation models must be smooth.
    noise = torch.randn(8, 3, 32, 32, generator=gen)
    noise_back = so2.act(g, so2.act(g, noise, FieldType.IMAGE), FieldType.IMAGE, inverse=True)
    assert rel(noise_back, noise) > 0.2


def test_image_so2_rotates_like_rot90_for_small_angles() -> None:
    """The direction of a small rotation agrees with the quarter turn (no mirrored sign)."""
    so2 = get_group("image-SO(2)")
    x = smooth_disc_images(2, 1, 32, torch.Generator().manual_seed(3))
    eighth = Angle(torch.full((2,), math.pi / 4))
    twice = so2.act(eighth, so2.act(eighth, x, FieldType.IMAGE), FieldType.IMAGE)
    assert rel(twice, torch.rot90(x, 1, dims=(-2, -1))) < 0.05
    assert rel(twice, torch.rot90(x, -1, dims=(-2, -1))) > 0.3


@pytest.mark.parametrize("name", ["C4", "image-SO(2)"])
def test_non_square_image_is_rejected(name: str) -> None:
    group = get_group(name)
    e = group.identity(2, None, "cpu")
    with pytest.raises(ValueError, match=r"square.*\(2, 3, 8, 6\)"):
        group.act(e, torch.zeros(2, 3, 8, 6), FieldType.IMAGE)


def test_image_rotation_order() -> None:
    for bad in (3, 5, 16):
        with pytest.raises(ValueError, match=f"orders \\(2, 4, 8\\), got {bad}"):
            ImageRotation(bad)


# Gram-Schmidt ----------------------------------------------------------------------------


def reference_qr(v: torch.Tensor) -> torch.Tensor:
    """Q of the QR decomposition with a positive diagonal of R (float64)."""
    q, r = torch.linalg.qr(v.double())
    return q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)


@pytest.mark.parametrize("d", [2, 3, 4])
def test_gram_schmidt_random(d: int) -> None:
    gen = torch.Generator().manual_seed(d)
    v = torch.randn(4000, d, d, generator=gen)
    q = gram_schmidt(v)
    assert q.dtype == torch.float32 and torch.isfinite(q).all()
    assert orth_error(q) < 1e-5  # every sample, also the ill-conditioned ones
    det = torch.linalg.det(q)
    assert torch.allclose(det, torch.sign(torch.linalg.det(v.double())).float(), atol=1e-5)
    # Column i is v_i minus its projections on the earlier columns: the QR factor.
    cond = torch.linalg.cond(v.double())
    good = cond < 100
    assert good.sum() > 3000
    assert (q[good].double() - reference_qr(v[good])).abs().max() < 1e-4
    qs = gram_schmidt(v, special=True)
    assert orth_error(qs) < 1e-5
    assert torch.allclose(torch.linalg.det(qs), torch.ones(len(v)), atol=1e-5)
    assert torch.equal(qs[..., :-1], q[..., :-1])  # only the last column changes sign


@pytest.mark.parametrize("d", [2, 3, 4])
def test_gram_schmidt_nearly_dependent_columns_stay_orthogonal(d: int) -> None:
    """A second column within 1e-2..1e-6 of the first still gives an orthogonal matrix."""
    gen = torch.Generator().manual_seed(0)
    for eps in (1e-2, 1e-3, 1e-4, 1e-5, 3e-6):
        v = torch.randn(256, d, d, generator=gen)
        nudge = eps * torch.randn(256, d, generator=gen) * v[..., 0].norm(dim=-1, keepdim=True)
        v[..., 1] = v[..., 0] + nudge
        q = gram_schmidt(v)
        assert orth_error(q) < 1e-5, eps


def degenerate_cases(d: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    a = torch.randn(d, generator=gen)
    coef = torch.randn(d, generator=gen)
    dup = torch.randn(d, d, generator=gen)
    dup[:, 1] = dup[:, 0]
    return {
        "zero": torch.zeros(d, d),
        "rank1": torch.outer(a, coef),
        "collinear_signed": torch.outer(a, torch.tensor([(-1.0) ** i for i in range(d)])),
        "duplicate": dup,
        "tiny": 1e-9 * torch.randn(d, d, generator=gen),
        "last_zero": torch.cat([torch.randn(d, d - 1, generator=gen), torch.zeros(d, 1)], 1),
    }


@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("special", [False, True])
def test_gram_schmidt_degenerate(d: int, special: bool) -> None:
    gen = torch.Generator().manual_seed(d)
    for name, v in degenerate_cases(d, gen).items():
        v = v.unsqueeze(0).clone().requires_grad_(True)
        q = gram_schmidt(v, special=special)
        assert torch.isfinite(q).all(), name
        assert orth_error(q) < 1e-5, name
        det = float(torch.linalg.det(q.detach()))
        assert abs(abs(det) - 1) < 1e-5, name
        if special:
            assert det > 0, name
        if name in ("rank1", "collinear_signed", "duplicate"):  # the first column is kept
            first = v[0, :, 0] / v[0, :, 0].norm()
            assert torch.allclose(q[0, :, 0], first.detach(), atol=1e-6), name
        (q * torch.randn(q.shape, generator=gen)).sum().backward()
        assert torch.isfinite(v.grad).all(), name


@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("special", [False, True])
def test_gram_schmidt_equivariant(d: int, special: bool) -> None:
    gen = torch.Generator().manual_seed(10 + d)
    v = torch.randn(500, d, d, generator=gen)
    v = v[torch.linalg.cond(v) < 100]
    rot = haar_orthogonal(len(v), d, special, "cpu", gen)
    lhs = gram_schmidt(rot @ v, special=special)
    rhs = rot @ gram_schmidt(v, special=special)
    assert (lhs - rhs).abs().max() < 1e-4
    if not special:  # O(d) includes reflections
        assert (torch.linalg.det(rot) < 0).any()


def test_gram_schmidt_under_autocast_is_fp32() -> None:
    v = torch.randn(16, 3, 3).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q = gram_schmidt(v, special=True)
    assert q.dtype == torch.float32
    assert orth_error(q) < 1e-5


# GPU -------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["S_n x E(3)", "SO(3)", "C4"])
def test_group_laws_cuda(name: str) -> None:
    group = get_group(name)
    gen = torch.Generator(device="cuda").manual_seed(0)
    mask = prefix_mask([N, N - 1, 2], N).cuda()
    fields = {
        f: x.cuda()
        for f, x in fields_for(group, torch.Generator().manual_seed(0), mask.cpu()).items()
    }
    g = group.random_element(B, N, mask, "cuda", gen)
    h = group.random_element(B, N, mask, "cuda", gen)
    _, two = law_tolerances(group)
    for ftype, x in fields.items():
        lhs = group.act(group.compose(g, h), x, ftype)
        rhs = group.act(g, group.act(h, x, ftype), ftype)
        assert lhs.is_cuda and rel(lhs, rhs) <= max(two, 1e-5), ftype
        back = group.act(g, group.act(g, x, ftype), ftype, inverse=True)
        assert rel(back, x) <= max(two, 1e-5), ftype


@pytest.mark.gpu
def test_gram_schmidt_cuda() -> None:
    v = torch.randn(1000, 3, 3, device="cuda")
    v[:10] = 0.0
    q = gram_schmidt(v, special=True)
    assert q.is_cuda and torch.isfinite(q).all()
    assert orth_error(q) < 1e-5
    assert (torch.linalg.det(q) > 0).all()
