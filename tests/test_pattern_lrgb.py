"""PATTERN generation and cache, LRGB loaders, benchmark metrics, and the graph tasks end to end.

Everything runs offline on small inputs; nothing is downloaded (the loaders of the official
files are exercised on tiny files written in the official raw formats).
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import torch

from lps.data import pattern as pat
from lps.data.lrgb import load_lrgb, synthetic_lrgb
from lps.data.pattern import (
    PatternCacheError,
    PatternCollate,
    PatternDataset,
    PatternItem,
    PatternParams,
    generate_pattern_split,
    load_pattern,
    load_pattern_arrays,
    load_pattern_official,
)
from lps.data.pyg_local import UnsafeFileError
from lps.train.metrics import (
    average_precision,
    binary_average_precision,
    link_ranking_metrics,
    mean_absolute_error,
    weighted_accuracy,
    weighted_accuracy_per_batch,
    weighted_cross_entropy,
)

pytestmark = pytest.mark.usefixtures("single_thread")

#: Tiny PATTERN-like graphs (at most 2 x 4 + 4 = 12 nodes) for the end-to-end runs.
TINY = PatternParams(
    num_communities=2,
    community_min=3,
    community_max=5,
    pattern_size=4,
    num_patterns=4,
    num_train=32,
    num_val=8,
    num_test=8,
)


def _dense(arrays, params, i):
    """Adjacency (N, N) bool and block ids (N,) of graph i of packed arrays."""
    d = pat.pattern_graph_to_data(arrays, i, params)
    n = d.num_nodes
    adj = np.zeros((n, n), dtype=bool)
    adj[d.edge_index[0].numpy(), d.edge_index[1].numpy()] = True
    off = int(arrays["num_nodes"][:i].astype(np.int64).sum())
    return adj, arrays["block"][off : off + n], d


# --------------------------------------------------------------------------- generator


def test_generator_statistics() -> None:
    params = PatternParams()
    arrays = generate_pattern_split("train", params, num_graphs=40)
    sizes = arrays["num_nodes"].astype(int)
    assert params.min_nodes == 45 and params.max_nodes == 190
    assert sizes.min() >= 45 and sizes.max() <= 190
    hits = {"in": [0, 0], "across": [0, 0], "pattern": [0, 0], "link": [0, 0]}
    feats = []
    for i in range(len(sizes)):
        adj, block, d = _dense(arrays, params, i)
        n = d.num_nodes
        assert (adj == adj.T).all() and not adj.diagonal().any()
        assert d.x.shape == (n, 3) and torch.equal(d.x.sum(1), torch.ones(n))
        assert int(d.y.sum()) == 20 and d.y.float().mean().item() == pytest.approx(20 / n)
        assert torch.equal(d.y, torch.from_numpy((block == 5).astype(np.int64)))
        upper = np.triu(np.ones((n, n), dtype=bool), 1)
        pat_i, pat_j = block[:, None] == 5, block[None, :] == 5
        same = block[:, None] == block[None, :]
        kinds = {
            "in": upper & same & ~pat_i,
            "across": upper & ~same & ~pat_i & ~pat_j,
            "pattern": upper & pat_i & pat_j,
            "link": upper & (pat_i ^ pat_j),
        }
        for key, sel in kinds.items():
            hits[key][0] += int(adj[sel].sum())
            hits[key][1] += int(sel.sum())
        feats.append(d.x.argmax(1))
    density = {k: a / b for k, (a, b) in hits.items()}
    assert density["in"] == pytest.approx(0.5, abs=0.03)
    assert density["across"] == pytest.approx(0.35, abs=0.02)
    assert density["pattern"] == pytest.approx(0.5, abs=0.05)
    assert density["link"] == pytest.approx(0.5, abs=0.02)
    freq = torch.bincount(torch.cat(feats), minlength=3).float()
    assert torch.allclose(freq / freq.sum(), torch.full((3,), 1 / 3), atol=0.03)


def test_patterns_are_shared_by_graphs_and_splits() -> None:
    params = PatternParams(num_patterns=3)
    train = generate_pattern_split("train", params, num_graphs=4)
    test = generate_pattern_split("test", params, num_graphs=1)
    assert train["pattern_id"].tolist() == [0, 1, 2, 0]

    def pattern_part(arrays, i):
        adj, block, d = _dense(arrays, params, i)
        sel = np.flatnonzero(block == 5)
        sub = adj[np.ix_(sel, sel)]
        return int(sub.sum()), sorted(d.x.argmax(1)[sel].tolist())

    assert pattern_part(train, 0) == pattern_part(train, 3) == pattern_part(test, 0)
    assert pattern_part(train, 0) != pattern_part(train, 1)


def test_generation_is_deterministic_and_prefix_stable() -> None:
    a = generate_pattern_split("val", num_graphs=12)
    b = generate_pattern_split("val", num_graphs=12)
    head = generate_pattern_split("val", num_graphs=5)
    for k in a:
        assert np.array_equal(a[k], b[k])
    assert np.array_equal(pat._head(a, 5)["adj_bits"], head["adj_bits"])
    assert np.array_equal(pat._head(a, 5)["feat"], head["feat"])
    other = generate_pattern_split("test", num_graphs=12)
    assert not np.array_equal(a["num_nodes"], other["num_nodes"])
    reseeded = generate_pattern_split("val", PatternParams(seed=1), num_graphs=12)
    assert not np.array_equal(a["adj_bits"][:100], reseeded["adj_bits"][:100])


def test_cache_round_trip_and_corruption(tmp_path, monkeypatch) -> None:
    root = tmp_path / "cache"
    arrays = load_pattern_arrays("train", root, TINY)
    load_pattern(root, TINY)  # caches val and test too
    npz, meta_path = pat.cache_paths("train", root, TINY)
    meta = json.loads(meta_path.read_text())
    assert meta["sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()
    assert meta["params"] == TINY.as_dict() and meta["num_graphs"] == 32
    assert not list(root.glob(".*tmp"))  # atomic writes leave no temporary file

    def refuse(*args, **kwargs):
        raise AssertionError("the cache should have been read, not regenerated")

    monkeypatch.setattr(pat, "generate_pattern_split", refuse)
    again = load_pattern_arrays("train", root, TINY, regenerate=False)
    for k in arrays:
        assert np.array_equal(arrays[k], again[k])
    graphs = load_pattern(root, TINY, num_train=10)
    assert [len(graphs[s]) for s in ("train", "val", "test")] == [10, 8, 8]
    monkeypatch.undo()

    raw = bytearray(npz.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    npz.write_bytes(bytes(raw))
    with pytest.raises(PatternCacheError, match="sha256"):
        load_pattern_arrays("train", root, TINY, regenerate=False)
    fixed = load_pattern_arrays("train", root, TINY, regenerate=True)
    assert np.array_equal(fixed["adj_bits"], arrays["adj_bits"])

    meta = json.loads(meta_path.read_text())
    meta["params"]["q"] = 0.2
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(PatternCacheError, match="parameters"):
        load_pattern_arrays("train", root, TINY, regenerate=False)


def test_fast_collate_matches_dense_graph_batch() -> None:
    from lps.data.graphs import dense_graph_batch

    arrays = generate_pattern_split("val", TINY, num_graphs=6)
    ds = PatternDataset.from_arrays(arrays, TINY)
    batch = PatternCollate(12)([ds[i] for i in range(6)])
    graphs = [ds.data(i) for i in range(6)]
    ref = dense_graph_batch(graphs, 12)
    for key in ("x", "mask", "edge_index"):
        assert torch.equal(batch[key], ref[key]), key
    assert torch.equal(batch["adj"].float(), ref["adj"])
    assert torch.equal(batch["node_y"][batch["mask"]], ref["y"])
    assert (batch["node_y"][~batch["mask"]] == -1).all()
    for i, g in enumerate(graphs):  # Data -> packed -> Data
        item = PatternItem.from_data(g)
        assert np.array_equal(item.bits, ds[i].bits) and np.array_equal(item.feat, ds[i].feat)


# --------------------------------------------------------------------------- metrics


def test_weighted_accuracy_hand_cases() -> None:
    t = torch.tensor([0, 0, 0, 1, 1])
    p = torch.tensor([0, 0, 1, 1, 0])
    assert weighted_accuracy(p, t) == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)
    # a class seen only in the predictions counts with recall 0 (sklearn's confusion matrix)
    assert weighted_accuracy(torch.tensor([0, 1]), torch.tensor([0, 0])) == pytest.approx(25.0)
    assert weighted_accuracy(t, t) == 100.0
    # per batch: graphs [[0, 0, pad], [1, 0, pad]] and [[1, 1, 0]], chunks of 1 graph
    target = torch.tensor([[0, 0, -1], [1, 0, -1], [1, 1, 0]])
    pred = torch.tensor([[0, 1, 1], [1, 0, 0], [0, 1, 0]])
    per_graph = [
        weighted_accuracy(torch.tensor([0, 1]), torch.tensor([0, 0])),
        weighted_accuracy(torch.tensor([1, 0]), torch.tensor([1, 0])),
        weighted_accuracy(torch.tensor([0, 1, 0]), torch.tensor([1, 1, 0])),
    ]
    assert per_graph == pytest.approx([25.0, 100.0, 75.0])
    assert weighted_accuracy_per_batch(pred, target, 1) == pytest.approx(200 / 3)
    assert weighted_accuracy_per_batch(pred, target, 2) == pytest.approx(
        (weighted_accuracy(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 0, 1, 0])) + 75.0) / 2
    )


def test_weighted_cross_entropy_hand_case() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, -0.5]])
    target = torch.tensor([0, 0, 0, 1])
    nll = -torch.log_softmax(logits, 1)[torch.arange(4), target]
    w = torch.tensor([0.25, 0.25, 0.25, 0.75])  # (4 - 3) / 4 for class 0, (4 - 1) / 4 for 1
    expected = (w * nll).sum() / w.sum()
    assert weighted_cross_entropy(logits, target).item() == pytest.approx(expected.item())
    # a single class: every weight is 0 (NaN in the reference), the plain mean is used
    one_class = weighted_cross_entropy(logits, torch.zeros(4, dtype=torch.long))
    assert one_class.item() == pytest.approx(-torch.log_softmax(logits, 1)[:, 0].mean().item())


def test_average_precision_hand_cases() -> None:
    s = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert binary_average_precision(s, torch.tensor([1, 0, 1, 0])) == pytest.approx(
        0.5 * 1 + 0.5 * 2 / 3
    )
    # tied scores enter together: threshold 0.5 -> P 1/2, R 1/2; 0.2 -> P 2/3, R 1
    tied = binary_average_precision(torch.tensor([0.5, 0.5, 0.2]), torch.tensor([1, 0, 1]))
    assert tied == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    assert math.isnan(binary_average_precision(s, torch.zeros(4)))
    nan = float("nan")
    scores = torch.tensor([[0.9, 0.1, 0.3], [0.8, 0.7, 0.2], [0.7, 0.2, 0.1], [0.6, 0.4, 0.9]])
    targets = torch.tensor([[1, nan, 0], [0, 1, 0], [1, 0, 0], [0, nan, 0]])
    # task 0: 0.8333; task 1 on rows 1, 2: scores 0.7 (pos), 0.2 -> 1.0; task 2: no positive
    assert average_precision(scores, targets) == pytest.approx((0.5 + 0.5 * 2 / 3 + 1.0) / 2)
    logits = torch.logit(scores.clamp(1e-3, 1 - 1e-3))
    assert average_precision(logits, targets) == pytest.approx(average_precision(scores, targets))


def test_mean_absolute_error_hand_case() -> None:
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[1.5, 2.0], [2.0, float("nan")]])
    assert mean_absolute_error(pred, target) == pytest.approx(((0.5 + 1.0) / 2 + 0.0) / 2)
    assert mean_absolute_error(pred, pred + 0.25) == pytest.approx(0.25)


def test_link_ranking_hand_case() -> None:
    # graph 0: 3 real nodes (padded to 4), positives (0, 2) and (1, 0); graph 1: none
    scores = torch.zeros(2, 4, 4)
    scores[0, 0] = torch.tensor([0.1, 0.9, 0.5, 100.0])  # (0, 2) beaten by (0, 1): rank 2
    scores[0, 1] = torch.tensor([0.3, 0.2, 0.3, 100.0])  # (1, 0) tied with (1, 2): rank 1.5
    targets = torch.full((2, 4, 4), -1, dtype=torch.long)
    targets[:, :3, :3] = 0
    targets[0, 0, 2] = targets[0, 1, 0] = 1
    m = link_ranking_metrics(scores.unsqueeze(-1), targets)
    assert m["mrr"] == pytest.approx((1 / 2 + 1 / 1.5) / 2 / 2)
    assert m["hits@1"] == 0.0
    assert m["hits@3"] == pytest.approx(0.5) and m["hits@10"] == pytest.approx(0.5)
    scores[0, 0, 2] = 1.0  # now first in its row
    assert link_ranking_metrics(scores, targets)["hits@1"] == pytest.approx(0.25)


# --------------------------------------------------------------------------- official files


def test_loaders_refuse_missing_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="Nothing is downloaded") as err:
        load_lrgb(tmp_path, "Peptides-func", "train")
    assert str(tmp_path / "peptides-func" / "raw" / "train.pt") in str(err.value)
    with pytest.raises(FileNotFoundError, match="pcqm-contact"):
        load_lrgb(tmp_path, "pcqm_contact", "val")
    with pytest.raises(FileNotFoundError, match="data.root"):
        load_lrgb(None, "peptides-struct", "test")
    with pytest.raises(ValueError, match="unknown data set"):
        load_lrgb(tmp_path, "zinc", "train")
    with pytest.raises(FileNotFoundError, match="PATTERN_v2.pt"):
        load_pattern_official(tmp_path, "train")


class _NotATensor:
    pass


def test_loaders_read_local_files_offline(tmp_path) -> None:
    graphs = synthetic_lrgb("peptides-func", 5, seed=3)
    raw = tmp_path / "peptides-func" / "raw"
    raw.mkdir(parents=True)
    for split in ("train", "val", "test"):
        torch.save([(g.x, g.edge_attr, g.edge_index, g.y) for g in graphs], raw / f"{split}.pt")
    ds = load_lrgb(tmp_path, "peptides-func", "val")
    assert len(ds) == 5 and ds[0].y.shape == (1, 10) and ds[0].x.shape[1] == 9
    assert load_lrgb(tmp_path, "peptides-func", "test")[2].num_nodes == graphs[2].num_nodes

    bad = tmp_path / "bad"
    (bad / "peptides-func" / "raw").mkdir(parents=True)
    for split in ("train", "val", "test"):
        torch.save([_NotATensor()], bad / "peptides-func" / "raw" / f"{split}.pt")
    with pytest.raises(UnsafeFileError, match="weights_only"):
        load_lrgb(bad, "peptides-func", "train")

    arrays = generate_pattern_split("val", TINY, num_graphs=3)
    data = pat.arrays_to_data(arrays, TINY)
    (tmp_path / "PATTERN" / "raw").mkdir(parents=True)
    as_ints = [{"x": d.x.argmax(1), "edge_index": d.edge_index, "y": d.y} for d in data]
    torch.save([as_ints, as_ints[:2], as_ints[:1]], tmp_path / "PATTERN" / "raw" / "PATTERN_v2.pt")
    official = load_pattern_official(tmp_path, "train")
    assert len(official) == 3 and len(load_pattern_official(tmp_path, "test")) == 1
    for got, want in zip(official, data):
        assert torch.equal(got.x, want.x) and torch.equal(got.y, want.y)
        assert torch.equal(got.edge_index, want.edge_index)


# --------------------------------------------------------------------------- tasks


def _tiny_overrides(tmp_path, *extra):
    return [
        f"run_dir={tmp_path / 'run'}",
        "trainer.max_steps=4",
        "trainer.eval_every=2",
        "trainer.checkpoint_every=4",
        "trainer.log_every=1",
        "trainer.tracker=none",
        "trainer.progress=false",
        "eval.seeds=2",
        "symmetry.n_samples_eval=2",
        "symmetry.hidden=16",
        "symmetry.layers=1",
        "symmetry.walk_steps=4",
        *extra,
    ]


def test_train_pattern_tiny_vit_end_to_end(tmp_path, monkeypatch) -> None:
    from lps.train.config import load_config, packaged_config
    from lps.train.loop import train

    monkeypatch.setattr(pat, "DEFAULT_PARAMS", TINY)
    cfg = load_config(
        packaged_config("pattern_vit_small_ps.yaml"),
        _tiny_overrides(
            tmp_path,
            "data.name=pattern",
            f"data.root={tmp_path / 'data'}",
            "data.max_nodes=12",
            "data.num_train=null",
            "data.batch_size=8",
            "data.eval_batch_size=8",
            "model.hidden=32",
            "model.layers=1",
            "model.heads=2",
            "model.patch_size=4",
        ),
    )
    metrics = train(cfg)
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["task"] == "pattern" and on_disk["primary_metric"] == "weighted_accuracy"
    acc = on_disk["test"]["weighted_accuracy"]
    assert len(acc["values"]) == 2 and 0.0 <= acc["mean"] <= 100.0
    assert acc["mean"] == pytest.approx(metrics["test"]["weighted_accuracy"]["mean"])
    assert {"weighted_accuracy_b128", "accuracy"} <= set(on_disk["val"])
    assert on_disk["equivariance"]["coupled_noise"] < 1e-4
    assert on_disk["train"]["steps"] == 4


def test_train_peptides_func_synthetic_end_to_end(tmp_path) -> None:
    from lps.train.config import load_config, packaged_config
    from lps.train.loop import train

    cfg = load_config(
        packaged_config("peptides_func_vit_ps.yaml"),
        _tiny_overrides(
            tmp_path,
            "data.name=synthetic",
            "data.max_nodes=16",
            "data.num_train=32",
            "data.batch_size=8",
            "data.eval_batch_size=16",
            "data.num_workers=0",
            "model.hidden=32",
            "model.layers=1",
            "model.heads=2",
            "model.patch_size=4",
            "trainer.grad_accum=1",
            "trainer.mixed_precision='no'",
        ),
    )
    train(cfg)
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    ap = on_disk["test"]["ap"]["mean"]
    assert on_disk["primary_metric"] == "ap" and 0.0 < ap <= 1.0
    assert on_disk["equivariance"]["coupled_noise"] < 1e-4


@pytest.mark.parametrize("task_name", ["peptides_struct", "pcqm_contact"])
@pytest.mark.parametrize("backbone", ["vit", "gin_id"])
def test_lrgb_tasks_forward_loss_metrics(task_name: str, backbone: str) -> None:
    from lps.train.config import load_config, packaged_config
    from lps.train.tasks import get_task

    cfg = load_config(
        packaged_config(f"{task_name}_vit_ps.yaml"),
        [
            "data.name=synthetic",
            "data.max_nodes=16",
            f"model.backbone={backbone}",
            "model.hidden=16",
            "model.layers=1",
            "model.heads=2",
            "model.patch_size=4",
            "symmetry.hidden=16",
            "symmetry.layers=1",
        ],
    )
    task = get_task(task_name)
    data = task.datasets(cfg)
    batch = task.collate(cfg)(list(data["train"][:6]))
    torch.manual_seed(0)
    model = task.build_model(cfg)
    out = model(**task.inputs(batch))
    loss = task.loss(out.prediction, batch)
    loss.backward()
    assert math.isfinite(loss.item())
    assert all(p.grad is not None for p in model.sampler.parameters() if p.requires_grad)
    metrics = task.metrics(out.prediction.detach().float(), task.targets(batch))
    assert task.primary in metrics and math.isfinite(metrics[task.primary])
    if task_name == "pcqm_contact":
        assert out.prediction.shape == (6, 16, 16, 1)
        assert set(metrics) == {"mrr", "hits@1", "hits@3", "hits@10"}


def test_pretrained_vit_parameters_use_the_backbone_lr(tmp_path) -> None:
    import timm
    from safetensors.torch import save_file

    from lps.train.config import load_config, packaged_config
    from lps.train.optim import param_groups
    from lps.train.tasks import get_task

    vit = timm.create_model(
        "vit_small_patch16_224", pretrained=False, embed_dim=32, depth=1, num_heads=2
    )
    weights = tmp_path / "vit.safetensors"
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(weights))
    cfg = load_config(
        packaged_config("pattern_vit_small_ps.yaml"),
        [
            "data.max_nodes=12",
            "model.hidden=32",
            "model.layers=1",
            "model.heads=2",
            "model.patch_size=4",
            f"model.pretrained={weights}",
            "optim.lr=1e-3",
            "optim.lr_backbone=1e-5",
        ],
    )
    task = get_task("pattern")
    model = task.build_model(cfg)
    names = dict(model.named_parameters())
    qkv = next(n for n in names if n.endswith("blocks.0.attn.qkv.weight"))
    assert task.is_backbone(qkv)
    assert not any(task.is_backbone(n) for n in names if n.startswith("sampler."))
    assert not any(task.is_backbone(n) for n in names if "pair_head" in n)
    assert torch.equal(names[qkv].detach(), vit.state_dict()["blocks.0.attn.qkv.weight"])
    groups = param_groups(model, task, cfg)
    assert sorted(g["lr"] for g in groups) == [1e-5, 1e-3]
    assert qkv.startswith("base_model.")


@pytest.mark.parametrize("variant", ["ps", "ga", "fa", "canonical"])
def test_pattern_configs_build_and_run(variant: str) -> None:
    from lps.train.config import load_config, packaged_config
    from lps.train.tasks import get_task

    full = load_config(packaged_config(f"pattern_vit_{variant}.yaml"))
    assert (full.model.hidden, full.model.layers, full.model.heads) == (768, 12, 12)
    assert full.model.vit_name == "vit_base_patch16_224" and full.data.max_nodes == 190
    assert full.trainer.mixed_precision == "bf16"
    small = ["data.max_nodes=12", "model.hidden=16", "model.layers=1", "model.heads=2"]
    small += ["model.patch_size=4", "symmetry.hidden=8", "symmetry.layers=1"]
    cfg = load_config(packaged_config(f"pattern_vit_{variant}.yaml"), small)
    task = get_task("pattern")
    model = task.build_model(cfg).eval()
    ds = PatternDataset.from_arrays(generate_pattern_split("val", TINY, num_graphs=3), TINY)
    batch = PatternCollate(12)([ds[i] for i in range(3)])
    with torch.no_grad():
        pred = model(**task.inputs(batch), n_samples=2).prediction
    assert pred.shape == (3, 12, 2)
    assert set(task.metrics(pred, batch["node_y"])) == {
        "weighted_accuracy",
        "weighted_accuracy_b128",
        "accuracy",
    }


def test_other_graph_backbones_for_pattern() -> None:
    from lps.testing import assert_equivariant
    from lps.train.config import load_config, packaged_config
    from lps.train.tasks import get_task

    ds = PatternDataset.from_arrays(generate_pattern_split("val", TINY, num_graphs=4), TINY)
    batch = PatternCollate(12)([ds[i] for i in range(4)])
    task = get_task("pattern")
    for backbone in ("mlp", "gin_id", "vit"):
        cfg = load_config(
            packaged_config("pattern_vit_small_ps.yaml"),
            [f"model.backbone={backbone}", "data.max_nodes=12", "model.hidden=16"]
            + ["model.layers=1", "model.heads=2", "model.patch_size=4"],
        )
        torch.manual_seed(0)
        model = task.build_model(cfg).eval()
        inputs = task.inputs(batch)
        mask, edge_index = inputs.pop("mask"), inputs.pop("edge_index")
        assert_equivariant(model, inputs, mask=mask, edge_index=edge_index)
