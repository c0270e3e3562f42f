"""The training loop: plain PyTorch plus a handful of accelerate calls.

The same code runs on one CPU or GPU (``lps train``) and on several processes
(``accelerate launch -m lps train ...``). Metrics are computed over whole splits from
predictions gathered across processes; checkpoints are accelerate states written atomically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
from accelerate.utils import set_seed
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from lps.io import atomic_write_json
from lps.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    prepare_run_dir,
    save_checkpoint,
)
from lps.train.config import to_dict
from lps.train.evaluation import evaluate, split_metrics, summary_line
from lps.train.loaders import make_loader
from lps.train.optim import build_optimizer
from lps.train.tasks import get_task

__all__ = ["NonFiniteLossError", "TrainState", "make_accelerator", "train"]


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


def default_run_dir(cfg: DictConfig) -> str:
    return str(Path("runs") / f"{cfg.task}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")


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
    train_loader = make_loader(cfg, data["train"], collate, train=True)
    eval_loaders = {
        split: make_loader(cfg, data[split], collate, train=False) for split in ("val", "test")
    }
    model = task.build_model(cfg)
    optimizer, scheduler = build_optimizer(model, task, cfg, accelerator.num_processes)
    model, optimizer, train_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, scheduler
    )
    val_loader, test_loader = accelerator.prepare(eval_loaders["val"], eval_loaders["test"])
    state = TrainState()
    accelerator.register_for_checkpointing(state)
    for obj in task.state_objects():
        accelerator.register_for_checkpointing(obj)
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
                out = task.forward(model, batch)
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
            hook_logs = task.after_step(accelerator.unwrap_model(model), state.step)
            hook_logs = {f"train/{k}": float(v) for k, v in hook_logs.items()}
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
                logs.update({f"train/{k}": float(v.detach()) for k, v in out.aux_losses.items()})
                logs.update(hook_logs)
                accelerator.log(logs, step=state.step)
            elif hook_logs:  # an event between log steps (a marginal-likelihood step) is kept
                accelerator.log(hook_logs, step=state.step)
            if state.step % t.eval_every == 0 or state.step == t.max_steps:
                val = evaluate(accelerator, model, val_loader, task, k_eval, seed=t.seed)
                val.update(task.eval_logs(accelerator.unwrap_model(model)))
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
        metrics["task_results"] = task.finish(accelerator.unwrap_model(model), run_dir)
        atomic_write_json(run_dir / "metrics.json", metrics)
        accelerator.print(
            f"{summary_line(task, cfg, results)}; metrics in {run_dir / 'metrics.json'}"
        )
    accelerator.end_training()
    return metrics
