"""Neural-process tables: in-distribution and out-of-region log-likelihood, and the ablation.

    python scripts/np_table.py --table main --seeds 0 1 2 --steps 600 --out docs/np_main
    python scripts/np_table.py --table ablation --seeds 0 --steps 600 --out docs/np_ablation
    python scripts/np_table.py --table terrain --seeds 0 --steps 600 --out docs/np_terrain

``main``: ConvCNP, ConvCNP + fixed inputs, TNP, TE-TNP, TE-TNP + fixed inputs (4 fixed
inputs, p = 0.5, zero outside [-4, 4]), each trained on ``steps x batch`` fresh tasks per
seed. ``ablation``: ConvCNP + fixed inputs over the count {0, 1, 4, 16} at p = 0.5, and over
p {0, 0.25, 0.75} at count 4. Evaluated on the fixed, seeded test set (``--test-tasks``) in
the training region and shifted by +10 (contexts on [8, 12], targets on [6, 14]); the GP
mixture ceiling on the same tasks. ``terrain``: the 2-D tasks of :mod:`lps.np.terrain`
(TNP, TE-TNP, TE-TNP + 4 fixed inputs zero outside [-2, 2]^2), off-region on [4, 8]^2.
Runs go ``--jobs`` at a time, one thread each; every finished run is appended to
``OUT.json`` (rerunning skips those), then ``OUT.md`` is written.
"""

from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

MAIN = [
    ("convcnp", {}),
    ("convcnp_fixed", {"fixed_count": 4, "p_drop": 0.5}),
    ("tnp", {}),
    ("tetnp", {}),
    ("tetnp_fixed", {"fixed_count": 4, "p_drop": 0.5}),
]
# In the order they run (the extremes first): m = 16 and p = 0, then the rest.
ABLATION = [
    ("convcnp_fixed", {"fixed_count": m, "p_drop": p})
    for m, p in ((16, 0.5), (4, 0.0), (1, 0.5), (4, 0.75), (4, 0.25), (0, 0.5), (4, 0.5))
]
TERRAIN = [("tnp", {}), ("tetnp", {}), ("tetnp_fixed", {"fixed_count": 4, "p_drop": 0.5})]
TNP_SIZES = {"width": 48, "heads": 4, "layers": 3}
CONV_SIZES = {"density": 8, "half_width": 7.0}
TERRAIN_OFFSET = 6.0  # out of region: points on [4, 8]^2, far from the terrain bump


def _test_sets(table: str, num_tasks: int):
    """(in-region, out-of-region) test tasks of a table."""
    if table == "terrain":
        from lps.np.terrain import terrain_split

        return terrain_split(num_tasks), terrain_split(num_tasks, offset=TERRAIN_OFFSET)
    from lps.np.gp import fixed_split
    from lps.np.train import OUT_OF_REGION_SHIFT

    test = fixed_split("test", num_tasks)
    return test, test.shifted(OUT_OF_REGION_SHIFT)


def _key(run: dict) -> str:
    args = ",".join(f"{k}={v}" for k, v in sorted(run["args"].items()))
    return f"{run['model']}[{args}] {run['steps']}x{run.get('batch', 16)} seed {run['seed']}"


def _job(spec: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from lps.np.train import TrainSettings, evaluate, train_np
    from lps.relax import departure, forced

    sizes = CONV_SIZES if spec["model"].startswith("conv") else TNP_SIZES
    settings = TrainSettings(
        steps=spec["steps"], batch=spec["batch"], lr=spec["lr"], seed=spec["seed"]
    )
    extra = {}
    if spec.get("pool"):
        from lps.np.train import TaskPool

        extra = {"sample": TaskPool(spec["pool"])}
    if spec.get("table") == "terrain":
        from lps.np.terrain import build_terrain, sample_terrain_tasks

        extra = {"sample": sample_terrain_tasks, "build": build_terrain}
    model, log = train_np(spec["model"], settings, **extra, **sizes, **spec["args"])
    test, shifted = _test_sets(spec.get("table", "main"), spec["test_tasks"])
    out = dict(spec, **log)
    out["id"] = float(evaluate(model, test).mean())
    out["ood"] = float(evaluate(model, shifted).mean())
    if spec["model"].endswith("_fixed") and spec["args"].get("fixed_count", 1) > 0:
        with forced(model, False):
            out["id_fixed_off"] = float(evaluate(model, test).mean())
        ex = test.slice(0, 8)
        dep = departure(
            model,
            {"xc": ex.xc, "yc": ex.yc, "xt": ex.xt},
            ex.mask,
            group=f"T({ex.xc.shape[-1]})",
            inputs={"xc": "position", "yc": "node", "xt": "position"},
            outputs={"mean": "node", "std": "node"},
        )
        out["departure_on"], out["departure_off"] = dep["on"], dep["off"]
    print(
        f"done {_key(out)}: id {out['id']:.3f} ood {out['ood']:.3f} ({out['seconds']:.0f} s)",
        flush=True,
    )
    return out


def _stat(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def _label(run: dict) -> str:
    a = run["args"]
    if not a:
        return run["model"]
    return f"{run['model']} (m={a['fixed_count']}, p={a['p_drop']})"


def report(runs: list[dict], ceiling: float, header: str, ceiling_ood: float) -> str:
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in runs:
        groups.setdefault((_label(r), r["steps"] * r.get("batch", 16)), []).append(r)
    lines = [
        header,
        "",
        "| model | seeds | test LL in region | gap to ceiling | LL off-region | "
        "in region, fixed inputs off | departure on / off | train tasks | train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (label, tasks), rs in groups.items():
        ids = [r["id"] for r in rs]
        gap = ceiling - statistics.mean(ids)
        off = [r["id_fixed_off"] for r in rs if "id_fixed_off" in r]
        dep = [(r["departure_on"], r["departure_off"]) for r in rs if "departure_on" in r]
        dep_s = f"{max(d[0] for d in dep):.1e} / {max(d[1] for d in dep):.1e}" if dep else "-"
        secs = statistics.mean(r["seconds"] for r in rs)
        lines.append(
            f"| {label} | {len(rs)} | {_stat(ids)} | {gap:.3f} | {_stat([r['ood'] for r in rs])} "
            f"| {_stat(off)} | {dep_s} | {tasks:,} | {secs:.0f} |"
        )
    lines.append(
        f"| exact GP predictive (ceiling) | - | {ceiling:.3f} | 0 | {ceiling_ood:.3f} "
        "| - | - | - | - |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--table", choices=("main", "ablation", "terrain"), default="main")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--test-tasks", type=int, default=4096)
    ap.add_argument(
        "--pool", nargs="*", help="training tasks drawn ahead (files of lps.np.train.save_pool)"
    )
    ap.add_argument(
        "--pool-seeds",
        type=int,
        nargs="*",
        help="draw the pool here: one file of --pool-size tasks per seed, cached in --pool-dir",
    )
    ap.add_argument("--pool-size", type=int, default=65536)
    ap.add_argument("--pool-dir", default="~/.cache/lps/np_pools")
    ap.add_argument("--models", nargs="*", help="only these model names")
    ap.add_argument("--merge", nargs="*", default=[], help="add the runs of these OUT.json files")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="docs/np_main")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from lps.io import atomic_write_json, atomic_write_text
    from lps.np.gp import gp_loglik
    from lps.np.terrain import terrain_loglik

    if args.pool_seeds:
        from lps.np.train import cached_pool

        drawn = [str(cached_pool(args.pool_dir, args.pool_size, s)) for s in args.pool_seeds]
        args.pool = (args.pool or []) + drawn
    out = Path(args.out)
    path = out.with_suffix(".json")
    done = json.loads(path.read_text()) if path.exists() else {"runs": []}
    have = {_key(r) for r in done["runs"]}
    for other in args.merge:
        part = json.loads(Path(other).read_text())
        if "ceiling" not in done and part.get("test_tasks") == args.test_tasks:
            done.update({k: part[k] for k in ("ceiling", "ceiling_ood", "test_tasks")})
        for run in part["runs"]:
            if _key(run) not in have:
                done["runs"].append(run)
                have.add(_key(run))
    chosen = {"main": MAIN, "ablation": ABLATION, "terrain": TERRAIN}[args.table]
    specs = [
        {
            "model": m,
            "args": a,
            "seed": s,
            "steps": args.steps,
            "batch": args.batch,
            "lr": args.lr,
            "pool": args.pool,
            "test_tasks": args.test_tasks,
            "table": args.table,
        }
        for s in args.seeds
        for m, a in chosen
        if not args.models or m in args.models
    ]
    specs = [s for s in specs if _key(s) not in have]
    if "ceiling" not in done or done.get("test_tasks") != args.test_tasks:
        ceiling = terrain_loglik if args.table == "terrain" else gp_loglik
        test, shifted = _test_sets(args.table, args.test_tasks)
        done["ceiling"] = float(ceiling(test).mean())
        done["ceiling_ood"] = float(ceiling(shifted).mean())
        done["test_tasks"] = args.test_tasks
    with ProcessPoolExecutor(args.jobs) as pool:
        for run in pool.map(_job, specs):
            done["runs"].append(run)
            atomic_write_json(path, done)
    atomic_write_json(path, done)
    header = (
        f"{args.table}: batches of {args.batch} training tasks (Adam, lr {args.lr}, cosine "
        f"to 0), {'from a pre-drawn pool' if args.pool else 'fresh'}, "
        f"{done['test_tasks']} test tasks; log-likelihood per target (nats), mean ± std over seeds"
    )
    ceiling_ood = done.get("ceiling_ood", done["ceiling"])
    atomic_write_text(
        out.with_suffix(".md"), report(done["runs"], done["ceiling"], header, ceiling_ood)
    )
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
