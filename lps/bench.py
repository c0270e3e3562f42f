"""``lps bench``: what symmetrization costs on top of the base model, measured side by side.

For every base model (``mlp``, ``vit_s``, ``vit_b`` graph models with node outputs; the
``nbody`` point transformer), graph size N, sample count k, sampler and mode (eager or
``torch.compile``), one run measures:

- eval throughput (inputs per second) of the base model alone on the same ``B * k`` copies,
  and of the symmetrized model; their ratio is what symmetrization leaves of the base speed;
- a training step (forward, backward, AdamW) of both, at the same k;
- the time of the sampler alone and of the group actions alone (canonicalizing the inputs,
  mapping the outputs back), as shares of the symmetrized eval time;
- on CUDA, the peak memory of both training steps (the difference is the sampler's and the
  group actions' memory); on every device, eagerly, the bytes autograd keeps for the
  backward pass of both (activation memory);
- the graph breaks ``torch._dynamo.explain`` finds in the whole wrapper;
- the learned sampler alone over a range of N at a fixed mean degree (its cost curve), with
  the dense relaxation and, when ``relax_band`` is given, the banded one.

On CUDA the models run under bf16 autocast. Results go to JSON (device, versions and
settings included) and a PNG plot beside it. Graphs are random, with sizes uniform in
[N/2, N] and mean degree ``degree``; their ``edge_index`` is built once outside the timed
region, as a data loader would.
"""

from __future__ import annotations

import contextlib
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from lps.samplers import repeat_rows
from lps.symmetrize import Symmetrized, symmetrize

SAMPLERS = ("learned", "haar", "frame", "canonical")
GRAPH_BASES = ("mlp", "vit_s", "vit_b")
BASES = (*GRAPH_BASES, "nbody")
VIT_NAMES = {"vit_s": "vit_small_patch16_224", "vit_b": "vit_base_patch16_224"}
NBODY_PARTICLES = 5

#: The learned S_n sampler as in the PATTERN configs.
SN_SAMPLER = dict(hidden=64, layers=3, walk_steps=16, tau=0.01, sinkhorn_iters=10)

PRESETS: dict[str, dict[str, Any]] = {
    "quick": dict(
        bases=("mlp", "nbody"), sizes=(16, 32), ks=(1, 4), batch=4, repeats=2, curve=(16, 32)
    ),
    "cpu": dict(
        bases=("mlp", "vit_s", "nbody"),
        sizes=(32, 64),
        ks=(1, 10),
        batch=8,
        repeats=3,
        curve=(32, 64, 128, 188),
    ),
    "cuda": dict(
        bases=("vit_s", "vit_b", "nbody"),
        sizes=(32, 64, 188, 444),
        ks=(1, 10),
        batch=32,
        repeats=10,
        curve=(32, 64, 128, 188, 256, 444),
    ),
}


# --------------------------------------------------------------------------- inputs


def random_graphs(
    batch: int, n: int, degree: float, node_dim: int, gen: torch.Generator
) -> dict[str, Tensor]:
    """Padded random graphs: ``x`` (B, N, node_dim), ``adj`` (B, N, N, 1), ``mask`` (B, N) and
    ``edge_index`` (2, E) in the flat layout ``b * N + i``. Sizes are uniform in [N/2, N]."""
    sizes = torch.randint(max(n // 2, 1), n + 1, (batch,), generator=gen)
    mask = torch.arange(n)[None] < sizes[:, None]
    p = (degree / (sizes.float() - 1).clamp_min(1)).clamp(max=1.0)[:, None, None]
    adj = torch.triu((torch.rand(batch, n, n, generator=gen) < p).float(), 1)
    adj = (adj + adj.transpose(1, 2)) * mask[:, :, None] * mask[:, None, :]
    b, i, j = adj.nonzero(as_tuple=True)
    x = torch.randn(batch, n, node_dim, generator=gen) * mask[..., None]
    return {
        "x": x,
        "adj": adj.unsqueeze(-1),
        "mask": mask,
        "edge_index": torch.stack([b * n + i, b * n + j]),
    }


def random_particles(batch: int, gen: torch.Generator) -> dict[str, Tensor]:
    """Inputs of the n-body model: positions, velocities, charges and the charge products."""
    q = torch.randint(0, 2, (batch, NBODY_PARTICLES, 1), generator=gen).float() * 2 - 1
    return {
        "pos": torch.randn(batch, NBODY_PARTICLES, 3, generator=gen),
        "vel": torch.randn(batch, NBODY_PARTICLES, 1, 3, generator=gen) * 0.5,
        "charges": q,
        "edge_attr": (q * q.transpose(1, 2)).unsqueeze(-1),
    }


# --------------------------------------------------------------------------- models


def build_base(name: str, n: int) -> nn.Module:
    """The base model ``name`` for graphs of at most ``n`` nodes (node outputs, 2 classes)."""
    if name == "mlp":
        from lps.backbones import FlatMLP

        return FlatMLP({"x": (n, 3), "adj": (n, n, 1)}, (n, 2), hidden=256)
    if name in VIT_NAMES:
        from lps.backbones.vit import GraphViT

        return GraphViT(3, 1, n, node_out=2, model_name=VIT_NAMES[name], patch_size=16)
    if name == "nbody":
        from lps.backbones.transformer import PointTransformer

        return PointTransformer(max_nodes=NBODY_PARTICLES, hidden=64, layers=4, heads=4)
    raise ValueError(f"bench: unknown base {name!r}; expected one of {', '.join(BASES)}")


def build_model(
    base_name: str, base: nn.Module, sampler: str, k: int, relax_band: int | None = None
) -> Symmetrized:
    """``base`` symmetrized with ``sampler`` at k samples in training and eval."""
    learned = sampler in ("learned", "canonical")
    if base_name == "nbody":
        from lps.train.nbody_task import NBODY_INPUTS

        kw = dict(scalar_dim=1, vector_dim=1, pair_dim=1) if learned else {}
        return symmetrize(
            base, "S_n x E(3)", NBODY_INPUTS, "position", sampler,
            sampler_args=kw, n_samples=k, n_samples_eval=k, validate=False,
        )  # fmt: skip
    kw = dict(in_dim=3, relax_band=relax_band, **SN_SAMPLER) if learned else {}
    inputs = {"x": "node", "adj": "pair"}
    return symmetrize(
        base, "S_n", inputs, "node", sampler,
        sampler_args=kw, n_samples=k, n_samples_eval=k, validate=False,
    )  # fmt: skip


# --------------------------------------------------------------------------- timing


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int = 2) -> float:
    """Median seconds per call of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def peak_memory(fn: Callable[[], Any], device: torch.device) -> int | None:
    """Peak bytes allocated on CUDA during ``fn`` above what was allocated before (None on CPU)."""
    if device.type != "cuda":
        return None
    _sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    _sync(device)
    return torch.cuda.max_memory_allocated(device) - before


def saved_for_backward(fn: Callable[[], Any]) -> int:
    """Bytes of the tensors autograd keeps for the backward pass during ``fn()`` (any device;
    a tensor saved twice counts twice)."""
    total = 0

    def pack(t: Tensor) -> Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _loss(out: Any) -> Tensor:
    pred = out.prediction if hasattr(out, "prediction") else out
    loss = pred.float().square().mean()
    return loss + out.aux_loss if hasattr(out, "aux_loss") else loss


def _train_step(model: nn.Module, call: Callable[[], Any], device: torch.device):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)

    def step() -> None:
        with _autocast(device):
            loss = _loss(call())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _saved_in_training(call: Callable[[], Any], device: torch.device) -> int:
    """Bytes autograd keeps for the backward pass of one training forward pass."""

    def forward() -> None:
        with _autocast(device):
            call()

    return saved_for_backward(forward)


def _eval_call(call: Callable[[], Any], device: torch.device) -> Callable[[], Any]:
    def run() -> Any:
        with torch.no_grad(), _autocast(device):
            return call()

    return run


def count_graph_breaks(model: Symmetrized, fields: dict[str, Tensor]) -> dict[str, Any]:
    """Graphs and graph breaks ``torch._dynamo.explain`` finds in one eval call of ``model``."""
    import torch._dynamo

    torch._dynamo.reset()
    try:
        with torch.no_grad():
            report = torch._dynamo.explain(model)(**fields)
    except Exception as err:  # report it in the JSON rather than lose the whole benchmark
        return {"error": f"{type(err).__name__}: {err}"}
    finally:
        torch._dynamo.reset()
    return {
        "graphs": report.graph_count,
        "graph_breaks": report.graph_break_count,
        "reasons": [str(r.reason) for r in report.break_reasons],
    }


# --------------------------------------------------------------------------- one case


def _inputs(base_name: str, batch: int, n: int, degree: float, gen, device) -> dict[str, Tensor]:
    if base_name == "nbody":
        data = random_particles(batch, gen)
    else:
        data = random_graphs(batch, n, degree, 3, gen)
    return {key: v.to(device) for key, v in data.items()}


def _canonical_copies(model: Symmetrized, data: dict[str, Tensor], k: int, g=None) -> dict:
    """The base model's keyword inputs for ``B * k`` copies, canonicalized by the elements
    ``g`` (batch ``B * k``; default: one draw of the model's sampler)."""
    fields = {n: data[n] for n in model.input_types}
    mask = data.get("mask")
    with torch.no_grad():
        if g is None:
            g = model.sampler(fields, model.input_types, mask, k, None, data.get("edge_index"))
            g = g.element
        out = {
            name: model.group.act(g, repeat_rows(x, k), model.input_types[name], inverse=True)
            for name, x in fields.items()
        }
    if model.pass_mask:
        out["mask"] = None if mask is None else repeat_rows(mask, k)
    return out


def _components(model: Symmetrized, data, k: int, device, repeats: int) -> dict[str, float]:
    """Eval seconds of the sampler alone and of the group actions alone."""
    fields = {n: data[n] for n in model.input_types}
    mask, edge_index = data.get("mask"), data.get("edge_index")
    types = model.input_types

    def sampler() -> Any:
        return model.sampler(fields, types, mask, k, None, edge_index)

    with torch.no_grad(), _autocast(device):
        g = sampler().element
        raw = model._as_dict(model.base_model(**_canonical_copies(model, data, k, g)))

    def actions() -> None:
        for name, x in fields.items():
            model.group.act(g, repeat_rows(x, k), types[name], inverse=True)
        for name, ftype in model.output_types.items():
            model.group.act(g, raw[name], ftype)

    return {
        "sampler_s": time_call(_eval_call(sampler, device), device, repeats),
        "actions_s": time_call(_eval_call(actions, device), device, repeats),
    }


def bench_case(
    base_name: str,
    n: int,
    k: int,
    samplers: tuple[str, ...],
    batch: int,
    repeats: int,
    device: torch.device,
    compiled: bool,
    degree: float,
    seed: int = 0,
    relax_band: int | None = None,
) -> list[dict[str, Any]]:
    """Rows for one (base, N, k, mode): the base alone, then each sampler."""
    gen = torch.Generator().manual_seed(seed)
    data = _inputs(base_name, batch, n, degree, gen, device)
    torch.manual_seed(seed)
    base = build_base(base_name, n).to(device)
    wrap = torch.compile if compiled else (lambda m: m)
    mode = "compile" if compiled else "eager"
    common = {"base": base_name, "n": n if base_name != "nbody" else NBODY_PARTICLES, "k": k}
    common.update(mode=mode, batch=batch)

    # The base model alone on B * k canonical copies (identical tensors for every sampler).
    ref = build_model(base_name, base, "haar", k).to(device)
    copies = _canonical_copies(ref, data, k)
    base_fn = wrap(base)
    base.eval()
    t_eval = time_call(_eval_call(lambda: base_fn(**copies), device), device, repeats)
    base.train()
    base_step = _train_step(base, lambda: base_fn(**copies), device)
    t_train = time_call(base_step, device, repeats)
    mem_train = peak_memory(base_step, device)
    # Activation memory (kept for backward) is counted with autograd hooks, eagerly, so it is
    # reported on every device.
    saved_base = None if compiled else _saved_in_training(lambda: base(**copies), device)
    rows = [
        {
            **common,
            "sampler": "base",
            "eval_s": t_eval,
            "eval_per_s": batch / t_eval,
            "train_s": t_train,
            "train_per_s": batch / t_train,
            "train_peak_bytes": mem_train,
            "saved_for_backward_bytes": saved_base,
        }
    ]
    for name in samplers:
        model = build_model(base_name, base, name, k, relax_band).to(device)
        if model.sampler.deterministic and k > 1:
            continue  # canonicalization always uses one sample: same as its k = 1 row
        wanted = (*model.input_types, "mask", "edge_index")
        call_fields = {key: v for key, v in data.items() if key in wanted}
        fn = wrap(model)
        model.eval()
        t_sym = time_call(_eval_call(lambda: fn(**call_fields), device), device, repeats)  # noqa: B023
        # Shares are timed eagerly, so they are reported for eager rows only.
        parts = {} if compiled else _components(model, data, k, device, repeats)
        model.train()
        step = _train_step(model, lambda: fn(**call_fields), device)  # noqa: B023
        t_sym_train = time_call(step, device, repeats)
        mem = peak_memory(step, device)
        row = {
            **common,
            "sampler": name,
            "eval_s": t_sym,
            "eval_per_s": batch / t_sym,
            "eval_ratio": t_eval / t_sym,
            "train_s": t_sym_train,
            "train_per_s": batch / t_sym_train,
            "train_ratio": t_train / t_sym_train,
            "train_peak_bytes": mem,
            **parts,
        }
        if parts:
            row["sampler_share"] = parts["sampler_s"] / t_sym
            row["actions_share"] = parts["actions_s"] / t_sym
        if mem is not None and mem_train:
            row["extra_memory_share"] = (mem - mem_train) / mem_train
        if saved_base:
            saved = _saved_in_training(lambda: model(**call_fields), device)  # noqa: B023
            row["saved_for_backward_bytes"] = saved
            row["extra_saved_share"] = (saved - saved_base) / saved_base
        rows.append(row)
    return rows


def sampler_curve(
    sizes: tuple[int, ...],
    k: int,
    batch: int,
    degree: float,
    repeats: int,
    device,
    bands: tuple[int | None, ...] = (None,),
) -> list[dict[str, Any]]:
    """Eval and training-step seconds of the learned S_n sampler alone over N, per relaxation
    band (None: dense). The training step also canonicalizes the node features and the
    adjacency with the sampled elements (straight-through) and back-propagates a random
    linear loss through them, since the band changes the cost of that backward pass too."""
    from lps.fields import parse_field_types
    from lps.groups import get_group
    from lps.samplers import build_sampler
    from lps.samplers.learned import random_walk_features

    types = parse_field_types({"x": "node", "adj": "pair"}, "inputs")
    group = get_group("S_n")
    rows = []
    for n, band in ((n, band) for n in sizes for band in bands):
        gen = torch.Generator().manual_seed(n)
        data = _inputs("mlp", batch, n, degree, gen, device)
        torch.manual_seed(n)
        sampler = build_sampler("learned", group, in_dim=3, relax_band=band, **SN_SAMPLER).to(
            device
        )
        fields = {"x": data["x"], "adj": data["adj"]}
        weights = {
            name: torch.randn(x.repeat_interleave(k, 0).shape, generator=gen).to(device)
            for name, x in fields.items()
        }

        def call() -> Any:
            return sampler(fields, types, data["mask"], k, None, data["edge_index"])  # noqa: B023

        def forward() -> Tensor:
            g, loss = call().element, 0.0
            for name, x in fields.items():  # noqa: B023
                canonical = group.act(g, repeat_rows(x, k), types[name], inverse=True)  # noqa: B023
                loss = loss + (canonical * weights[name]).sum()  # noqa: B023
            return loss

        def step() -> None:
            forward().backward()  # noqa: B023

        adj, dtype = data["adj"][..., 0] != 0, sampler.embed.weight.dtype

        def walk() -> Any:
            return random_walk_features(adj, SN_SAMPLER["walk_steps"], dtype)  # noqa: B023

        mass = None if band is None else _band_mass(sampler, data, types, k, band)
        sampler.eval()
        t_eval = time_call(_eval_call(call, device), device, repeats)
        t_walk = time_call(_eval_call(walk, device), device, repeats)
        sampler.train()
        t_train = time_call(step, device, repeats)
        rows.append(
            {
                "n": n,
                "k": k,
                "relax_band": band,
                "band_mass": mass,
                "edges": int(data["edge_index"].shape[1]),
                "nodes": int(data["mask"].sum()),
                "eval_s": t_eval,
                "walk_features_s": t_walk,
                "train_s": t_train,
                "train_peak_bytes": peak_memory(step, device),
                "saved_for_backward_bytes": saved_for_backward(forward),
            }
        )
    return rows


def _band_mass(sampler, data, types, k: int, band: int) -> float:
    """Share of the dense relaxation's mass within the band, for this sampler's scores."""
    from lps.samplers.relax import band_mass, scores_to_perm

    fields, mask = {"x": data["x"], "adj": data["adj"]}, data["mask"]
    noise = sampler.sample_noise(fields, types, mask, k)
    with torch.no_grad():
        scores = sampler.node_scores(fields, types, mask, k, noise, data["edge_index"])
    rows_mask = repeat_rows(mask, k)
    perm, _ = scores_to_perm(
        scores.requires_grad_(True),
        rows_mask,
        sampler.tau,
        sampler.sinkhorn_iters,
        tiebreak=noise[..., -1],
    )
    return float(band_mass(perm.soft.detach(), perm.index, rows_mask, band))


# --------------------------------------------------------------------------- the run


def _device_info(device: torch.device) -> dict[str, Any]:
    import timm

    info = {
        "type": device.type,
        "name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "autocast": "bf16" if device.type == "cuda" else "none (fp32)",
    }
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
    return info


def run_bench(
    out: str | Path = "runs/bench.json",
    quick: bool = False,
    device: str | None = None,
    bases: tuple[str, ...] | None = None,
    sizes: tuple[int, ...] | None = None,
    ks: tuple[int, ...] | None = None,
    samplers: tuple[str, ...] = SAMPLERS,
    batch: int | None = None,
    repeats: int | None = None,
    compile: bool | None = None,
    degree: float = 8.0,
    curve: tuple[int, ...] | None = None,
    relax_band: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure and write the benchmark; returns the result (``summary`` holds the ratios).

    Defaults come from :data:`PRESETS` (``quick``, else ``cpu`` or ``cuda`` by device);
    ``compile`` defaults to True on CUDA only (inductor on CPU compiles C++ for minutes).
    ``relax_band`` gives the learned samplers a banded relaxation; the sampler curve then
    shows the dense and the banded one.
    """
    if relax_band is not None and relax_band < 0:
        raise ValueError(f"bench: relax_band must be >= 0, got {relax_band}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    preset = PRESETS["quick" if quick else ("cuda" if dev.type == "cuda" else "cpu")]
    bases = tuple(bases or preset["bases"])
    for name in bases:
        if name not in BASES:
            raise ValueError(f"bench: unknown base {name!r}; expected one of {', '.join(BASES)}")
    for name in samplers:
        if name not in SAMPLERS:
            raise ValueError(f"bench: unknown sampler {name!r}; expected {', '.join(SAMPLERS)}")
    sizes, ks = tuple(sizes or preset["sizes"]), tuple(ks or preset["ks"])
    batch, repeats = batch or preset["batch"], repeats or preset["repeats"]
    curve = tuple(curve if curve is not None else preset["curve"])
    compile = dev.type == "cuda" if compile is None else compile
    modes = (False, True) if compile else (False,)
    say = progress or (lambda msg: None)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for base_name in bases:
        for n in sizes if base_name != "nbody" else sizes[:1]:
            for k in ks:
                for compiled in modes:
                    say(f"{base_name} N={n} k={k} {'compile' if compiled else 'eager'}")
                    try:
                        rows += bench_case(
                            base_name,
                            n,
                            k,
                            samplers,
                            batch,
                            repeats,
                            dev,
                            compiled,
                            degree,
                            relax_band=relax_band,
                        )
                    except torch.cuda.OutOfMemoryError:
                        rows.append({"base": base_name, "n": n, "k": k, "error": "out of memory"})
                        torch.cuda.empty_cache()
    breaks = {}
    for base_name in bases:
        n = sizes[0]
        gen = torch.Generator().manual_seed(0)
        data = _inputs(base_name, 2, n, degree, gen, dev)
        for name in samplers:
            model = build_model(base_name, build_base(base_name, n), name, 2, relax_band)
            model = model.to(dev).eval()
            fields = {key: v for key, v in data.items() if key in (*model.input_types, "mask")}
            if "edge_index" in data:
                fields["edge_index"] = data["edge_index"]
            breaks[f"{base_name}/{name}"] = count_graph_breaks(model, fields)
    say("sampler curve")
    bands = (None,) if relax_band is None else (None, relax_band)
    curve_rows = sampler_curve(curve, max(ks), batch, degree, repeats, dev, bands) if curve else []
    result = {
        "settings": {
            "bases": bases,
            "sizes": sizes,
            "ks": ks,
            "samplers": samplers,
            "batch": batch,
            "repeats": repeats,
            "modes": ["compile" if c else "eager" for c in modes],
            "mean_degree": degree,
            "graph_outputs": "node (2 classes); ViTs with patch 16",
            "sn_sampler": {**SN_SAMPLER, "relax_band": relax_band},
            "timing": "median of repeats after 2 warm-up calls",
        },
        "device": _device_info(dev),
        "wall_s": time.perf_counter() - start,
        "rows": rows,
        "graph_breaks": breaks,
        "sampler_curve": curve_rows,
        "summary": summarize(rows),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, out.with_suffix(".png"))
    return result


def summarize(rows: list[dict[str, Any]]) -> dict[str, float]:
    """``base/N/k/mode/sampler -> eval ratio`` (symmetrized / base throughput) per row."""
    return {
        f"{r['base']}/N={r['n']}/k={r['k']}/{r['mode']}/{r['sampler']}": round(r["eval_ratio"], 3)
        for r in rows
        if "eval_ratio" in r
    }


def markdown_tables(result: dict[str, Any]) -> str:
    """The benchmark as markdown: one table per base model and mode, and the sampler curve."""
    lines = []
    rows = [r for r in result["rows"] if "error" not in r]
    for base_name in dict.fromkeys(r["base"] for r in rows):
        for mode in dict.fromkeys(r["mode"] for r in rows):
            sel = [r for r in rows if r["base"] == base_name and r["mode"] == mode]
            if not sel:
                continue
            lines += [
                f"**{base_name}, {mode}**",
                "",
                "| N | k | sampler | eval / s | eval ratio | train / s | train ratio "
                "| sampler share | actions share | extra kept for backward |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            ]
            for r in sel:
                lines.append(
                    f"| {r['n']} | {r['k']} | {r['sampler']} | {r['eval_per_s']:.1f} "
                    f"| {_pct(r, 'eval_ratio')} | {r['train_per_s']:.1f} "
                    f"| {_pct(r, 'train_ratio')} | {_pct(r, 'sampler_share')} "
                    f"| {_pct(r, 'actions_share')} | {_pct(r, 'extra_saved_share')} |"
                )
            lines.append("")
    if result.get("sampler_curve"):
        lines += [
            "**learned S_n sampler alone**",
            "",
            "| N | edges | relaxation | dense mass in band | eval ms "
            "| of which walk features ms | train-step ms | kept for backward MB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in result["sampler_curve"]:
            band = r.get("relax_band")
            mass = "" if r.get("band_mass") is None else f"{100 * r['band_mass']:.0f}%"
            lines.append(
                f"| {r['n']} | {r['edges']} | {'dense' if band is None else f'band {band}'} "
                f"| {mass} "
                f"| {1e3 * r['eval_s']:.1f} "
                f"| {1e3 * r['walk_features_s']:.1f} | {1e3 * r['train_s']:.1f} "
                f"| {r['saved_for_backward_bytes'] / 2**20:.1f} |"
            )
    return "\n".join(lines)


def _pct(row: dict[str, Any], key: str) -> str:
    return f"{100 * row[key]:.0f}%" if key in row else ""


def plot(result: dict[str, Any], path: Path) -> None:
    """Bars of the eval ratio per case and sampler; the sampler's time over N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if "eval_ratio" in r]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1]})
    samplers = list(dict.fromkeys(r["sampler"] for r in rows))
    cases = list(dict.fromkeys((r["base"], r["n"], r["k"], r["mode"]) for r in rows))
    width = 0.8 / max(len(samplers), 1)
    for i, s in enumerate(samplers):
        vals = [
            next((r["eval_ratio"] for r in rows if r["sampler"] == s and _case_key(r) == c), 0.0)
            for c in cases
        ]
        ax.bar([j + i * width for j in range(len(cases))], vals, width, label=s)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(0.9, color="k", lw=0.6, ls="--")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cases))])
    ax.set_xticklabels([f"{b}\nN={n} k={k}\n{m}" for b, n, k, m in cases], fontsize=6)
    ax.set_ylabel("symmetrized / base eval throughput")
    ax.legend(fontsize=7)
    curve = result.get("sampler_curve", [])
    if curve:
        dense = [r for r in curve if r.get("relax_band") is None]
        ns = [r["n"] for r in dense]
        ax2.loglog(ns, [r["eval_s"] for r in dense], "o-", label="eval")
        ax2.loglog(ns, [r["train_s"] for r in dense], "s-", label="train (dense)")
        for band in dict.fromkeys(r.get("relax_band") for r in curve if r.get("relax_band")):
            sel = [r for r in curve if r.get("relax_band") == band]
            ax2.loglog(
                [r["n"] for r in sel],
                [r["train_s"] for r in sel],
                "s:",
                label=f"train (band {band})",
            )
        ax2.loglog(ns, [r["walk_features_s"] for r in dense], "^--", label="walk features (eval)")
        ax2.set_xticks(ns)
        ax2.set_xticklabels([str(n) for n in ns])
        ax2.minorticks_off()
        ax2.set_xlabel("N (max nodes)")
        ax2.set_ylabel("learned sampler seconds")
        ax2.legend(fontsize=7)
    dev = result["device"]
    fig.suptitle(f"lps bench on {dev['name']} ({dev['type']}, torch {dev['torch']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _case_key(r: dict[str, Any]) -> tuple:
    return (r["base"], r["n"], r["k"], r["mode"])
