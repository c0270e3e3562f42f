"""lps.testing: the equivariance checks users call from their own tests, and the audit."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from lps import symmetrize
from lps.backbones import FlatMLP
from lps.fields import FieldType
from lps.groups import GROUP_NAMES, Perm, get_group
from lps.samplers import SAMPLER_NAMES, Sampler, SamplerOutput, dense_edge_index
from lps.testing import (
    TOLERANCES,
    assert_equivariant,
    audit,
    audit_inputs,
    audit_json,
    audit_table,
    default_tolerance,
    equivariance_error,
    error_vs_k,
    permute_edge_index,
    transform_inputs,
)
from tests.conftest import supported

pytestmark = pytest.mark.usefixtures("single_thread")


class IdentitySampler(Sampler):
    """Always the identity: the wrapper then computes the raw base model (not equivariant)."""

    def sample_noise(self, inputs, types, mask, k, generator=None):
        return None

    def transform_noise(self, h, noise, k):
        return None

    def sample(self, inputs, types, mask, k, noise, edge_index=None):
        b, n = next(iter(inputs.values())).shape[:2]
        return SamplerOutput(self.group.identity(b * k, n, "cpu"))


def graph(b: int = 3, n: int = 5, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.arange(n)[None, :] < torch.tensor([n - (i % 2) for i in range(b)])[:, None]
    x = torch.randn(b, n, 2, generator=gen) * mask[..., None]
    adj = (torch.rand(b, n, n, generator=gen) < 0.5).float().triu(1)
    adj = ((adj + adj.transpose(1, 2)) * (mask[:, :, None] & mask[:, None, :]))[..., None]
    return x, adj, mask


# equivariance_error / assert_equivariant -------------------------------------------------


def test_error_detects_a_non_equivariant_model() -> None:
    torch.manual_seed(0)
    x, adj, mask = graph()
    base = FlatMLP({"x": (5, 2)}, {"node": (5, 2)}, hidden=16)
    model = symmetrize(
        base, "S_n", {"x": "node"}, {"node": "node"}, IdentitySampler(get_group("S_n"))
    )
    err = equivariance_error(model, {"x": x}, mask, generator=torch.Generator().manual_seed(0))
    assert err > 0.1
    with pytest.raises(
        AssertionError,
        match=r"FlatMLP symmetrized over S_n with IdentitySampler: relative equivariance "
        r"error .* exceeds tolerance 1.0e-04",
    ):
        assert_equivariant(model, {"x": x}, mask)


def test_error_is_zero_for_an_equivariant_base_model() -> None:
    """A DeepSets-style base model is equivariant by itself, whatever the sampler."""

    class DeepSets(nn.Module):
        def forward(self, x, mask=None):
            pooled = (x * mask[..., None]).sum(1, keepdim=True)
            return {"node": torch.tanh(x + pooled), "g": pooled[:, 0]}

    x, _, mask = graph()
    model = symmetrize(
        DeepSets(),
        "S_n",
        {"x": "node"},
        {"node": "node", "g": "invariant"},
        IdentitySampler(get_group("S_n")),
    )
    assert equivariance_error(model, {"x": x}, mask, coupled_noise=False) < 1e-6


def test_coupled_noise_makes_one_sample_exact() -> None:
    torch.manual_seed(0)
    x, adj, mask = graph()
    base = FlatMLP({"x": (5, 2), "adj": (5, 5, 1)}, (5, 2), hidden=16)
    model = symmetrize(base, "S_n", {"x": "node", "adj": "pair"}, "node", "haar", n_samples=1)
    fields = {"x": x, "adj": adj}
    gen = torch.Generator().manual_seed(0)
    assert equivariance_error(model, fields, mask, coupled_noise=True, generator=gen) == 0.0
    torch.manual_seed(1)
    fresh = equivariance_error(model, fields, mask, coupled_noise=False, generator=gen)
    assert fresh > 0.05  # one fresh sample on each side: far from equivariant


def test_edge_index_is_relabelled() -> None:
    """Learned S_n fed by ``edge_index`` only: the test helper must move the edges with the
    nodes, otherwise the coupled check fails."""
    torch.manual_seed(0)
    x, adj, mask = graph()
    edges = dense_edge_index(adj[..., 0] != 0)
    base = FlatMLP({"x": (5, 2)}, (5, 2), hidden=16)
    model = symmetrize(
        base,
        "S_n",
        {"x": "node"},
        "node",
        "learned",
        n_samples=2,
        sampler_args={"in_dim": 2, "hidden": 16},
    ).eval()
    err = assert_equivariant(model, {"x": x}, mask, edge_index=edges)
    assert err == 0.0


def test_permute_edge_index_matches_dense_action() -> None:
    x, adj, mask = graph(b=2, n=6, seed=3)
    group = get_group("S_n")
    h = group.haar(2, 6, mask, "cpu", torch.Generator().manual_seed(0))
    moved = transform_inputs(group, h, {"adj": adj}, {"adj": FieldType.PAIR})[0]["adj"]
    edges = dense_edge_index(adj[..., 0] != 0)
    relabelled = permute_edge_index(edges, h, 6)
    expected = dense_edge_index(moved[..., 0] != 0)
    as_set = lambda e: sorted(map(tuple, e.t().tolist()))  # noqa: E731
    assert as_set(relabelled) == as_set(expected)
    # And the product group relabels through its permutation factor.
    product = get_group("S_n x SO(3)")
    hp = product.haar(2, 6, mask, "cpu", torch.Generator().manual_seed(0))
    pos = torch.randn(2, 6, 3)
    _, moved_edges = transform_inputs(product, hp, {"pos": pos}, {"pos": FieldType.POSITION}, edges)
    assert as_set(moved_edges) == as_set(permute_edge_index(edges, hp.perm, 6))


def test_tolerances_by_dtype() -> None:
    assert default_tolerance(torch.float32) == 1e-4 == TOLERANCES[torch.float32]
    assert default_tolerance(torch.bfloat16) == 5e-2
    assert default_tolerance(torch.float64) < default_tolerance(torch.float32)
    assert default_tolerance(torch.int64) == 1e-4  # unknown dtypes: the fp32 tolerance


def test_error_vs_k_rows() -> None:
    torch.manual_seed(0)
    x, adj, mask = graph()
    base = FlatMLP({"x": (5, 2)}, (3,), hidden=16)
    model = symmetrize(base, "S_n", {"x": "node"}, "invariant", "haar").eval()
    rows = error_vs_k(
        model,
        {"x": x},
        ks=(1, 8, 64),
        mask=mask,
        n_trials=4,
        generator=torch.Generator().manual_seed(0),
    )
    assert [k for k, _ in rows] == [1, 8, 64]
    errs = [e for _, e in rows]
    assert all(e > 0 for e in errs)
    assert errs[2] < errs[0]


# audit -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audit_rows():
    return audit()


def test_audit_all_rows_ok(audit_rows) -> None:
    bad = [r for r in audit_rows if not r.ok]
    assert not bad, audit_table(bad)
    expected = {
        (get_group(g).name, s) for g in GROUP_NAMES for s in SAMPLER_NAMES if supported(g, s)
    }
    assert {(r.group, r.sampler) for r in audit_rows} == expected
    for r in audit_rows:
        assert 0.0 <= r.error <= r.tolerance
        if r.group in ("S_n", "C2", "C4"):
            assert r.error == 0.0  # exact gathers


def test_audit_table_and_json(audit_rows) -> None:
    table = audit_table(audit_rows)
    lines = table.splitlines()
    assert lines[0].split() == ["group", "sampler", "mode", "error", "tolerance", "ok"]
    assert len(lines) == len(audit_rows) + 1
    assert "NO" not in table
    rows = audit_json(audit_rows)
    json.dumps(rows)  # plain data
    assert set(rows[0]) == {"group", "sampler", "error", "tolerance", "ok", "mode", "note"}


def test_audit_flags_a_failing_row(monkeypatch) -> None:
    """An audit row with a broken sampler reports ok=False (and the table says NO)."""
    import sys

    sym = sys.modules["lps.symmetrize"]  # (the package attribute is the function)

    def broken(name, group, **kwargs):
        return IdentitySampler(get_group(group))

    monkeypatch.setattr(sym, "build_sampler", broken)
    rows = audit(groups=("S_n",), samplers=("haar",), scales=(), float64=False)
    assert len(rows) == 1 and not rows[0].ok
    assert "NO" in audit_table(rows)


def test_audit_inputs_shapes() -> None:
    for name in GROUP_NAMES:
        group = get_group(name)
        fields, types, mask, out_shapes, out_types = audit_inputs(group, batch=3, num_nodes=5)
        assert set(fields) == set(types)
        assert all(v.shape[0] == 3 for v in fields.values())
        assert set(out_shapes) == set(out_types)
        if mask is not None:
            assert mask.shape == (3, 5) and mask.dtype == torch.bool and mask[:, 0].all()
            for name_, ftype in types.items():
                if ftype == FieldType.NODE:  # padding is zero
                    assert (fields[name_][~mask] == 0).all()


def test_audit_bf16_exact_groups() -> None:
    """In bf16 the exact groups and the haar/frame samplers stay within the bf16 tolerance."""
    rows = audit(
        groups=("S_n", "O(3)", "C4"),
        samplers=("haar", "frame"),
        dtype=torch.bfloat16,
        float64=False,
    )
    assert rows and all(r.ok for r in rows), audit_table(rows)
    assert all(r.tolerance == default_tolerance(torch.bfloat16) for r in rows)


def test_perm_helper_types() -> None:
    h = Perm(torch.tensor([[1, 0, 2]]))
    edges = torch.tensor([[0, 1], [1, 2]])
    assert permute_edge_index(edges, h, 3).tolist() == [[1, 0], [0, 2]]
