"""Evaluation of a model on whole splits: metrics gathered across processes, repeated over
sampling seeds, and the equivariance error of the trained model."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch
from accelerate import Accelerator

from lps.train.tasks import Task

__all__ = [
    "device_info",
    "evaluate",
    "split_metrics",
    "summary_line",
    "symmetrized_equivariance_report",
]


@torch.no_grad()
def evaluate(
    accelerator: Accelerator, model, loader, task: Task, n_samples: int, seed: int
) -> dict[str, float]:
    """Metrics of ``model`` on a whole split (gathered across processes), k = ``n_samples``.

    The sampling noise of each batch is seeded with ``seed`` plus the batch's *global*
    index (accelerate hands process p the batches p, p + P, ...), so every example gets the
    same noise whatever the number of processes, and the metrics of a P-process evaluation
    equal those of one process. The RNG is forked: training streams are not disturbed.
    """
    was_training = model.training
    model.eval()
    preds, targets = [], []
    devices = [accelerator.device] if accelerator.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        for j, batch in enumerate(loader):
            torch.manual_seed(seed + j * accelerator.num_processes + accelerator.process_index)
            out = task.forward(model, batch, n_samples=n_samples)
            p, t = accelerator.gather_for_metrics((out.prediction.float(), task.targets(batch)))
            preds.append(p.cpu())
            targets.append(t.cpu())
    model.train(was_training)
    return task.metrics(torch.cat(preds), torch.cat(targets))


def split_metrics(accelerator, cfg, task, model, loaders: dict[str, Any]) -> dict[str, Any]:
    """Mean, std and values of every metric over ``cfg.eval.seeds`` sampling seeds per split,
    plus the equivariance error on the test split. k is ``eval.n_samples`` when set (periodic
    validation during training keeps the cheaper ``symmetry.n_samples_eval``)."""
    k = cfg.eval.n_samples or cfg.symmetry.n_samples_eval
    results: dict[str, Any] = {}
    for split, loader in loaders.items():
        runs = [
            evaluate(accelerator, model, loader, task, k, seed=10_000 + 100_003 * s)
            for s in range(cfg.eval.seeds)
        ]
        results[split] = {
            name: {
                "mean": float(torch.tensor([r[name] for r in runs]).mean()),
                "std": float(torch.tensor([r[name] for r in runs]).std(unbiased=False)),
                "values": [r[name] for r in runs],
            }
            for name in runs[0]
        }
    results["equivariance"] = task.equivariance_report(accelerator, model, loaders["test"], cfg)
    results["eval_n_samples"] = k
    results["device"] = device_info(accelerator)
    return results


def summary_line(task: Task, cfg, results: dict[str, Any]) -> str:
    p, eq = results["test"][task.primary], results["equivariance"]
    k = results["eval_n_samples"]
    line = f"test {task.primary}: {p['mean']:.4f} +- {p['std']:.4f} over {cfg.eval.seeds} seeds"
    if "coupled_noise" in eq:
        return (
            f"{line} (k={k}); equivariance error: coupled-noise {eq['coupled_noise']:.2e}, "
            f"Monte-Carlo k={k} {eq['monte_carlo']:.2e}"
        )
    errors = ", ".join(f"{name} {v:.2e}" for name, v in eq.items() if isinstance(v, float))
    return f"{line}; equivariance error: {errors}" if errors else line


def symmetrized_equivariance_report(
    accelerator, model, loader, task: Task, cfg
) -> dict[str, float]:
    """Relative equivariance error of a trained symmetrized model on test batches (eval mode):
    with the sampler's noise coupled across the transformed inputs, and Monte-Carlo."""
    from lps.testing import equivariance_error

    net = accelerator.unwrap_model(model)
    net.eval()
    coupled, mc = 0.0, 0.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.trainer.seed)
        for i, batch in enumerate(loader):
            if i >= cfg.eval.equivariance_batches:
                break
            inputs = task.inputs(batch)
            mask, edge_index = inputs.pop("mask", None), inputs.pop("edge_index", None)
            coupled = max(
                coupled, equivariance_error(net, inputs, mask, edge_index, True, n_trials=2)
            )
            mc = max(mc, equivariance_error(net, inputs, mask, edge_index, False, n_trials=2))
    return {
        "coupled_noise": coupled,
        "monte_carlo": mc,
        "monte_carlo_n_samples": cfg.symmetry.n_samples_eval,
    }


def device_info(accelerator: Accelerator) -> dict[str, Any]:
    dev = accelerator.device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    return {
        "type": dev.type,
        "name": name,
        "num_processes": accelerator.num_processes,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "mixed_precision": accelerator.mixed_precision,
    }
