"""The backbone and task registries, symmetrize_from_config and the config checks: a toy
backbone and a toy task registered here train through ``lps.train.loop.train``."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Data

from lps.backbones import BACKBONES, create_backbone, list_backbones, register_backbone
from lps.fields import FieldSpec, FieldType, parse_field_specs, total_channels
from lps.train.build import backbone_from_config, symmetrize_from_config
from lps.train.config import ConfigError, load_config
from lps.train.loop import train
from lps.train.tasks import TASKS, Task, get_task, list_tasks, register_task

pytestmark = pytest.mark.usefixtures("single_thread")


class ToyNodeModel(nn.Module):
    """Per-node logits from the node features and the degree."""

    def __init__(self, node_dim: int, out_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(node_dim + 1, hidden), nn.ReLU(), nn.Linear(hidden, out_dim)
        )

    def forward(self, x, adj, mask=None):
        return self.net(torch.cat([x, adj[..., :1].sum(2)], -1))


def toy_backbone(kind, *, max_nodes, node_dim, pair_dim, out_dim, hidden=8):
    if kind != "node":
        raise ValueError(f"toy backbone: only node outputs, not {kind!r}")
    return ToyNodeModel(node_dim, out_dim, hidden)


class ToyDegreeTask(Task):
    """Is a node's degree above 1? Random graphs of 3 to 6 nodes."""

    primary, mode = "accuracy", "max"

    def datasets(self, cfg):
        gen = torch.Generator().manual_seed(0)

        def graph():
            n = int(torch.randint(3, 7, (), generator=gen))
            a = torch.triu((torch.rand(n, n, generator=gen) < 0.4).long(), 1)
            edge_index = (a + a.T).nonzero().T
            degree = (a + a.T).sum(1)
            return Data(
                x=torch.ones(n, 1), edge_index=edge_index, y=(degree > 1).long(), num_nodes=n
            )

        return {
            split: [graph() for _ in range(n)]
            for split, n in (("train", 16), ("val", 8), ("test", 8))
        }

    def collate(self, cfg):
        from lps.data.graphs import make_dense_collate

        return make_dense_collate(cfg.data.max_nodes)

    def build_model(self, cfg):
        base = backbone_from_config(
            cfg, "node", max_nodes=cfg.data.max_nodes, node_dim=1, pair_dim=1, out_dim=2
        )
        return symmetrize_from_config(cfg, base, {"x": "node:1", "adj": "pair:1"}, "node")

    def inputs(self, batch):
        return {k: batch[k] for k in ("x", "adj", "mask", "edge_index")}

    def _node_targets(self, batch):
        n = batch["mask"].shape[1]
        y = torch.full(batch["mask"].shape, -1, dtype=torch.long)
        y[batch["mask"]] = batch["y"].view(-1)[: int(batch["mask"].sum())]
        return y[:, :n]

    def loss(self, prediction, batch):
        y = self._node_targets(batch)
        return F.cross_entropy(prediction[y >= 0].float(), y[y >= 0])

    def targets(self, batch):
        return self._node_targets(batch)

    def metrics(self, predictions, targets):
        real = targets >= 0
        return {"accuracy": float((predictions.argmax(-1)[real] == targets[real]).float().mean())}


@pytest.fixture
def toy_registered():
    register_backbone("toy_node")(toy_backbone)
    register_task("toy_degree")(ToyDegreeTask)
    yield
    BACKBONES.unregister("toy_node")
    TASKS.unregister("toy_degree")


def test_shipped_components_are_registered():
    assert {"mlp", "gin_id", "vit", "transformer", "gnn"} <= set(list_backbones())
    assert {
        "exp_classify",
        "pattern",
        "peptides_func",
        "peptides_struct",
        "pcqm_contact",
        "nbody",
    } <= set(list_tasks())
    assert get_task("nbody").name == "nbody"
    with pytest.raises(ValueError, match="unknown task 'nope'.*exp_classify"):
        get_task("nope")
    with pytest.raises(ValueError, match="unknown backbone 'nope'"):
        create_backbone("nope", "node")
    with pytest.raises(ValueError, match="kind"):
        create_backbone("transformer", "node", max_nodes=5)


def test_create_backbone_shapes():
    x, adj = torch.randn(2, 6, 3), torch.randn(2, 6, 6, 1)
    for name in ("mlp", "gin_id"):
        for kind, shape in (("node", (2, 6, 2)), ("graph", (2, 2)), ("pair", (2, 6, 6))):
            model = create_backbone(
                name, kind, max_nodes=6, node_dim=3, pair_dim=1, out_dim=2, hidden=8
            )
            out = model(x=x, adj=adj, mask=torch.ones(2, 6, dtype=torch.bool))
            assert tuple(out.shape)[: len(shape)] == shape, (name, kind)


def test_field_channels():
    inputs = {
        "pos": "position",
        "vel": "node_vector:1",
        "q": "node:1",
        "h": "node:2",
        "e": "pair:1",
    }
    specs = parse_field_specs(inputs, "inputs")
    totals = {t: total_channels(specs, t) for t in FieldType}
    assert totals[FieldType.NODE_VECTOR] == 1 and totals[FieldType.NODE] == 3
    assert totals[FieldType.PAIR] == 1 and totals[FieldType.IMAGE] == 0
    assert specs["pos"] == FieldSpec(FieldType.POSITION, 1)
    assert total_channels(parse_field_specs({"x": "node"}, "inputs"), FieldType.NODE) is None
    with pytest.raises(ValueError, match="channel count 'three'.* is not an integer"):
        parse_field_specs({"x": "node:three"}, "inputs")


@pytest.mark.parametrize(
    "override",
    [
        "symmetry.tau=0",
        "symmetry.relax_band=-1",
        "symmetry.sinkhorn_iters=0",
        "symmetry.hidden=0",
        "symmetry.layers=0",
        "symmetry.noise_dim=-1",
        "symmetry.walk_steps=-1",
        "symmetry.noise_scale=0",
        "symmetry.entropy_weight=-0.1",
        "symmetry.group=Z_7",
        "model.backbone=resnet",
        "model.dropout=1.0",
        "optim.grad_clip=-1",
        "task=unknown_task",
    ],
)
def test_config_checks_name_the_dotted_key(override):
    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


def test_config_accepts_null_relax_band_and_zero_noise():
    cfg = load_config(
        None, ["symmetry.relax_band=null", "symmetry.noise_dim=0", "symmetry.relax_band=2"]
    )
    assert cfg.symmetry.relax_band == 2 and cfg.symmetry.noise_dim == 0


def test_toy_backbone_and_task_train_through_the_loop(tmp_path, toy_registered):
    cfg = load_config(
        None,
        [
            "task=toy_degree",
            "model.backbone=toy_node",
            "model.hidden=8",
            "data.max_nodes=6",
            "data.batch_size=4",
            "data.eval_batch_size=8",
            "symmetry.hidden=8",
            "symmetry.layers=1",
            "symmetry.n_samples_eval=2",
            "trainer.max_steps=3",
            "trainer.eval_every=3",
            "trainer.checkpoint_every=3",
            "trainer.tracker=none",
            "trainer.progress=false",
            "trainer.cpu=true",
            "eval.seeds=1",
            f"run_dir={tmp_path / 'run'}",
        ],
    )
    metrics = train(cfg)
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["task"] == "toy_degree" and on_disk["primary_metric"] == "accuracy"
    assert on_disk["train"]["steps"] == 3
    assert 0.0 <= metrics["test"]["accuracy"]["mean"] <= 1.0
    assert on_disk["equivariance"]["coupled_noise"] < 1e-4
