"""Graph base models: GIN-ID and the graph-to-ViT adapter (with pretrained-weight loading)."""

from __future__ import annotations

import pytest
import timm
import torch
from safetensors.torch import save_file
from timm.layers import resample_abs_pos_embed

import lps
from lps.backbones import (
    GINID,
    GraphViT,
    backbone_parameter_names,
    graph_to_image,
    load_pretrained,
    load_state_dict_file,
    param_groups,
)
from lps.fields import FieldType
from lps.groups import Permutation
from lps.testing import assert_equivariant

N = 10
TINY = dict(model_name="vit_tiny_patch16_224", embed_dim=32, depth=1, num_heads=2)


def random_graphs(batch: int = 3, n: int = N, node_dim: int = 2, edge_dim: int = 0, seed: int = 0):
    """Padded random graphs: x (B, n, C), adj (B, n, n, 1 + F), mask (B, n); sizes n, n-2, ..."""
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.tensor([n - 2 * (i % 3) for i in range(batch)])
    mask = torch.arange(n)[None, :] < sizes[:, None]
    x = torch.randn(batch, n, node_dim, generator=gen) * mask[..., None]
    a = torch.triu((torch.rand(batch, n, n, generator=gen) < 0.4).float(), 1)
    a = (a + a.transpose(1, 2)) * mask[:, :, None] * mask[:, None, :]
    chans = [a.unsqueeze(-1)]
    if edge_dim:
        e = torch.randn(batch, n, n, edge_dim, generator=gen)
        chans.append((e + e.transpose(1, 2)) * a.unsqueeze(-1))
    return x, torch.cat(chans, -1), mask


def relabel(x, adj, mask, seed: int = 1):
    group = Permutation()
    h = group.haar(x.shape[0], mask=mask, generator=torch.Generator().manual_seed(seed))
    return group.act(h, x, FieldType.NODE), group.act(h, adj, FieldType.PAIR), h


def tiny_vit(**kwargs) -> GraphViT:
    args = dict(node_dim=2, pair_dim=1, max_nodes=N, patch_size=4, **TINY)
    args.update(kwargs)
    return GraphViT(**args)


# --------------------------------------------------------------------------- GIN-ID


def test_gin_id_shapes_and_outputs():
    x, adj, mask = random_graphs()
    both = GINID(2, N, out_dim=4, node_out_dim=3)(x, adj, mask)
    assert both["graph"].shape == (3, 4) and both["node"].shape == (3, N, 3)
    assert torch.all(both["node"][~mask] == 0)
    assert GINID(2, N, out_dim=5)(x, adj, mask).shape == (3, 5)
    assert GINID(2, N, out_dim=None, node_out_dim=2)(x, adj).shape == (3, N, 2)
    # fewer nodes than max_nodes is fine; more is an error naming the limit
    assert GINID(2, N + 6, out_dim=1)(x, adj, mask).shape == (3, 1)
    with pytest.raises(ValueError, match="max_nodes"):
        GINID(2, N - 1)(x, adj, mask)
    with pytest.raises(ValueError, match="channels"):
        GINID(3, N)(x, adj, mask)


def test_gin_id_ignores_padding():
    torch.manual_seed(0)
    model = GINID(2, N, out_dim=4, node_out_dim=3).eval()
    x, adj, mask = random_graphs()
    noisy_x = x + torch.randn_like(x) * (~mask)[..., None]
    noisy_adj = (
        adj + torch.rand_like(adj).round() * (~(mask[:, :, None] & mask[:, None, :]))[..., None]
    )
    a, b = model(x, adj, mask), model(noisy_x, noisy_adj, mask)
    torch.testing.assert_close(a["graph"], b["graph"])
    torch.testing.assert_close(a["node"], b["node"])


def test_gin_id_sees_node_ids_but_symmetrized_is_exactly_equivariant():
    torch.manual_seed(0)
    x, adj, mask = random_graphs(edge_dim=2)
    base = GINID(2, N, out_dim=4, node_out_dim=3, edge_dim=2).eval()
    moved_x, moved_adj, _ = relabel(x, adj, mask)
    gap = (base(x, adj, mask)["graph"] - base(moved_x, moved_adj, mask)["graph"]).norm()
    assert gap > 1e-3, "the one-hot index makes GIN-ID depend on the node order"
    plain = GINID(2, N, out_dim=4, use_ids=False).eval()  # without ids: a GIN, invariant
    torch.testing.assert_close(plain(x, adj, mask), plain(moved_x, moved_adj, mask))
    for sampler in ("learned", "frame", "haar"):
        kwargs = {"in_dim": 2, "hidden": 16} if sampler == "learned" else {}
        model = lps.symmetrize(
            base,
            "S_n",
            {"x": "node", "adj": "pair"},
            {"graph": "invariant", "node": "node"},
            sampler,
            n_samples=3,
            sampler_args=kwargs,
        ).eval()
        err = assert_equivariant(model, {"x": x, "adj": adj}, mask, tolerance=1e-5)
        assert err < 1e-5


# --------------------------------------------------------------------------- ViT adapter


def test_graph_to_image_layout():
    x, adj, mask = random_graphs(node_dim=2)
    img = graph_to_image(x, adj, mask, size=12)
    assert img.shape == (3, 1 + 3 * 2 + 1, 12, 12)
    torch.testing.assert_close(img[:, 0, :N, :N], adj[..., 0])
    pair = (mask[:, :, None] & mask[:, None, :]).float()
    torch.testing.assert_close(img[:, 1, :N, :N], x[:, :, None, 0].expand(-1, -1, N) * pair)
    torch.testing.assert_close(img[:, 3, :N, :N], x[:, None, :, 0].expand(-1, N, -1) * pair)
    torch.testing.assert_close(img[:, 5, :N, :N], torch.diag_embed(x[..., 0]))
    torch.testing.assert_close(img[:, -1, :N, :N], pair)
    assert torch.all(img[..., N:, :] == 0) and torch.all(img[..., N:] == 0)
    assert graph_to_image(x, adj, None, 10, diagonal=False).shape == (3, 6, 10, 10)


def test_graph_vit_outputs():
    torch.manual_seed(0)
    x, adj, mask = random_graphs()
    model = tiny_vit(graph_out=4, node_out=3, pair_out=2).eval()
    assert model.image_size == 12 and model.grid_size == (3, 3) and model.in_chans == 8
    out = model(x, adj, mask)
    assert out["graph"].shape == (3, 4)
    assert out["node"].shape == (3, N, 3) and torch.all(out["node"][~mask] == 0)
    assert out["pair"].shape == (3, N, N, 2)
    single = tiny_vit(node_out=5)(x, adj, mask)
    assert isinstance(single, torch.Tensor) and single.shape == (3, N, 5)
    with pytest.raises(ValueError, match="at least one"):
        tiny_vit()
    with pytest.raises(ValueError, match="max_nodes"):
        model(*random_graphs(n=N + 1)[:2])


def test_symmetrized_graph_vit_is_exactly_equivariant():
    torch.manual_seed(0)
    x, adj, mask = random_graphs()
    base = tiny_vit(graph_out=4, node_out=3, pair_out=2).eval()
    moved_x, moved_adj, _ = relabel(x, adj, mask)
    assert (base(x, adj, mask)["graph"] - base(moved_x, moved_adj, mask)["graph"]).norm() > 1e-4
    outputs = {"graph": "invariant", "node": "node", "pair": "pair"}
    for sampler in ("learned", "haar"):
        kwargs = {"in_dim": 2, "hidden": 16} if sampler == "learned" else {}
        model = lps.symmetrize(
            base,
            "S_n",
            {"x": "node", "adj": "pair"},
            outputs,
            sampler,
            n_samples=2,
            sampler_args=kwargs,
        ).eval()
        assert assert_equivariant(model, {"x": x, "adj": adj}, mask, tolerance=1e-5) < 1e-5
    # the pair output is mapped back: its padding block is untouched by the permutation
    y = model(x=x, adj=adj, mask=mask).prediction
    assert y["pair"].shape == (3, N, N, 2) and y["node"].shape == (3, N, 3)


# --------------------------------------------------------------------------- pretrained


@pytest.fixture(scope="module")
def source_vit():
    torch.manual_seed(0)
    return timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=16, patch_size=8, in_chans=3,
        num_classes=5, embed_dim=32, depth=1, num_heads=2,
    ).eval()  # fmt: skip


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_load_pretrained_adapts_patch_channels_and_grid(tmp_path, source_vit, suffix):
    path = tmp_path / f"vit{suffix}"
    state = source_vit.state_dict()
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    model = tiny_vit(graph_out=4, node_out=3)  # patch 4, 8 channels, 12 px: all differ
    report = load_pretrained(model, path)
    vit = model.vit
    for name, value in source_vit.blocks.state_dict().items():
        torch.testing.assert_close(vit.blocks.state_dict()[name], value, rtol=0, atol=0)
    torch.testing.assert_close(vit.norm.weight, source_vit.norm.weight, rtol=0, atol=0)
    torch.testing.assert_close(vit.cls_token, source_vit.cls_token, rtol=0, atol=0)
    assert vit.pos_embed.shape == (1, 1 + 3 * 3, 32)  # the 2 x 2 grid became 3 x 3
    expected = resample_abs_pos_embed(source_vit.pos_embed.detach(), new_size=(3, 3))
    torch.testing.assert_close(vit.pos_embed.detach(), expected)
    assert vit.patch_embed.proj.weight.shape == (32, 8, 4, 4)
    assert set(report.adapted) == {"patch_embed.proj.weight", "pos_embed"}
    assert set(report.skipped) == {"head.weight", "head.bias"}  # 5 classes -> 4 outputs
    assert not report.missing and not report.unexpected
    x, adj, mask = random_graphs()
    assert torch.isfinite(model(x, adj, mask)["graph"]).all()


def test_load_pretrained_from_wrapped_model_and_prefixed_keys(tmp_path):
    torch.manual_seed(0)
    src = tiny_vit(graph_out=4)
    path = tmp_path / "graph_vit.pth"
    torch.save(src.state_dict(), path)  # keys carry the "vit." prefix
    dst = lps.symmetrize(
        tiny_vit(graph_out=4), "S_n", {"x": "node", "adj": "pair"}, "invariant", "haar"
    )
    report = load_pretrained(dst, path)
    assert not report.adapted and not report.skipped
    for name, value in src.vit.state_dict().items():
        torch.testing.assert_close(dst.base_model.vit.state_dict()[name], value, rtol=0, atol=0)


def test_load_pretrained_errors(tmp_path, source_vit):
    model = tiny_vit(graph_out=4)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_pretrained(model, tmp_path / "missing.safetensors")
    for name in ("corrupt.safetensors", "corrupt.pth"):
        (tmp_path / name).write_bytes(b"\x00not a checkpoint" * 8)
        with pytest.raises(ValueError, match="corrupt"):
            load_pretrained(model, tmp_path / name)
    (tmp_path / "weights.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown format"):
        load_state_dict_file(tmp_path / "weights.npz")
    wide = timm.create_model(
        "vit_tiny_patch16_224", img_size=16, embed_dim=48, depth=1, num_heads=2
    )
    torch.save(wide.state_dict(), tmp_path / "wide.pth")
    with pytest.raises(ValueError, match="another architecture"):
        load_pretrained(model, tmp_path / "wide.pth")


def test_param_groups_split_backbone_from_new():
    torch.manual_seed(0)
    model = lps.symmetrize(
        tiny_vit(graph_out=4, node_out=3),
        "S_n",
        {"x": "node", "adj": "pair"},
        {"graph": "invariant", "node": "node"},
        "learned",
        sampler_args={"in_dim": 2, "hidden": 16},
    )
    groups = param_groups(model, lr_backbone=1e-5, lr_new=1e-3, weight_decay=0.05)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"backbone", "backbone_no_decay", "new", "new_no_decay"}
    ids = {name: {id(p) for p in g["params"]} for name, g in by_name.items()}
    params = dict(model.named_parameters())
    backbone = backbone_parameter_names(model)
    assert "base_model.vit.blocks.0.attn.qkv.weight" in backbone
    assert "base_model.vit.head.weight" not in backbone
    assert id(params["base_model.vit.blocks.0.attn.qkv.weight"]) in ids["backbone"]
    assert id(params["base_model.vit.pos_embed"]) in ids["backbone_no_decay"]
    assert id(params["base_model.vit.head.weight"]) in ids["new"]
    assert id(params["base_model.node_head.weight"]) in ids["new"]
    assert id(params["sampler.embed.weight"]) in ids["new"]
    assert sum(len(v) for v in ids.values()) == len(params)
    assert by_name["backbone"]["lr"] == 1e-5 and by_name["new"]["lr"] == 1e-3
    assert by_name["new_no_decay"]["weight_decay"] == 0.0
    torch.optim.AdamW(groups)  # accepted as is
