"""The ``lps`` command: train, evaluate, check, bench.

lps train [CONFIG] [key=value ...] [--resume]
lps evaluate RUN_DIR [key=value ...]
lps check [--json]
lps bench [--quick | --preset P] [--budget-s S] [--device D] [--bases ...] [--sizes ...]
          [--ks ...] [--band W] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _train(args: argparse.Namespace) -> int:
    from lps.train.config import load_config
    from lps.train.loop import train

    cfg = load_config(args.config, args.overrides)
    train(cfg, resume=args.resume)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from lps.train.evaluate import evaluate_run

    metrics = evaluate_run(Path(args.run_dir), args.overrides, args.checkpoint)
    print(json.dumps(metrics, indent=2))
    return 0


def _check(args: argparse.Namespace) -> int:
    from lps.testing import audit, audit_json, audit_table

    rows = audit(n_samples=args.n_samples, seed=args.seed)
    if args.json:
        print(json.dumps(audit_json(rows), indent=2))
    else:
        print(audit_table(rows))
        failed = sum(not r.ok for r in rows)
        print(
            f"{len(rows) - failed} of {len(rows)} group x sampler rows equivariant "
            "to tolerance (coupled noise)"
        )
    return 0 if all(r.ok for r in rows) else 1


def _bench(args: argparse.Namespace) -> int:
    from lps.bench import markdown_tables, run_bench

    def ints(text: str | None) -> tuple[int, ...] | None:
        if text is None:
            return None
        try:
            return tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise ValueError(f"expected a comma list of integers, got {text!r}") from None

    def names(text: str | None) -> tuple[str, ...] | None:
        return None if text is None else tuple(v.strip() for v in text.split(","))

    preset = "quick" if args.quick else args.preset
    try:
        if preset == "gpu":
            return _bench_gpu(args, ints, names)
        out = "runs/bench.json" if args.out is None else args.out
        result = run_bench(
            out,
            quick=args.quick,
            preset=preset,
            device=args.device,
            bases=names(args.bases),
            sizes=ints(args.sizes),
            ks=ints(args.ks),
            samplers=names(args.samplers) or ("learned", "haar", "frame", "canonical"),
            batch=args.batch,
            repeats=args.repeats,
            compile=args.compile,
            curve=ints(args.curve),
            relax_band=args.band,
            progress=lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True),
        )
    except ValueError as err:
        print(f"lps bench: {err}", file=sys.stderr)
        return 2
    print(markdown_tables(result))
    print(f"\nwrote {out} and {Path(out).with_suffix('.png')}")
    return 0


def _bench_gpu(args: argparse.Namespace, ints, names) -> int:
    from lps.bench.gpu import run_gpu_bench
    from lps.bench.report import gpu_tables, markdown_tables

    over: dict = {}
    if args.bases:
        over["vit"] = names(args.bases)[0]
    if args.sizes:
        sizes = ints(args.sizes)
        over["n"], over["n_memory"] = sizes[0], sizes[-1]
    if args.ks:
        ks = ints(args.ks)
        over["k_eval"], over["k_train"] = max(ks), min(ks)
    if args.samplers:
        over["samplers"] = names(args.samplers)
    for key in ("batch", "repeats"):
        if getattr(args, key) is not None:
            over[key] = getattr(args, key)
    if args.curve is not None:
        over["curve"] = ints(args.curve)
    if args.train_configs is not None:
        over["train_configs"] = tuple(v for v in names(args.train_configs) if v)
    if args.train_steps is not None:
        over["train_steps"] = ints(args.train_steps)
    if args.train_overrides:
        over["train_overrides"] = tuple(args.train_overrides)
    out = "runs/bench_gpu.json" if args.out is None else args.out
    result = run_gpu_bench(
        out,
        device=args.device,
        budget_s=args.budget_s,
        compile=args.compile,
        progress=lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True),
        **over,
    )
    print(markdown_tables(result))
    print(gpu_tables(result))
    print(f"\nwrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lps", description="Learned probabilistic symmetrization: train, evaluate, check."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train and evaluate an experiment from a YAML config")
    p.add_argument(
        "config",
        nargs="?",
        default=None,
        help="YAML config (default: the packaged EXP-classify MLP-PS config); "
        "a bare name like exp_classify.yaml is looked up in lps/configs",
    )
    p.add_argument(
        "overrides", nargs="*", help="dotted key=value overrides, e.g. trainer.max_steps=10"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in run_dir from its last checkpoint"
    )
    p.set_defaults(func=_train)
    p = sub.add_parser("evaluate", help="evaluate the best (or a given) checkpoint of a run")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", help="e.g. symmetry.n_samples_eval=100 eval.seeds=5")
    p.add_argument(
        "--checkpoint", default=None, help="checkpoint folder (default: best, else latest)"
    )
    p.set_defaults(func=_evaluate)
    p = sub.add_parser("check", help="equivariance audit of every group x sampler")
    p.add_argument("--json", action="store_true", help="print rows as JSON")
    p.add_argument("--n-samples", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_check)
    p = sub.add_parser("bench", help="throughput of symmetrized vs base models (writes JSON)")
    p.add_argument(
        "--out", default=None, help="JSON path (default runs/bench.json; gpu: runs/bench_gpu.json)"
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes only (seconds, CPU)")
    p.add_argument(
        "--preset",
        choices=("quick", "cpu", "cuda", "gpu"),
        default=None,
        help="settings (default: cpu or cuda by device); gpu: every GPU figure of "
        "docs/benchmarks.md in one budgeted run (ViT-B at N = 188 and 444, compile, the "
        "sampler curve, training steps/s of the n-body and PATTERN configs)",
    )
    p.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="gpu preset: wall-clock budget in seconds (default 420); tasks that do not fit "
        "are skipped and recorded",
    )
    p.add_argument(
        "--train-configs", default=None, help="gpu preset: comma list of configs to train"
    )
    p.add_argument(
        "--train-steps", default=None, help="gpu preset: trainer.max_steps of each run, e.g. 30,300"
    )
    p.add_argument(
        "--train-override",
        dest="train_overrides",
        action="append",
        default=None,
        help="gpu preset: key=value for every training config (repeatable)",
    )
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--bases", default=None, help="comma list of mlp, vit_s, vit_b, nbody")
    p.add_argument("--sizes", default=None, help="comma list of N, e.g. 32,64,188,444")
    p.add_argument("--ks", default=None, help="comma list of k, e.g. 1,10")
    p.add_argument("--samplers", default=None, help="comma list of learned, haar, frame, canonical")
    p.add_argument("--batch", type=int, default=None, help="graphs per batch (B)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per measurement")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time torch.compile (default: on CUDA only)",
    )
    p.add_argument("--curve", default=None, help="N values of the sampler cost curve ('' = none)")
    p.add_argument(
        "--band",
        type=int,
        default=None,
        help="banded S_n relaxation of half-width W for the learned samplers "
        "(the sampler curve then shows dense and banded)",
    )
    p.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None) and "=" in args.config:
        args.overrides.insert(0, args.config)  # `lps train key=value` without a config path
        args.config = None
    if getattr(args, "config", None) and not Path(args.config).exists() and "/" not in args.config:
        from lps.train.config import packaged_config

        args.config = str(packaged_config(args.config))
    from lps.train.checkpoint import RunDirError
    from lps.train.config import ConfigError

    try:
        return args.func(args)
    except (ConfigError, RunDirError) as err:
        print(f"lps {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
