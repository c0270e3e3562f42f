"""PATTERN in PyG's form: float32 one-hot node features, and PyG's official files from disk.

``GNNBenchmarkDataset("PATTERN")`` stores ``x`` as a one-hot ``(N, 3)`` of the feature value;
:func:`pattern_x` gives the generated graphs the same form, and :func:`load_pattern_official`
reads the official files (nothing is downloaded). See :mod:`lps.data.pattern`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from lps.data.pattern_gen import _check_split

__all__ = ["load_pattern_official", "pattern_x"]

PathLike = str | os.PathLike[str]


def pattern_x(feat: np.ndarray | torch.Tensor, vocab_size: int = 3) -> torch.Tensor:
    """Float32 one-hot ``(N, vocab_size)`` node features from integer values (N,)."""
    values = torch.as_tensor(np.asarray(feat), dtype=torch.long)
    return torch.nn.functional.one_hot(values, vocab_size).to(torch.float32)


def load_pattern_official(root: PathLike, split: str) -> list[Data]:
    """PyG's ``GNNBenchmarkDataset(root, "PATTERN", split)`` from local files, as ``Data``.

    Needs ``<root>/PATTERN/raw/PATTERN_v2.pt`` (the unzipped official archive
    ``PATTERN_v2.zip`` from https://data.pyg.org/datasets/benchmarking-gnns); nothing is
    downloaded. Processed files (``<root>/PATTERN/processed/{train,val,test}_data.pt``) are
    made by PyG on first use. Every file PyG reads is first checked to load with
    ``torch.load(weights_only=True)``. ``x`` is returned as float32 one-hot (N, 3) whatever
    its stored form (integer values are one-hot encoded), ``y`` as long (N,).
    """
    from torch_geometric.datasets import GNNBenchmarkDataset

    from lps.data.pyg_local import check_safe_torch_file, files_for_pyg, no_download

    _check_split(split)
    base = Path(root).expanduser() / "PATTERN"
    raw = [base / "raw" / "PATTERN_v2.pt"]
    processed = [base / "processed" / f"{s}_data.pt" for s in ("train", "val", "test")]
    extra = [base / "processed" / f for f in ("pre_transform.pt", "pre_filter.pt")]
    hint = (
        f"Put the official PATTERN_v2.pt (unzipped from "
        f"{GNNBenchmarkDataset.urls['PATTERN']}) in {base / 'raw'}."
    )
    for path in files_for_pyg(raw, processed, extra, "PATTERN (official)", hint):
        check_safe_torch_file(path)
    dataset = no_download(GNNBenchmarkDataset)(str(Path(root).expanduser()), "PATTERN", split)
    return [_official_to_data(d) for d in dataset]


def _official_to_data(d: Data) -> Data:
    x = d.x
    if not x.is_floating_point() or x.dim() == 1 or x.shape[-1] == 1:
        x = pattern_x(x.reshape(-1).long().numpy(), 3)
    return Data(x=x.float(), edge_index=d.edge_index.long(), y=d.y.long().reshape(-1))
