"""Data loaders of a run: one builder for the training and the evaluation loaders."""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["EpochShuffle", "make_loader", "pin_memory"]


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


def pin_memory(cfg: DictConfig) -> bool:
    """Pin loader memory when batches go to a GPU (faster, asynchronous host-to-device copies)."""
    return not cfg.trainer.cpu and torch.cuda.is_available()


def make_loader(cfg: DictConfig, dataset: Dataset, collate, train: bool) -> DataLoader:
    """The loader of a split: for training, ``data.batch_size`` in an :class:`EpochShuffle`
    order (seed ``trainer.seed``), dropping the last incomplete batch; for evaluation,
    ``data.eval_batch_size`` in order, keeping every example.

    The loader has its own generator: a DataLoader without one draws its workers' base seed
    from the global RNG each time an iterator starts, which would shift the sampler noise
    after a resume.
    """
    seed = cfg.trainer.seed
    common = dict(
        collate_fn=collate,
        num_workers=cfg.data.num_workers,
        pin_memory=pin_memory(cfg),
        generator=torch.Generator().manual_seed(seed),
    )
    if not train:
        return DataLoader(dataset, cfg.data.eval_batch_size, shuffle=False, **common)
    loader = DataLoader(
        dataset,
        cfg.data.batch_size,
        sampler=EpochShuffle(len(dataset), seed),
        drop_last=True,
        **common,
    )
    if len(loader) == 0:
        raise ValueError(
            f"data.batch_size={cfg.data.batch_size} is larger than the training set "
            f"({len(dataset)} examples)"
        )
    return loader
