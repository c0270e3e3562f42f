"""Time the projection penalties of the inertia SoftMLP: per group vs. batched, one thread.

    python scripts/soft_penalty_timing.py

Prints milliseconds per forward + backward of: the MSE on a batch of 100, the per-group
penalties (``penalty(G)`` summed over the groups) and the batched ``penalties(groups)``.
"""

from __future__ import annotations

import json
import time

import torch

from lps.soft import SoftMLP

GROUPS = ["O(3)", "O(2)_x", "O(2)_y", "O(2)_z"]


def _ms(fn, reps: int = 50) -> float:
    fn()  # warm the caches
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return 1000 * (time.perf_counter() - start) / reps


def main() -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = SoftMLP("5xT0 + 5xT1", "1xT2", hidden="16x0e + 8x1o@1 + 4x0e@2 + 4x1e@2 + 4x2e@2")
    x, y = torch.randn(100, 20), torch.randn(100, 9)
    out = {
        "mse_fwd_bwd_ms": _ms(lambda: (model(x) - y).pow(2).mean().backward()),
        "per_group_penalties_ms": _ms(lambda: sum(model.penalty(g) for g in GROUPS).backward()),
        "batched_penalties_ms": _ms(lambda: sum(model.penalties(GROUPS).values()).backward()),
    }
    print(json.dumps({k: round(v, 2) for k, v in out.items()}))
    return out


if __name__ == "__main__":
    main()
