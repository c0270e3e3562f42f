"""Training cost per task of the neural processes: task drawing and one optimizer step.

    python scripts/np_profile.py --out docs/np_profile.json

Times, in milliseconds per task, the drawing of training tasks (``sample_tasks``: float64
Cholesky of the 192 x 192 joint covariance) and one Adam step (forward, backward, update)
of each model at the sizes of ``scripts/np_table.py``, for batches of 16 and 64 tasks, and
the ConvCNP at two grid densities; median of ``--repeats`` steps after one warm-up, one
thread unless ``--threads``. Writes JSON (with the load average, since the CPU may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from lps.io import atomic_write_text


def _median_ms(fn, repeats: int, per: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times) / per


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="docs/np_profile.json")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from lps.np import build_np, sample_tasks, task_loglik

    here = Path(__file__).resolve().parent
    import sys

    sys.path.insert(0, str(here))
    from np_table import CONV_SIZES, TNP_SIZES

    gen = torch.Generator().manual_seed(0)
    rows = []
    for batch in (16, 64):
        ms = _median_ms(lambda b=batch: sample_tasks(b, gen), args.repeats, batch)
        rows.append({"what": "draw tasks", "batch": batch, "ms_per_task": ms})
    cases = [
        ("convcnp", CONV_SIZES),
        ("convcnp", {"density": 16, "half_width": 6.0}),
        ("convcnp_fixed", CONV_SIZES),
        ("tnp", TNP_SIZES),
        ("tetnp", TNP_SIZES),
        ("tetnp_fixed", TNP_SIZES),
    ]
    for name, sizes in cases:
        for batch in (16, 64):
            torch.manual_seed(0)
            model = build_np(name, **sizes)
            opt = torch.optim.Adam(model.parameters(), 1e-3)
            tasks = sample_tasks(batch, gen)

            def step(model=model, opt=opt, tasks=tasks):
                loss = -task_loglik(model, tasks).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()

            ms = _median_ms(step, args.repeats, batch)
            rows.append({"what": f"{name} {sizes}", "batch": batch, "ms_per_task": ms})
            print(rows[-1], flush=True)
    out = {
        "device": f"CPU ({os.cpu_count()} cores), {args.threads} thread(s)",
        "load_average": os.getloadavg(),
        "rows": rows,
    }
    atomic_write_text(args.out, json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
