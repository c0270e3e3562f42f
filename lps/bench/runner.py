"""The runner of ``lps bench``: presets, every case, graph breaks, the sampler curve, output."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from lps.bench.cases import bench_case
from lps.bench.curve import sampler_curve
from lps.bench.measure import count_graph_breaks
from lps.bench.models import build_base, build_model, make_inputs
from lps.bench.report import plot, summarize, write_json
from lps.bench.settings import BASES, PRESETS, SAMPLERS, SN_SAMPLER


def device_info(device: torch.device) -> dict[str, Any]:
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
    preset: str | None = None,
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

    Defaults come from :data:`PRESETS` (``preset``, else ``quick``, else ``cpu`` or ``cuda``
    by device; the ``gpu`` preset is :func:`lps.bench.gpu.run_gpu_bench`);
    ``compile`` defaults to True on CUDA only (inductor on CPU compiles C++ for minutes).
    ``relax_band`` gives the learned samplers a banded relaxation; the sampler curve then
    shows the dense and the banded one.
    """
    if relax_band is not None and relax_band < 0:
        raise ValueError(f"bench: relax_band must be >= 0, got {relax_band}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    name = preset or ("quick" if quick else ("cuda" if dev.type == "cuda" else "cpu"))
    if name not in PRESETS:
        raise ValueError(f"bench: unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    chosen = PRESETS[name]
    bases = tuple(bases or chosen["bases"])
    for name in bases:
        if name not in BASES:
            raise ValueError(f"bench: unknown base {name!r}; expected one of {', '.join(BASES)}")
    for name in samplers:
        if name not in SAMPLERS:
            raise ValueError(f"bench: unknown sampler {name!r}; expected {', '.join(SAMPLERS)}")
    sizes, ks = tuple(sizes or chosen["sizes"]), tuple(ks or chosen["ks"])
    batch, repeats = batch or chosen["batch"], repeats or chosen["repeats"]
    curve = tuple(curve if curve is not None else chosen["curve"])
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
        data = make_inputs(base_name, 2, n, degree, gen, dev)
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
        "device": device_info(dev),
        "wall_s": time.perf_counter() - start,
        "rows": rows,
        "graph_breaks": breaks,
        "sampler_curve": curve_rows,
        "summary": summarize(rows),
    }
    out = Path(out)
    write_json(out, result)
    plot(result, out.with_suffix(".png"))
    return result
