"""Two processes on a CPU (torchrun with gloo) give the same metrics as one process."""

import json
import os
import subprocess
import sys

import pytest

from tests.test_train import TINY

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="torchrun with gloo")


def _run(args, env_extra=None, nproc=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    if nproc:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "lps",
            *args,
        ]
    else:
        cmd = [sys.executable, "-m", "lps", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_two_process_training_and_evaluation_match_one_process(tmp_path):
    run = tmp_path / "run"
    cfg = [*TINY, f"run_dir={run}", "data.eval_batch_size=64", "symmetry.sampler=learned"]
    # Train with two processes: the loop, gathering and checkpoints work under DDP.
    _run(["train", *cfg], nproc=2)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["device"]["num_processes"] == 2
    assert metrics["train"]["steps"] == 4
    # The same weights evaluated by one and by two processes give identical metrics:
    # gather_for_metrics drops the padding duplicates and the noise follows the examples.
    _run(["evaluate", str(run), "eval.seeds=2"])
    one = json.loads((run / "eval.json").read_text())
    _run(["evaluate", str(run), "eval.seeds=2"], nproc=2)
    two = json.loads((run / "eval.json").read_text())
    assert two["device"]["num_processes"] == 2 and one["device"]["num_processes"] == 1
    assert one["test"] == two["test"]
    assert one["val"] == two["val"]
