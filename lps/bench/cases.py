"""One benchmark case: the base model alone and each sampler's symmetrized model on the same
``B * k`` copies, eager or compiled (eval and training step, shares, memory)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from lps.bench.measure import (
    autocast,
    eval_call,
    peak_memory,
    saved_in_training,
    time_call,
    train_step,
)
from lps.bench.models import build_base, build_model, make_inputs
from lps.bench.settings import NBODY_PARTICLES
from lps.samplers import repeat_rows
from lps.symmetrize import Symmetrized


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

    with torch.no_grad(), autocast(device):
        g = sampler().element
        raw = model._as_dict(model.base_model(**_canonical_copies(model, data, k, g)))

    def actions() -> None:
        for name, x in fields.items():
            model.group.act(g, repeat_rows(x, k), types[name], inverse=True)
        for name, ftype in model.output_types.items():
            model.group.act(g, raw[name], ftype)

    return {
        "sampler_s": time_call(eval_call(sampler, device), device, repeats),
        "actions_s": time_call(eval_call(actions, device), device, repeats),
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
    phases: tuple[str, ...] = ("eval", "train"),
) -> list[dict[str, Any]]:
    """Rows for one (base, N, k, mode): the base alone, then each sampler.

    ``phases`` selects what is timed: ``eval`` (throughput, shares), ``train`` (training
    step, its peak memory and activation memory), or both (the default)."""
    do_eval, do_train = "eval" in phases, "train" in phases
    gen = torch.Generator().manual_seed(seed)
    data = make_inputs(base_name, batch, n, degree, gen, device)
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
    base_row: dict[str, Any] = {**common, "sampler": "base"}
    if do_eval:
        base.eval()
        t_eval = time_call(eval_call(lambda: base_fn(**copies), device), device, repeats)
        base_row.update(eval_s=t_eval, eval_per_s=batch / t_eval)
    saved_base = None
    if do_train:
        base.train()
        base_step = train_step(base, lambda: base_fn(**copies), device)
        t_train = time_call(base_step, device, repeats)
        mem_train = peak_memory(base_step, device)
        # Activation memory (kept for backward) is counted with autograd hooks, eagerly, so it
        # is reported on every device.
        saved_base = None if compiled else saved_in_training(lambda: base(**copies), device)
        base_row.update(train_s=t_train, train_per_s=batch / t_train)
        base_row.update(train_peak_bytes=mem_train, saved_for_backward_bytes=saved_base)
    rows = [base_row]
    for name in samplers:
        model = build_model(base_name, base, name, k, relax_band).to(device)
        if model.sampler.deterministic and k > 1:
            continue  # canonicalization always uses one sample: same as its k = 1 row
        wanted = (*model.input_types, "mask", "edge_index")
        call_fields = {key: v for key, v in data.items() if key in wanted}
        fn = wrap(model)
        row: dict[str, Any] = {**common, "sampler": name}
        parts: dict[str, float] = {}
        if do_eval:
            model.eval()
            t_sym = time_call(eval_call(lambda: fn(**call_fields), device), device, repeats)  # noqa: B023
            # Shares are timed eagerly, so they are reported for eager rows only.
            parts = {} if compiled else _components(model, data, k, device, repeats)
            row.update(eval_s=t_sym, eval_per_s=batch / t_sym, eval_ratio=t_eval / t_sym)
        mem = None
        if do_train:
            model.train()
            step = train_step(model, lambda: fn(**call_fields), device)  # noqa: B023
            t_sym_train = time_call(step, device, repeats)
            mem = peak_memory(step, device)
            row.update(train_s=t_sym_train, train_per_s=batch / t_sym_train)
            row.update(train_ratio=t_train / t_sym_train, train_peak_bytes=mem)
        row.update(parts)
        if parts:
            row["sampler_share"] = parts["sampler_s"] / t_sym
            row["actions_share"] = parts["actions_s"] / t_sym
        if mem is not None and mem_train:
            row["extra_memory_share"] = (mem - mem_train) / mem_train
        if saved_base:
            saved = saved_in_training(lambda: model(**call_fields), device)  # noqa: B023
            row["saved_for_backward_bytes"] = saved
            row["extra_saved_share"] = (saved - saved_base) / saved_base
        rows.append(row)
    return rows
