"""The training loop: plain PyTorch plus a handful of accelerate calls.

The same code runs on one CPU or GPU (``lps train``) and on several processes
(``accelerate launch -m lps train ...``). Metrics are computed over whole splits from
predictions gathered across processes; checkpoints are accelerate states written atomically.
"""

from __future__ import annotations

import math
import os
import platform
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
from accelerate.utils import set_seed
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from lps.train.checkpoint import (
    atomic_write_json,
    latest_checkpoint,
    load_checkpoint,
    prepare_run_dir,
    save_checkpoint,
)
from lps.train.config import to_dict
from lps.train.tasks import Task, get_task


class EpochShuffle(Sampler[int]):
    """A shuffling sampler whose order depends only on (seed, epoch), so runs can resume."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=gen).tolist())

    def __len__(self) -> int:
        return self.size


@dataclass
class TrainState:
    """What the loop needs besides the model/optimizer to resume exactly."""

    step: int = 0
    batches_seen: int = 0
    best: float | None = None
    best_step: int = -1

    def state_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


def make_accelerator(cfg: DictConfig, **kwargs: Any) -> Accelerator:
    """The Accelerator for a config. Without CUDA it is put in CPU mode explicitly: only then
    does accelerate start gloo under ``torchrun``/``accelerate launch`` (otherwise every
    process would believe it is alone and they would all write the same run directory)."""
    cpu = cfg.trainer.cpu or not torch.cuda.is_available()
    if not cpu:  # pinned host batches (see pin_memory) are copied without blocking the host
        kwargs.setdefault("dataloader_config", DataLoaderConfiguration(non_blocking=True))
    return Accelerator(cpu=cpu, mixed_precision=cfg.trainer.mixed_precision, **kwargs)


def pin_memory(cfg: DictConfig) -> bool:
    """Pin loader memory when batches go to a GPU (faster, asynchronous host-to-device copies)."""
    return not cfg.trainer.cpu and torch.cuda.is_available()


def default_run_dir(cfg: DictConfig) -> str:
    return str(Path("runs") / f"{cfg.task}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")


def lr_lambda(cfg: DictConfig, scale: int = 1):
    """Warm-up then constant/cosine/linear decay, in scheduler steps (``scale`` per step)."""
    warm = cfg.optim.warmup_steps * scale
    total = max(cfg.trainer.max_steps * scale, 1)
    kind = cfg.optim.schedule

    def f(i: int) -> float:
        if warm and i < warm:
            return (i + 1) / warm
        if kind == "constant":
            return 1.0
        frac = min(max(i - warm, 0) / max(total - warm, 1), 1.0)
        return 0.5 * (1 + math.cos(math.pi * frac)) if kind == "cosine" else 1.0 - frac

    return f


def param_groups(model: torch.nn.Module, task: Task, cfg: DictConfig) -> list[dict[str, Any]]:
    """AdamW groups: pretrained backbone parameters and new ones, each with its lr and decay."""
    o = cfg.optim
    backbone, new = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (backbone if task.is_backbone(name) else new).append(p)
    groups = [{"params": new, "lr": o.lr, "weight_decay": o.weight_decay}]
    if backbone:
        groups.append(
            {
                "params": backbone,
                "lr": o.lr_backbone if o.lr_backbone is not None else o.lr,
                "weight_decay": o.weight_decay_backbone
                if o.weight_decay_backbone is not None
                else o.weight_decay,
            }
        )
    return groups


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
            out = model(**task.inputs(batch), n_samples=n_samples)
            p, t = accelerator.gather_for_metrics((out.prediction.float(), task.targets(batch)))
            preds.append(p.cpu())
            targets.append(t.cpu())
    model.train(was_training)
    return task.metrics(torch.cat(preds), torch.cat(targets))


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v if isinstance(v, (int, float, str, bool)) else str(v)
    return out


def _better(value: float, best: float | None, mode: str) -> bool:
    return best is None or (value > best if mode == "max" else value < best)


def train(cfg: DictConfig, resume: bool = False) -> dict[str, Any]:
    """Train and evaluate one experiment; returns (and writes) the final metrics."""
    if cfg.run_dir is None:
        cfg = OmegaConf.merge(cfg, {"run_dir": default_run_dir(cfg)})
    task = get_task(cfg.task)
    t = cfg.trainer
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    accelerator = make_accelerator(
        cfg,
        gradient_accumulation_steps=t.grad_accum,
        log_with=None if t.tracker == "none" else t.tracker,
        project_dir=str(Path(cfg.run_dir) / "logs"),
        kwargs_handlers=[ddp],
    )
    run_dir = Path(cfg.run_dir)
    if accelerator.is_main_process:
        prepare_run_dir(cfg, resume)
    accelerator.wait_for_everyone()
    set_seed(t.seed, device_specific=True)

    data = task.datasets(cfg)
    collate = task.collate(cfg)
    shuffle = EpochShuffle(len(data["train"]), t.seed)
    # Own generators: a DataLoader without one draws its workers' base seed from the global
    # RNG each time an iterator starts, which would shift the sampler noise after a resume.
    train_loader = DataLoader(
        data["train"],
        cfg.data.batch_size,
        sampler=shuffle,
        collate_fn=collate,
        drop_last=True,
        num_workers=cfg.data.num_workers,
        pin_memory=pin_memory(cfg),
        generator=torch.Generator().manual_seed(t.seed),
    )
    if len(train_loader) == 0:
        raise ValueError(
            f"data.batch_size={cfg.data.batch_size} is larger than the training set "
            f"({len(data['train'])} examples)"
        )
    eval_loaders = {
        split: DataLoader(
            data[split],
            cfg.data.eval_batch_size,
            shuffle=False,
            collate_fn=collate,
            num_workers=cfg.data.num_workers,
            pin_memory=pin_memory(cfg),
            generator=torch.Generator().manual_seed(t.seed),
        )
        for split in ("val", "test")
    }
    model = task.build_model(cfg)
    optimizer = torch.optim.AdamW(param_groups(model, task, cfg))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(cfg, accelerator.num_processes)
    )
    model, optimizer, train_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, scheduler
    )
    val_loader, test_loader = accelerator.prepare(eval_loaders["val"], eval_loaders["test"])
    state = TrainState()
    accelerator.register_for_checkpointing(state)
    if resume and (ckpt := latest_checkpoint(run_dir)) is not None:
        load_checkpoint(accelerator, ckpt)
        accelerator.print(f"resumed from {ckpt} at step {state.step}")
    if accelerator.trackers == [] and t.tracker != "none":
        accelerator.init_trackers(cfg.task, config=_flat(to_dict(cfg)))

    k_eval = cfg.symmetry.n_samples_eval
    bar = tqdm(
        total=t.max_steps,
        initial=state.step,
        desc=f"train {cfg.task}",
        disable=not (t.progress and accelerator.is_local_main_process),
        dynamic_ncols=True,
        mininterval=1.0,
    )
    start, examples, last_loss = time.perf_counter(), 0, float("nan")
    model.train()
    while state.step < t.max_steps:
        epoch, offset = divmod(state.batches_seen, len(train_loader))
        train_loader.set_epoch(epoch)
        loader = accelerator.skip_first_batches(train_loader, offset) if offset else train_loader
        for batch in loader:
            with accelerator.accumulate(model):
                out = model(**task.inputs(batch))
                task_loss = task.loss(out.prediction, batch)
                loss = task_loss + out.aux_loss
                if not bool(torch.isfinite(loss)):
                    path = save_checkpoint(accelerator, run_dir, f"nonfinite-step-{state.step:06d}")
                    raise NonFiniteLossError(
                        f"training loss is {loss.item()} at step {state.step} (task loss "
                        f"{task_loss.item()}); the weights before this step are saved in {path}; "
                        "try a lower optim.lr or trainer.mixed_precision=no"
                    )
                accelerator.backward(loss)
                if accelerator.sync_gradients and cfg.optim.grad_clip > 0:
                    accelerator.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            state.batches_seen += 1
            examples += (
                batch["mask"].shape[0] if "mask" in batch else len(next(iter(batch.values())))
            )
            if not accelerator.sync_gradients:
                continue
            state.step += 1
            last_loss = float(loss.detach())
            bar.update(1)
            if state.step % t.log_every == 0 or state.step == t.max_steps:
                rate = examples * accelerator.num_processes / (time.perf_counter() - start)
                bar.set_postfix(loss=f"{last_loss:.4f}", ex_per_s=f"{rate:.0f}")
                logs = {
                    "train/loss": last_loss,
                    "train/task_loss": float(task_loss.detach()),
                    "train/lr": scheduler.get_last_lr()[0],
                    "train/examples_per_s": rate,
                }
                logs.update({f"train/{k}": float(v) for k, v in out.diagnostics.items()})
                accelerator.log(logs, step=state.step)
            if state.step % t.eval_every == 0 or state.step == t.max_steps:
                val = evaluate(accelerator, model, val_loader, task, k_eval, seed=t.seed)
                accelerator.log({f"val/{k}": v for k, v in val.items()}, step=state.step)
                if accelerator.is_main_process:
                    bar.write(
                        f"step {state.step}: val "
                        + ", ".join(f"{k}={v:.4f}" for k, v in val.items())
                    )
                if _better(val[task.primary], state.best, task.mode):
                    state.best, state.best_step = val[task.primary], state.step
                    save_checkpoint(accelerator, run_dir, "best")
            if state.step % t.checkpoint_every == 0 or state.step == t.max_steps:
                save_checkpoint(accelerator, run_dir, f"step-{state.step:06d}", t.keep_last)
            if state.step >= t.max_steps:
                break
    bar.close()
    wall = time.perf_counter() - start
    return finish(accelerator, cfg, task, model, val_loader, test_loader, state, wall, last_loss)


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
    results["equivariance"] = equivariance_report(accelerator, model, loaders["test"], task, cfg)
    results["eval_n_samples"] = k
    results["device"] = _device_info(accelerator)
    return results


def summary_line(task: Task, cfg, results: dict[str, Any]) -> str:
    p, eq = results["test"][task.primary], results["equivariance"]
    k = results["eval_n_samples"]
    return (
        f"test {task.primary}: {p['mean']:.4f} +- {p['std']:.4f} over {cfg.eval.seeds} "
        f"seeds (k={k}); equivariance error: coupled-noise {eq['coupled_noise']:.2e}, "
        f"Monte-Carlo k={k} {eq['monte_carlo']:.2e}"
    )


def finish(accelerator, cfg, task, model, val_loader, test_loader, state, wall, last_loss):
    """Evaluate the best checkpoint on val and test over several seeds; write metrics.json."""
    run_dir = Path(cfg.run_dir)
    # Read the training figures first: loading the best checkpoint restores its TrainState.
    train_summary = {
        "steps": state.step,
        "best_step": state.best_step,
        "best_val": state.best,
        "final_loss": last_loss,
        "wall_time_s": wall,
    }
    best = run_dir / "checkpoints" / "best"
    if best.is_dir():
        load_checkpoint(accelerator, best)
    results = split_metrics(accelerator, cfg, task, model, {"val": val_loader, "test": test_loader})
    metrics = {"task": cfg.task, "primary_metric": task.primary, **results}
    metrics["train"] = train_summary
    if accelerator.is_main_process:
        atomic_write_json(run_dir / "metrics.json", metrics)
        accelerator.print(
            f"{summary_line(task, cfg, results)}; metrics in {run_dir / 'metrics.json'}"
        )
    accelerator.end_training()
    return metrics


def equivariance_report(accelerator, model, loader, task: Task, cfg) -> dict[str, float]:
    """Relative equivariance error of the trained model on test batches (eval mode)."""
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


def _device_info(accelerator: Accelerator) -> dict[str, Any]:
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
