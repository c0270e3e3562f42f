"""`lps bench`: runs end to end on tiny sizes and writes what it promises (not timed)."""

import json

import pytest

from lps.bench import markdown_tables, random_graphs, run_bench
from lps.cli import main

pytestmark = pytest.mark.usefixtures("single_thread")


def test_bench_writes_json_plot_and_ratios(tmp_path):
    out = tmp_path / "bench.json"
    result = run_bench(
        out, bases=("mlp", "nbody"), sizes=(8,), ks=(1, 2), batch=2, repeats=1, curve=(8, 12)
    )
    on_disk = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 0
    assert on_disk["device"]["type"] == "cpu" and on_disk["device"]["torch"]
    rows = on_disk["rows"]
    for base in ("mlp", "nbody"):
        for k in (1, 2):
            names = {r["sampler"] for r in rows if r["base"] == base and r["k"] == k}
            # canonicalization is deterministic: measured once, at k = 1
            want = {"base", "learned", "haar", "frame"} | ({"canonical"} if k == 1 else set())
            assert names == want
    for r in rows:
        assert r["eval_s"] > 0 and r["train_s"] > 0
        assert r["saved_for_backward_bytes"] > 0  # eager rows count activation memory
        if r["sampler"] != "base":
            assert r["eval_ratio"] > 0 and 0 <= r["sampler_share"] and 0 <= r["actions_share"]
            assert "extra_saved_share" in r
    # every sampler compiles as one graph, for graphs and for point clouds
    assert set(on_disk["graph_breaks"]) == {
        f"{b}/{s}" for b in ("mlp", "nbody") for s in ("learned", "haar", "frame", "canonical")
    }
    for name, report in on_disk["graph_breaks"].items():
        assert report.get("graph_breaks") == 0, (name, report)
    assert [r["n"] for r in on_disk["sampler_curve"]] == [8, 12]
    assert all(r["saved_for_backward_bytes"] > 0 for r in on_disk["sampler_curve"])
    assert result["summary"] == on_disk["summary"]
    table = markdown_tables(on_disk)
    assert "| 8 | 2 | learned |" in table and "learned S_n sampler alone" in table


def test_bench_band_curve_has_dense_and_banded_rows(tmp_path, capsys):
    out = tmp_path / "band.json"
    args = ["bench", "--bases", "mlp", "--sizes", "12", "--ks", "2", "--samplers", "learned"]
    args += ["--batch", "2", "--repeats", "1", "--curve", "12,16", "--band", "2", "--out"]
    assert main([*args, str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["settings"]["sn_sampler"]["relax_band"] == 2
    curve = result["sampler_curve"]
    assert [(r["n"], r["relax_band"]) for r in curve] == [(12, None), (12, 2), (16, None), (16, 2)]
    for r in curve:
        if r["relax_band"] is None:
            assert r["band_mass"] is None
        else:  # an untrained sampler's relaxation is wide: a band of 2 holds part of it
            assert 0 < r["band_mass"] < 1
    assert "| 12 | " in capsys.readouterr().out
    with pytest.raises(ValueError, match="relax_band must be >= 0"):
        run_bench(tmp_path / "b.json", relax_band=-1)


def test_random_graphs_are_symmetric_and_padded():
    import torch

    data = random_graphs(3, 10, 4.0, 3, torch.Generator().manual_seed(0))
    adj, mask = data["adj"][..., 0], data["mask"]
    assert torch.equal(adj, adj.transpose(1, 2)) and adj.diagonal(dim1=1, dim2=2).sum() == 0
    assert adj[~mask].sum() == 0 and data["x"][~mask].abs().sum() == 0
    assert data["edge_index"].shape[1] == int(adj.sum())


def test_bench_bad_names(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown base 'resnet'"):
        run_bench(tmp_path / "b.json", bases=("resnet",))
    assert main(["bench", "--samplers", "magic", "--out", str(tmp_path / "b.json")]) == 2
    assert "unknown sampler 'magic'" in capsys.readouterr().err
    assert main(["bench", "--sizes", "8,x", "--out", str(tmp_path / "b.json")]) == 2


@pytest.mark.gpu
def test_bench_on_cuda_with_compile(tmp_path):
    """On a GPU: bf16 autocast, eager and compiled rows, peak memory and its share."""
    result = run_bench(
        tmp_path / "bench.json",
        device="cuda",
        bases=("mlp",),
        sizes=(16,),
        ks=(2,),
        samplers=("learned", "haar"),
        batch=2,
        repeats=2,
        compile=True,
        curve=(16,),
    )
    assert result["device"]["type"] == "cuda" and result["device"]["autocast"] == "bf16"
    modes = {r["mode"] for r in result["rows"]}
    assert modes == {"eager", "compile"}
    for r in result["rows"]:
        assert r["train_peak_bytes"] > 0
        if r["sampler"] != "base":
            assert "extra_memory_share" in r
    assert result["sampler_curve"][0]["train_peak_bytes"] > 0
