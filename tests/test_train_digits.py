"""The ``digits_rotated`` and ``digits_levels`` tasks through ``lps train``: the shipped ViT
config for a few steps (learned sampler over C4: exactly invariant), the plain/augment
baselines, the level table written by ``finish`` (slow), bad task_args."""

import json

import pytest

from lps.cli import main
from lps.train.config import ConfigError, load_config

pytestmark = pytest.mark.usefixtures("single_thread")

CONFIG = "configs/digits_vit_learned.yaml"
TINY = [
    "data.num_train=32",
    "data.batch_size=16",
    "data.eval_batch_size=150",
    "model.hidden=24",
    "model.layers=1",
    "symmetry.n_samples_eval=2",
    "trainer.max_steps=2",
    "trainer.eval_every=2",
    "trainer.checkpoint_every=2",
    "trainer.tracker=none",
    "trainer.progress=false",
]


def test_shipped_config_trains_a_c4_invariant_vit(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", CONFIG, *TINY, "symmetry.group=C4", f"run_dir={run}"])
    assert code == 0, capsys.readouterr()
    m = json.loads((run / "metrics.json").read_text())
    assert m["task"] == "digits_rotated" and m["train"]["steps"] == 2
    assert 0.0 <= m["test"]["accuracy"]["mean"] <= 1.0
    # C4 turns are pixel permutations: coupled noise makes one sample exactly invariant
    assert m["equivariance"]["coupled_noise"] < 1e-5


def test_plain_baseline_has_no_equivariance_audit(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["train", CONFIG, *TINY, "task_args.method=augment", f"run_dir={run}"])
    assert code == 0, capsys.readouterr()
    m = json.loads((run / "metrics.json").read_text())
    assert m["equivariance"] == {}
    assert 0.0 <= m["val"]["accuracy"]["mean"] <= 1.0


@pytest.mark.parametrize(
    "override, match",
    [
        ("task_args.rotation_set=sideways", "task_args.rotation_set"),
        ("task_args.method=mirror", "task_args.method"),
        ("task_args.orientations=6", "task_args.orientations"),
        ("task_args.pose=1", "task_args.pose"),
    ],
)
def test_bad_task_args_are_named(override, match):
    with pytest.raises((ConfigError, ValueError), match=match):
        load_config(CONFIG, [override])


@pytest.mark.slow  # ~60 s on the shared 2-core CPU: k-means and the level fit in finish()
def test_levels_task_writes_the_level_table(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "configs/digits_levels.yaml", f"run_dir={run}", "data.num_train=32"]
    args += ["data.batch_size=16", "trainer.max_steps=2", "trainer.eval_every=2"]
    args += ["trainer.checkpoint_every=2", "trainer.tracker=none", "trainer.progress=false"]
    args += ["task_args.level_epochs=2", "model.hidden=8"]
    assert main(args) == 0, capsys.readouterr()
    m = json.loads((run / "metrics.json").read_text())
    row = json.loads((run / "levels.json").read_text())
    assert m["task_results"] == row and row["set"] == "multiple"
    assert len(row["pred_class_levels"]) == 10
    assert all(0.0 <= v <= 180.0 for v in row["pred_class_levels"])
    assert 0.0 <= row["ood_accuracy"] <= 1.0 and 0.0 <= row["knn_purity"] <= 1.0
    assert m["val"]["recon_mse"]["mean"] > 0 and m["equivariance"] == {}
    assert "level_mae_deg" in (run / "levels.md").read_text()


@pytest.mark.parametrize(
    "override, match",
    [
        ("task_args.rotation_set=full", "task_args.rotation_set"),
        ("task_args.trim=0.5", "task_args.trim"),
        ("task_args.neighbours=0", "task_args.neighbours"),
        ("task_args.psi_readout=median", "task_args.psi_readout"),
    ],
)
def test_bad_levels_task_args_are_named(override, match):
    with pytest.raises((ConfigError, ValueError), match=match):
        load_config("configs/digits_levels.yaml", [override])
