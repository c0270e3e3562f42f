"""Benchmark metrics and losses, computed over whole splits from gathered tensors.

- PATTERN (Benchmarking-GNNs): :func:`weighted_accuracy` (``accuracy_SBM``: the mean of the
  per-class recalls, in percent), :func:`weighted_accuracy_per_batch` (the same averaged over
  consecutive batches of graphs, which is how the published numbers were averaged) and
  :func:`weighted_cross_entropy` (``loss_SBM``: class weights from the batch's frequencies).
- Peptides-func (LRGB): :func:`average_precision`, the average precision of each of the 10
  tasks over the whole split, NaN labels ignored, averaged over the tasks.
- Peptides-struct (LRGB): :func:`mean_absolute_error`, averaged over the 11 targets.
- PCQM-Contact (LRGB): :func:`link_ranking_metrics`, MRR and Hits@1/3/10 of each positive
  pair against every other candidate pair of its source node, per graph, averaged over graphs.

Everything is plain torch on CPU tensors (no scikit-learn); each function documents exactly
what it computes, including ties and empty cases.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "average_precision",
    "binary_average_precision",
    "link_ranking_metrics",
    "mean_absolute_error",
    "weighted_accuracy",
    "weighted_accuracy_per_batch",
    "weighted_cross_entropy",
]


# --------------------------------------------------------------------------- PATTERN


def weighted_accuracy(pred: Tensor, target: Tensor) -> float:
    """Benchmarking-GNNs' ``accuracy_SBM``: the mean per-class recall, in percent.

    ``pred`` and ``target`` are integer class labels of the same shape (flattened). The
    classes are the labels that occur in ``target`` or ``pred`` (the rows of sklearn's
    confusion matrix); a class that occurs only in ``pred`` has recall 0. With classes
    ``0..C-1`` this is exactly ``100 * sum_c CM[c, c] / |target == c| / C``.
    Returns ``nan`` for empty inputs.
    """
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    if pred.shape != target.shape:
        raise ValueError(f"weighted_accuracy: pred {pred.shape} and target {target.shape}")
    if target.numel() == 0:
        return float("nan")
    classes = torch.unique(torch.cat([target, pred]))
    recalls = []
    for c in classes:
        in_class = target == c
        count = int(in_class.sum())
        recalls.append(float((pred[in_class] == c).sum()) / count if count else 0.0)
    return 100.0 * sum(recalls) / len(recalls)


def weighted_accuracy_per_batch(
    pred: Tensor, target: Tensor, graphs_per_batch: int = 128, ignore_index: int = -1
) -> float:
    """:func:`weighted_accuracy` of consecutive chunks of ``graphs_per_batch`` graphs, averaged.

    ``pred``, ``target``: (G, N) per-node labels of G padded graphs; entries with
    ``target == ignore_index`` are padding. Benchmarking-GNNs evaluates batch by batch (128
    test graphs for the published PATTERN figures) and averages the batch accuracies; the
    last, smaller chunk counts as one batch, as there.
    """
    if pred.shape != target.shape or pred.dim() != 2:
        raise ValueError(f"expected (G, N) pred and target, got {pred.shape}, {target.shape}")
    values = []
    for start in range(0, target.shape[0], graphs_per_batch):
        t = target[start : start + graphs_per_batch]
        p = pred[start : start + graphs_per_batch]
        real = t != ignore_index
        values.append(weighted_accuracy(p[real], t[real]))
    return sum(values) / len(values) if values else float("nan")


def weighted_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Benchmarking-GNNs' ``loss_SBM``: cross-entropy with weights from the batch.

    ``logits`` (M, C), ``target`` (M,) long. Class ``c`` gets weight ``(M - n_c) / M`` (``n_c``
    its count in ``target``; 0 if absent), and the loss is ``sum_i w_{y_i} CE_i / sum_i
    w_{y_i}`` (``torch.nn.CrossEntropyLoss(weight=w)``). When a single class is present
    every weight is 0 and the reference gives NaN; the plain mean cross-entropy is
    returned instead.
    """
    if logits.dim() != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (M, C), target (M,), got {logits.shape}, {target.shape}")
    logits, target = logits.float(), target.long()
    m, c = logits.shape
    counts = torch.bincount(target, minlength=c)[:c].to(logits.dtype)
    weight = (m - counts) / max(m, 1) * (counts > 0).to(logits.dtype)
    if not bool((weight[target] > 0).any()):
        return F.cross_entropy(logits, target)
    return F.cross_entropy(logits, target, weight=weight)


# --------------------------------------------------------------------------- LRGB


def binary_average_precision(scores: Tensor, labels: Tensor) -> float:
    """Average precision of one binary task: ``sum_k (R_k - R_{k-1}) P_k``.

    The thresholds are the distinct scores, from high to low (tied scores enter together),
    as in ``sklearn.metrics.average_precision_score`` and torchmetrics'
    ``binary_average_precision``. ``nan`` when there is no positive label.
    """
    scores, labels = scores.reshape(-1).double(), labels.reshape(-1).double()
    positives = float(labels.sum())
    if positives == 0:
        return float("nan")
    order = torch.argsort(scores, descending=True, stable=True)
    s, y = scores[order], labels[order]
    tp, seen = torch.cumsum(y, 0), torch.arange(1, len(y) + 1, dtype=torch.float64)
    last = torch.ones(len(s), dtype=torch.bool)  # last index of each group of tied scores
    last[:-1] = s[1:] != s[:-1]
    tp, seen = tp[last], seen[last]
    precision, recall = tp / seen, tp / positives
    prev = torch.cat([torch.zeros(1, dtype=torch.float64), recall[:-1]])
    return float(((recall - prev) * precision).sum())


def average_precision(scores: Tensor, targets: Tensor) -> float:
    """Peptides-func's metric: per-task average precision over the split, averaged.

    ``scores`` (M, T) logits or probabilities (only their order matters), ``targets`` (M, T)
    in {0, 1} with NaN for missing labels. For each task the labelled rows give
    :func:`binary_average_precision`; tasks without a positive label are skipped (their AP is
    undefined; LRGB takes the ``nanmean``). ``nan`` if no task has a positive label.
    """
    if scores.shape != targets.shape or scores.dim() != 2:
        raise ValueError(f"expected (M, T) scores and targets, got {scores.shape}, {targets.shape}")
    values = []
    for t in range(targets.shape[1]):
        labelled = ~torch.isnan(targets[:, t].double())
        ap = binary_average_precision(scores[labelled, t], targets[labelled, t])
        if ap == ap:  # not nan
            values.append(ap)
    return sum(values) / len(values) if values else float("nan")


def mean_absolute_error(pred: Tensor, targets: Tensor) -> float:
    """Peptides-struct's metric: the MAE of each target column, averaged over the columns.

    ``pred``, ``targets`` (M, T); NaN targets are ignored. Without NaNs this equals the MAE
    over all entries (LRGB's ``mean_absolute_error`` of the whole (M, 11) array).
    """
    if pred.shape != targets.shape:
        raise ValueError(f"pred {pred.shape} and targets {targets.shape} differ")
    pred, targets = pred.double().reshape(len(pred), -1), targets.double().reshape(len(pred), -1)
    labelled = ~torch.isnan(targets)
    err = torch.where(labelled, (pred - targets).abs(), torch.zeros_like(pred))
    per_col = err.sum(0) / labelled.sum(0).clamp_min(1)
    per_col = per_col[labelled.any(0)]
    return float(per_col.mean()) if per_col.numel() else float("nan")


def link_ranking_metrics(
    scores: Tensor, targets: Tensor, ks: tuple[int, ...] = (1, 3, 10), chunk: int = 65_536
) -> dict[str, float]:
    """PCQM-Contact's ranking metrics: MRR and Hits@k, per graph, averaged over graphs.

    ``scores`` (G, N, N) or (G, N, N, 1): the score of each ordered candidate pair ``(u, w)``.
    ``targets`` (G, N, N) integer: 1 for a positive pair (``edge_label == 1``), 0 for every
    other pair of real nodes, -1 where ``u`` or ``w`` is padding (the diagonal of a real
    node must be 0 or 1, so real nodes are read off it).

    For each positive ``(u, v)`` of a graph with ``n`` real nodes, its score is ranked
    against the ``n - 1`` scores ``(u, w)``, ``w != v`` a real node: the node itself and the
    other positives are candidates too, with no filtering, as in LRGB's
    ``inductive_edge.py`` (and the reference LPS code). The rank is ``1 + #{w: s_uw > s_uv} +
    #{w: s_uw == s_uv} / 2`` (ties counted half, as in OGB's evaluator; LRGB's ``argsort``
    breaks ties arbitrarily). Per graph: MRR = mean of 1 / rank, Hits@k = fraction with
    rank <= k, over its positives; a graph without positives scores 0 (as in LRGB). The
    returned values are the means over the G graphs: ``{"mrr", "hits@1", "hits@3",
    "hits@10"}``.
    """
    if scores.dim() == 4:
        scores = scores[..., 0]
    if scores.shape != targets.shape or scores.dim() != 3 or scores.shape[1] != scores.shape[2]:
        raise ValueError(
            f"expected (G, N, N) scores and targets, got {scores.shape}, {targets.shape}"
        )
    g = scores.shape[0]
    names = ["mrr"] + [f"hits@{k}" for k in ks]
    if g == 0:
        return {name: float("nan") for name in names}
    scores, targets = scores.double(), targets.long()
    real = torch.diagonal(targets, dim1=1, dim2=2) >= 0  # (G, N)
    graph, src, dst = (targets == 1).nonzero(as_tuple=True)
    sums = torch.zeros(len(names), g, dtype=torch.float64)
    counts = torch.bincount(graph, minlength=g).double()
    cols = torch.arange(scores.shape[1])
    for start in range(0, len(graph), chunk):
        gi, u, v = (
            graph[start : start + chunk],
            src[start : start + chunk],
            dst[start : start + chunk],
        )
        rows = scores[gi, u]  # (P, N)
        pos = rows.gather(1, v[:, None])
        cand = real[gi] & (cols[None, :] != v[:, None])
        above = ((rows > pos) & cand).sum(1).double()
        rank = 1.0 + above + 0.5 * ((rows == pos) & cand).sum(1).double()
        values = [1.0 / rank] + [(rank <= k).double() for k in ks]
        for i, val in enumerate(values):
            sums[i].index_add_(0, gi, val)
    per_graph = torch.where(counts > 0, sums / counts.clamp_min(1), torch.zeros_like(sums))
    return {name: float(per_graph[i].mean()) for i, name in enumerate(names)}
