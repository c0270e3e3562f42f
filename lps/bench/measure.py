"""Timing and memory primitives of ``lps bench``: median wall time, CUDA peak memory, the
bytes autograd keeps for backward, graph breaks, and the eval / training-step closures."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from lps.symmetrize import Symmetrized


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


def autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _loss(out: Any) -> Tensor:
    pred = out.prediction if hasattr(out, "prediction") else out
    loss = pred.float().square().mean()
    return loss + out.aux_loss if hasattr(out, "aux_loss") else loss


def train_step(model: nn.Module, call: Callable[[], Any], device: torch.device):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)

    def step() -> None:
        with autocast(device):
            loss = _loss(call())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def saved_in_training(call: Callable[[], Any], device: torch.device) -> int:
    """Bytes autograd keeps for the backward pass of one training forward pass."""

    def forward() -> None:
        with autocast(device):
            call()

    return saved_for_backward(forward)


def eval_call(call: Callable[[], Any], device: torch.device) -> Callable[[], Any]:
    def run() -> Any:
        with torch.no_grad(), autocast(device):
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
