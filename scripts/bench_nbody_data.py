"""Time the generation of all 14,000 charged n-body trajectories (train 10k, val 2k, test 2k).

Usage: python scripts/bench_nbody_data.py [--out runs/bench_nbody_data.json] [--chunk-size N]

Generation only (no cache I/O); writes the timings with machine and library info as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from lps.data.nbody import _COMMON, SPLITS, simulate_charged
from lps.io import atomic_write_text


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="runs/bench_nbody_data.json")
    parser.add_argument("--chunk-size", type=int, default=None)
    args = parser.parse_args()

    extra = {} if args.chunk_size is None else {"chunk_size": args.chunk_size}
    seconds: dict[str, float] = {}
    total_traj = 0
    start = time.perf_counter()
    for split, spec in SPLITS.items():
        t0 = time.perf_counter()
        out = simulate_charged(**{**_COMMON, **spec, **extra})
        seconds[split] = time.perf_counter() - t0
        total_traj += out["loc"].shape[0]
    total = time.perf_counter() - start

    try:
        usable_cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        usable_cpus = os.cpu_count()
    result = {
        "benchmark": "charged n-body data generation (lps.data.nbody.simulate_charged)",
        "num_trajectories": total_traj,
        "seconds_total": round(total, 3),
        "seconds_per_split": {k: round(v, 3) for k, v in seconds.items()},
        "params": {k: list(v) if isinstance(v, tuple) else v for k, v in _COMMON.items()},
        "chunk_size": args.chunk_size,
        "device": "cpu",
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
    }
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_path, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
