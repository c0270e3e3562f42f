"""The ``digits_rotated`` task through ``lps train``: the shipped ViT config for a few steps
(learned sampler over C4: exactly invariant), the plain/augment baselines, bad task_args."""

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
