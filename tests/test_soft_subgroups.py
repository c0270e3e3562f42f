"""lps.soft with the issue's candidate groups (axis subgroups, Scale, SO(3) x Scale) and the
batched penalties of all candidate groups at once."""

import pytest
import torch

from lps.soft import (
    Rep,
    RepLinear,
    SoftMLP,
    equivariant_basis,
    group_matrices,
    projector,
    rep_matrix,
    sampled_penalty,
)
from lps.soft.batched import layer_projector

SUBGROUPS = ["O(2)_x", "O(2)_y", "O(2)_z", "SO(2)_z", "Scale", "SO(3) x Scale"]
BLOCKS = Rep("1xT0 + 1xT1 + 1xT2 + 1x0e@2 + 1x1o + 1x2e@2").blocks


@pytest.mark.parametrize("group", SUBGROUPS)
def test_subgroup_projectors_idempotent_and_symmetric(group):
    for _, a in BLOCKS:
        for _, b in BLOCKS:
            p = projector(group, a, b)
            assert (p @ p - p).abs().max() < 1e-10
            assert (p - p.T).abs().max() < 1e-10


# (group, out, in): dimension of the equivariant maps. O(2)_z fixes z: T1 = 1 + rho (the
# plane), so T1 -> T1 has 2 maps (SO(2)_z: 3, the plane rotation too) and T0 -> T1 one (e_z);
# T2 = 2x1 + det + 2 rho + rho_2 gives 4 + 1 + 4 + 1 = 10 (SO(2)_z: 9 + 8 + 2 = 19). Scale
# only sees degrees: equal degrees give every map, different degrees none.
KNOWN = {
    ("O(2)_z", "T1", "T1"): 2,
    ("SO(2)_z", "T1", "T1"): 3,
    ("O(2)_x", "T1", "T0"): 1,
    ("O(2)_z", "T2", "T2"): 10,
    ("SO(2)_z", "T2", "T2"): 19,
    ("Scale", "T1", "T1"): 9,
    ("Scale", "T1", "T0"): 0,
    ("Scale", "T2", "0e@2"): 9,
    ("Scale", "1o", "T1"): 0,  # 1o has degree 0, T1 degree 1
    ("SO(3) x Scale", "T1", "T1"): 1,
    ("SO(3) x Scale", "T2", "0e@2"): 1,
    ("SO(3) x Scale", "1o", "T1"): 0,
}


@pytest.mark.parametrize("key", sorted(KNOWN))
def test_subgroup_equivariant_dimensions(key):
    group, out, inp = key
    blocks = {str(b): b for _, b in BLOCKS}
    assert equivariant_basis(group, blocks[out], blocks[inp]).shape[0] == KNOWN[key]


def _apply(rep, s, r, x):
    return torch.einsum("mij,mj->mi", rep_matrix(rep, s, r), x)


@pytest.mark.parametrize("group", SUBGROUPS)
def test_projected_layer_equivariant_under_subgroup(group):
    torch.manual_seed(0)
    lin = RepLinear("2xT0 + 2xT1 + 1xT2", "2x0e + 1x1o@1 + 1x0e@2 + 1x2e@2 + 1xT2").double()
    torch.nn.init.normal_(lin.bias)
    assert lin.penalty(group) > 1e-2
    lin.project_(group)
    assert lin.penalty(group) < 1e-20
    s, r = group_matrices(group, 6, seed=321)
    x = torch.randn(6, lin.rep_in.dim, dtype=torch.float64)
    err = lin(_apply(lin.rep_in, s, r, x)) - _apply(lin.rep_out, s, r, lin(x))
    assert err.abs().max() < 1e-6


def test_o2z_layer_penalised_by_o3_not_by_o2z():
    torch.manual_seed(0)
    lin = RepLinear("5xT0 + 5xT1", "1xT2").double().project_("O(2)_z")
    pens = lin.penalties(["O(3)", "O(2)_x", "O(2)_y", "O(2)_z"])
    assert pens[3] < 1e-20
    assert pens[0] > 1e-2 and pens[1] > 1e-2 and pens[2] > 1e-2
    # O(3) is a supergroup of O(2)_z: its equivariant maps lie inside O(2)_z's
    assert float(lin.penalty("O(3)").detach()) == pytest.approx(float(pens[0].detach()), rel=1e-12)


def test_o2z_mlp_is_o2z_equivariant_only():
    torch.manual_seed(0)
    mlp = SoftMLP("2xT0 + 2xT1", "1xT2", hidden="4x0e + 2x1o@1 + 2x0e@2 + 2x2e@2").double()
    mlp.project_("O(2)_z")
    x = torch.randn(8, mlp.rep_in.dim, dtype=torch.float64)
    spec = ({"x": x}, {"x": mlp.rep_in}, mlp.rep_out)
    assert sampled_penalty(mlp, "O(2)_z", *spec, relative=True) < 1e-12
    assert sampled_penalty(mlp, "SO(2)_z", *spec, relative=True) < 1e-12
    assert sampled_penalty(mlp, "O(2)_x", *spec, relative=True) > 1e-4
    assert sampled_penalty(mlp, "O(3)", *spec, relative=True) > 1e-4


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batched_penalties_and_projection_match_reference(dtype):
    torch.manual_seed(0)
    groups = ["O(3)", "O(2)_x", "O(2)_z", "Scale", "SO(3) x Scale"]
    mlp = SoftMLP("2xT0 + 2xT1", "1xT2", hidden="4x0e + 2x1o@1 + 2x0e@2 + 2x2e@2").to(dtype)
    batched = mlp.penalties(groups)
    for g in groups:
        ref = mlp.penalty(g)
        assert float(batched[g].detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    lin = mlp.linears()[1]
    proj = layer_projector(groups, lin.rep_out, lin.rep_in, dtype, "cpu")
    w, b = proj.project(lin.weight, lin.bias, "O(2)_z")
    ref = RepLinear(lin.rep_in, lin.rep_out).to(dtype)
    ref.load_state_dict(lin.state_dict())
    ref.project_("O(2)_z")
    assert torch.allclose(w, ref.weight, atol=1e-6) and torch.allclose(b, ref.bias, atol=1e-6)
    assert mlp.penalties([]) == {}
    grads = torch.autograd.grad(sum(batched.values()), lin.weight)
    assert torch.isfinite(grads[0]).all()


def test_soft_table_script_small(tmp_path):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from soft_table import main

    out = tmp_path / "table"
    result = main(
        ["--variants", "inertia:0.9:z,cossim:1:scale", "--epochs", "2", "--adjust-at", "1",
         "--sizes", "60,30,30", "--hidden", "4x0e + 2x1o@1 + 2x2e@2", "--jobs", "1",
         "--out", str(out)]
    )  # fmt: skip
    saved = json.loads(out.with_suffix(".json").read_text())
    assert len(saved["runs"]) == len(result["runs"]) == 12
    by = {(r["name"], r["model"]): r for r in saved["runs"]}
    oracle = by[("inertia:0.9:z", "oracle")]
    assert oracle["settings"]["project"] == "O(2)_z"
    assert oracle["model_rel_equiv_error"]["O(2)_z"] < 1e-4  # exactly equivariant (float32)
    assert oracle["model_rel_equiv_error"]["O(3)"] > 1e-3
    assert by[("cossim:1:scale", "strict")]["settings"]["project"] == "SO(3) x Scale"
    assert set(by[("inertia:0.9:z", "mlp")]["strengths"].values()) == {0.0}
    assert oracle["true_rel_equiv_error"]["O(2)_z"] < 1e-6
    checks = saved["checks"]["inertia:0.9:z"]
    assert "ranking_matches" in checks and checks["soft_model"] == "pathway"
    assert "soft_below_plain_soft" in checks and "soft_within_1.25x_oracle" in checks
    pathway = by[("inertia:0.9:z", "pathway")]
    assert pathway["settings"]["pathway"] and pathway["exact_group"] in pathway["groups"]
    assert pathway["strengths"][pathway["exact_group"]] == max(pathway["strengths"].values())
    residual = by[("inertia:0.9:z", "residual")]
    assert residual["settings"]["residual_prior"] == 1e-2
    assert by[("cossim:1:scale", "soft")]["settings"]["scale_features"] is True
    md = out.with_suffix(".md").read_text()
    assert "| soft |" in md
    row = next(line for line in md.splitlines() if line.startswith("| inertia:0.9:z | 1 |"))
    assert "O(2)_z" in row and ("all met" in row or "missed:" in row)
    rendered = main(["--render", f"{out}.json,{out}.json"])  # merged, duplicates dropped
    assert len(rendered["runs"]) == 12
    only = main(["--render", f"{out}.json", "--variants", "cossim:1:scale"])
    assert {r["name"] for r in only["runs"]} == {"cossim:1:scale"} and len(only["runs"]) == 6
    extra = main(
        ["--variants", "inertia:0.9:z", "--models", "pathway_all,pathway_super", "--epochs", "2",
         "--adjust-at", "1", "--sizes", "60,30,30", "--hidden", "4x0e + 2x1o@1 + 2x2e@2",
         "--jobs", "1", "--out", str(tmp_path / "extra")]
    )  # fmt: skip
    modes = {r["model"]: r["settings"]["exact_penalties"] for r in extra["runs"]}
    assert modes == {"pathway_all": "all", "pathway_super": "supergroups"}
    assert all(r["settings"]["pathway"] for r in extra["runs"])
    # the targets checked on a chosen model, compared with the other pathway runs
    both = f"{out}.json,{tmp_path / 'extra'}.json"
    models = "pathway_super,pathway,pathway_all,mlp,strict,oracle"
    chosen = main(["--render", both, "--models", models, "--soft-model", "pathway_super"])
    checks = chosen["checks"]["inertia:0.9:z"]
    assert checks["soft_model"] == "pathway_super"
    assert {"soft_below_pathway", "soft_below_mlp", "soft_within_1.25x_oracle"} <= set(checks)
    assert (
        main(["--render", both, "--models", models])["checks"]["inertia:0.9:z"]["soft_model"]
        == "pathway"
    )
    with pytest.raises(SystemExit):
        main(["--render", both, "--models", "pathway,mlp", "--soft-model", "pathway_super"])
