"""Per-input symmetry levels on the rotated digits (part 2 of docs/images.md): fit phi/psi
without labels, pseudo-label levels by kNN, fit theta, then measure the three uses.

Metrics per rotation set (labels are used only here, for evaluation):

- level error: per class, the mean predicted level over its test images against the true
  level (uniform: half-width; gaussian: sigma; degrees), mean absolute error over classes,
  and the Spearman correlation of predicted and true class levels; discrete: the share of
  test images whose predicted C_n order is the class's;
- out-of-symmetry detection: the upright test digits turned uniformly over the full circle
  (seeded); an image is truly out when its angle is outside its class's set (uniform:
  |angle| > half-width; gaussian: > 2 sigma; discrete: more than 15 degrees from a C_n
  pose); accuracy of ``SymmetryLevels.out_of_symmetry``;
- standardization: k-means (10 clusters, best-of-10 inits) accuracy, after the best
  matching of clusters to classes, on raw and on standardized training images;
- where the error comes from (:func:`error_sources`): the share of each training image's k
  neighbours in phi that share its class (``knn_purity``); the level error left with psi
  replaced by the true angles of those neighbours (``level_mae_true_angles``: the
  neighbourhoods' share); the detection accuracy with theta replaced by the true class levels
  (``ood_accuracy_true_levels``: psi's share).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from lps.data.digits import class_levels, load_digits_split, rotate_degrees
from lps.levels import (
    InvariantEquivariantAE,
    LevelNetwork,
    SymmetryLevels,
    encode,
    fit_level_network,
    knn_indices,
    pseudo_levels,
    train_autoencoder,
    wrap_degrees,
)

LEVEL_SETS = ("multiple", "uniform60", "uniform60_90", "gaussian", "c2c4")


def level_kind(name: str) -> str:
    """The estimator kind of rotation set ``name`` (the kind of its class levels)."""
    return class_levels(name)[0].kind


@dataclass
class LevelSettings:
    """Sizes and schedule of the level pipeline."""

    ae_epochs: int = 30
    ae_lr: float = 3e-3
    penalty: float = 1.0
    embed_dim: int = 32
    neighbours: int = 30
    trim: float = 0.1
    level_epochs: int = 150
    tolerance: float = 15.0
    seed: int = 0
    psi_readout: str = "mode"
    ae_cosine: bool = False


def fit_levels(name: str, s: LevelSettings) -> tuple[SymmetryLevels, dict]:
    """Train phi/psi and theta on the (unlabelled) training split of rotation set ``name``."""
    torch.manual_seed(s.seed)
    train = load_digits_split(name, "train")
    t0 = time.perf_counter()
    ae = InvariantEquivariantAE(embed_dim=s.embed_dim, penalty=s.penalty, psi_readout=s.psi_readout)
    hist = train_autoencoder(
        ae, train["x"], s.ae_epochs, lr=s.ae_lr, seed=s.seed, cosine=s.ae_cosine
    )
    levels, info = levels_from_autoencoder(ae, name, s, train)
    return levels, {"fit_seconds": round(time.perf_counter() - t0, 1), "ae_loss": hist[-1], **info}


def levels_from_autoencoder(
    ae: InvariantEquivariantAE, name: str, s: LevelSettings, train: dict | None = None
) -> tuple[SymmetryLevels, dict]:
    """The steps after the autoencoder: kNN pseudo-labels in phi and theta fitted on them,
    on the training split of ``name`` (its labels are not read; its true angles only for
    ``psi_abs_error_deg``, psi's median error)."""
    train = load_digits_split(name, "train") if train is None else train
    z, angles = encode(ae, train["x"])
    kind = level_kind(name)
    labels = pseudo_levels(z, angles, kind, s.neighbours, s.trim)
    net = LevelNetwork(z.shape[1], kind)
    fit_level_network(net, z, labels, epochs=s.level_epochs, seed=s.seed)
    levels = SymmetryLevels(
        ae, net, tolerance=s.tolerance, bank=(z, angles), neighbours=s.neighbours
    )
    err = wrap_degrees(angles - train["angle"]).abs()
    return levels, {"psi_abs_error_deg": float(err.median())}


def _true_out(name: str, y: torch.Tensor, angle: torch.Tensor, tolerance: float) -> torch.Tensor:
    lv = class_levels(name)
    out = torch.zeros_like(y, dtype=torch.bool)
    for c, level in enumerate(lv):
        m = y == c
        a = wrap_degrees(angle[m].double())
        if level.kind == "uniform":
            out[m] = a.abs() > level.value
        elif level.kind == "gaussian":
            out[m] = a.abs() > 2 * level.value
        else:
            step = 360.0 / level.value
            out[m] = wrap_degrees(a - torch.round(a / step) * step).abs() > tolerance
    return out


def cluster_accuracy(x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    """k-means (10 clusters) accuracy after the best one-to-one matching to the labels."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import KMeans

    pred = KMeans(10, n_init=10, random_state=seed).fit_predict(x.reshape(len(x), -1))
    counts = np.zeros((10, 10))
    np.add.at(counts, (pred, y), 1)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(y))


def evaluate_levels(levels: SymmetryLevels, name: str, s: LevelSettings) -> dict:
    """The metrics of the module docstring on rotation set ``name``."""
    from scipy.stats import spearmanr

    test = load_digits_split(name, "test")
    truth = class_levels(name)
    d = levels.describe(test["x"])
    y = test["y"]
    pred_class = [float(d["level"][y == c].mean()) for c in range(10)]
    true_class = [lv.value for lv in truth]
    res: dict = {"set": name, "kind": levels.kind, "pred_class_levels": pred_class}
    if levels.kind == "discrete":
        orders = torch.tensor([truth[int(c)].value for c in y], dtype=torch.float64)
        res["order_accuracy"] = float((d["level"] == orders).double().mean())
    else:
        res["level_mae_deg"] = float(np.mean(np.abs(np.array(pred_class) - np.array(true_class))))
        rho = spearmanr(pred_class, true_class).statistic
        res["spearman"] = None if math.isnan(rho) else float(rho)
    gen = torch.Generator().manual_seed(1234)
    angle = torch.rand(len(y), generator=gen, dtype=torch.float64) * 360 - 180
    x_rot = rotate_degrees(test["upright"], angle.float())
    pred_out = levels.out_of_symmetry(x_rot)
    true_out = _true_out(name, y, angle, s.tolerance)
    res["ood_accuracy"] = float((pred_out == true_out).double().mean())
    res["ood_true_out_share"] = float(true_out.double().mean())
    train = load_digits_split(name, "train")
    res["kmeans_raw"] = cluster_accuracy(train["x"].numpy(), train["y"].numpy(), s.seed)
    std = torch.cat([levels.standardize(train["x"][i : i + 256]) for i in range(0, 1197, 256)])
    res["kmeans_standardized"] = cluster_accuracy(std.numpy(), train["y"].numpy(), s.seed)
    levels_true = torch.tensor([truth[int(c)].value for c in y], dtype=torch.float64)
    if levels.kind != "discrete":
        width = levels_true * (levels.gauss_k if levels.kind == "gaussian" else 1.0)
        ood_true = wrap_degrees(levels.describe(x_rot)["angle"]).abs() > width
        res["ood_accuracy_true_levels"] = float((ood_true == true_out).double().mean())
    return {**res, **error_sources(levels, name, train, s)}


def error_sources(levels: SymmetryLevels, name: str, train: dict, s: LevelSettings) -> dict:
    """``knn_purity`` and ``level_mae_true_angles`` of the module docstring (training split)."""
    z, _ = levels.bank
    y, idx = train["y"], knn_indices(z, z, s.neighbours, exclude_self=True)
    out = {"knn_purity": float((y[idx] == y[:, None]).double().mean())}
    if levels.kind != "discrete":
        est = pseudo_levels(z, train["angle"].double(), level_kind(name), s.neighbours, s.trim)
        pred = np.array([float(est[y == c].mean()) for c in range(10)])
        true = np.array([lv.value for lv in class_levels(name)])
        out["level_mae_true_angles"] = float(np.abs(pred - true).mean())
    return out


def run_levels(name: str, s: LevelSettings) -> dict:
    """Fit and evaluate one rotation set; the settings are recorded in the result."""
    levels, info = fit_levels(name, s)
    return {**evaluate_levels(levels, name, s), **info, "settings": asdict(s)}


def encode_set(levels: SymmetryLevels, x: torch.Tensor):
    """(embeddings, angles in degrees) of images x under the fitted phi/psi."""
    return encode(levels.ae, x)


__all__ = [
    "LEVEL_SETS",
    "LevelSettings",
    "cluster_accuracy",
    "evaluate_levels",
    "fit_levels",
    "level_kind",
    "levels_from_autoencoder",
    "run_levels",
    "InvariantEquivariantAE",
    "LevelNetwork",
]
