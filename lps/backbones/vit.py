"""Graph-to-ViT adapter around timm, and loading of (pretrained) ViT weights from a local file.

A canonicalized graph becomes an image of side ``S = ceil(N / P) * P`` (``P`` the patch size)
whose channels are, at pixel ``(i, j)``:

- the pair features ``adj[i, j, :]`` (adjacency + edge features),
- the node features of the row node ``x[i]`` and of the column node ``x[j]``,
- optionally the node features on the diagonal ``x[i] * [i == j]``,
- a mask channel ``mask[i] * mask[j]`` (1 between real nodes), zero on padding.

The ViT is built with :func:`timm.create_model`; outputs are read from its tokens:

- ``graph`` (B, graph_out): the model's own pooling (class token or average) and head,
  via ``forward_features`` + ``forward_head``;
- ``node`` (B, N, node_out): the diagonal patch tokens ``(a, a)``, linearly interpolated from
  ``S / P`` positions back to ``S`` and cropped to ``N``, then a linear head;
- ``pair`` (B, N, N, pair_out): every patch token decoded to its ``P x P`` pixels by a linear
  head (un-patchify), cropped to ``N x N``.

Only timm's public API is used (``create_model``, ``forward_features``, ``forward_head``,
``num_prefix_tokens``, ``patch_embed.grid_size``, ``checkpoint_filter_fn``,
``adapt_input_conv``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import timm
import torch
from timm.models import adapt_input_conv
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn
from torch import Tensor, nn
from torch.nn import functional as F

from lps.io import load_state_dict_file

__all__ = [
    "GraphViT",
    "LoadReport",
    "backbone_parameter_names",
    "graph_to_image",
    "load_pretrained",
    "load_state_dict_file",
    "param_groups",
]


def graph_to_image(
    x: Tensor, adj: Tensor, mask: Tensor | None, size: int, diagonal: bool = True
) -> Tensor:
    """The image (B, C_img, size, size) of a dense graph; see the module docstring.

    ``x`` (B, N, C), ``adj`` (B, N, N, F), ``mask`` (B, N) bool or None. The channels are
    ``[adj (F), x row (C), x column (C), x diagonal (C, if diagonal), mask (1)]`` so
    ``C_img = F + (3 if diagonal else 2) * C + 1``. Everything outside the real block is 0.
    """
    b, n, c = x.shape
    if n > size:
        raise ValueError(f"graph_to_image: {n} nodes do not fit an image of side {size}")
    if mask is None:
        mask = torch.ones(b, n, dtype=torch.bool, device=x.device)
    dtype = x.dtype if x.is_floating_point() else torch.float32
    pair_w = (mask.unsqueeze(2) & mask.unsqueeze(1)).to(dtype).unsqueeze(1)  # (B, 1, N, N)
    xt = x.to(dtype).transpose(1, 2)  # (B, C, N)
    chans = [
        adj.to(dtype).permute(0, 3, 1, 2),
        xt.unsqueeze(3).expand(b, c, n, n),
        xt.unsqueeze(2).expand(b, c, n, n),
    ]
    if diagonal:
        chans.append(torch.diag_embed(xt))
    chans.append(torch.ones_like(pair_w))
    img = torch.cat(chans, 1) * pair_w
    pad = size - n
    return F.pad(img, (0, pad, 0, pad)) if pad else img


class GraphViT(nn.Module):
    """A timm Vision Transformer on graphs drawn as ``N x N`` images.

    Call ``forward(x, adj, mask)`` with ``x`` (B, N, node_dim), ``adj`` (B, N, N, pair_dim) and
    ``mask`` (B, N) bool (or None); ``N <= max_nodes``. Returns the one requested output as a
    tensor, or a dict ``{"graph", "node", "pair"}`` of those requested (shapes in the module
    docstring).

    Args:
        node_dim, pair_dim: input channels of the node and pair fields.
        max_nodes: the largest N; the image side is ``ceil(max_nodes / P) * P``.
        graph_out, node_out, pair_out: output sizes (None: that output is not produced).
        model_name: a timm ViT name, e.g. ``"vit_base_patch16_224"``.
        patch_size: P (default: the model's own).
        diagonal: also draw the node features on the diagonal.
        pretrained: a local weight file for :func:`load_pretrained` (None: random init).
        **vit_kwargs: passed to ``timm.create_model`` (``embed_dim``, ``depth``, ``num_heads``,
            ``drop_path_rate``, ``global_pool``, ...).
    """

    def __init__(
        self,
        node_dim: int,
        pair_dim: int,
        max_nodes: int,
        graph_out: int | None = None,
        node_out: int | None = None,
        pair_out: int | None = None,
        model_name: str = "vit_base_patch16_224",
        patch_size: int | None = None,
        diagonal: bool = True,
        pretrained: str | os.PathLike[str] | None = None,
        **vit_kwargs: Any,
    ):
        super().__init__()
        outs = {"graph": graph_out, "node": node_out, "pair": pair_out}
        if all(v is None for v in outs.values()):
            raise ValueError("GraphViT: request at least one of graph_out, node_out, pair_out")
        if max_nodes < 1:
            raise ValueError(f"GraphViT: max_nodes must be >= 1, got {max_nodes}")
        self.node_dim, self.pair_dim, self.max_nodes = node_dim, pair_dim, max_nodes
        self.diagonal = diagonal
        self.outputs = {k: v for k, v in outs.items() if v is not None}
        self.in_chans = pair_dim + (3 if diagonal else 2) * node_dim + 1
        kwargs = dict(vit_kwargs)
        if patch_size is not None:
            kwargs["patch_size"] = patch_size
        probe_patch = patch_size or _name_patch_size(model_name)
        self.image_size = math.ceil(max_nodes / probe_patch) * probe_patch
        self.vit = timm.create_model(
            model_name,
            pretrained=False,
            img_size=self.image_size,
            in_chans=self.in_chans,
            num_classes=graph_out or 0,
            **kwargs,
        )
        if not isinstance(self.vit, VisionTransformer):
            raise ValueError(
                f"GraphViT: {model_name!r} builds a {type(self.vit).__name__}, not a timm "
                "VisionTransformer"
            )
        self.patch_size = int(self.vit.patch_embed.patch_size[0])
        if self.image_size % self.patch_size:
            raise ValueError(
                f"GraphViT: patch size {self.patch_size} of {model_name!r} differs from the "
                f"{probe_patch} read off its name; pass patch_size explicitly"
            )
        dim = self.vit.embed_dim
        self.node_head = nn.Linear(dim, node_out) if node_out else None
        self.pair_head = nn.Linear(dim, pair_out * self.patch_size**2) if pair_out else None
        if pretrained is not None:
            load_pretrained(self, pretrained)

    @property
    def grid_size(self) -> tuple[int, int]:
        """The patch grid (S / P, S / P)."""
        return tuple(self.vit.patch_embed.grid_size)

    def forward(
        self, x: Tensor, adj: Tensor, mask: Tensor | None = None
    ) -> Tensor | dict[str, Tensor]:
        if x.dim() != 3 or adj.dim() != 4 or adj.shape[:3] != (x.shape[0], x.shape[1], x.shape[1]):
            raise ValueError(
                f"GraphViT: expected x (B, N, C) and adj (B, N, N, F); got x {tuple(x.shape)}, "
                f"adj {tuple(adj.shape)}"
            )
        b, n, c = x.shape
        if c != self.node_dim or adj.shape[-1] != self.pair_dim:
            raise ValueError(
                f"GraphViT: got {c} node and {adj.shape[-1]} pair channels, built for "
                f"node_dim={self.node_dim}, pair_dim={self.pair_dim}"
            )
        if n > self.max_nodes:
            raise ValueError(f"GraphViT: {n} nodes, more than max_nodes={self.max_nodes}")
        dtype = self.vit.patch_embed.proj.weight.dtype
        img = graph_to_image(x.to(dtype), adj.to(dtype), mask, self.image_size, self.diagonal)
        tokens = self.vit.forward_features(img)  # (B, T, D)
        out: dict[str, Tensor] = {}
        if "graph" in self.outputs:
            out["graph"] = self.vit.forward_head(tokens)
        if self.node_head is not None or self.pair_head is not None:
            g = self.grid_size[0]
            patches = tokens[:, self.vit.num_prefix_tokens :].reshape(b, g, g, -1)
            if self.node_head is not None:
                diag = patches.diagonal(dim1=1, dim2=2)  # (B, D, G)
                along = F.interpolate(
                    diag, size=self.image_size, mode="linear", align_corners=False
                )
                node = self.node_head(along[..., :n].transpose(1, 2))
                out["node"] = node if mask is None else node * mask.unsqueeze(-1).to(node.dtype)
            if self.pair_head is not None:
                p, c_out = self.patch_size, self.outputs["pair"]
                pix = self.pair_head(patches).view(b, g, g, p, p, c_out)
                pix = pix.permute(0, 1, 3, 2, 4, 5).reshape(b, g * p, g * p, c_out)
                out["pair"] = pix[:, :n, :n]
        return next(iter(out.values())) if len(out) == 1 else out


def _name_patch_size(model_name: str) -> int:
    """The patch size written in a timm name (``..._patch16_...`` -> 16), else 16."""
    for part in model_name.split("_"):
        if part.startswith("patch") and part[5:].isdigit():
            return int(part[5:])
    return 16


# --------------------------------------------------------------------------- loading


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did; keys are names in the ViT's ``state_dict``."""

    loaded: list[str] = field(default_factory=list)
    adapted: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _find_vit(model: nn.Module) -> VisionTransformer:
    if isinstance(model, VisionTransformer):
        return model
    vits = [m for m in model.modules() if isinstance(m, VisionTransformer)]
    if len(vits) != 1:
        raise ValueError(
            f"load_pretrained: expected exactly one timm VisionTransformer inside "
            f"{type(model).__name__}, found {len(vits)}"
        )
    return vits[0]


def _strip_prefix(state: dict[str, Tensor], target_keys: set[str]) -> dict[str, Tensor]:
    """Drop a wrapper prefix (``vit.``, ``base_model.vit.``, ``module.``) if the keys carry one."""
    if set(state) & target_keys:
        return state
    for key in state:
        if key.endswith("patch_embed.proj.weight"):
            prefix = key[: -len("patch_embed.proj.weight")]
            if prefix:
                return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return state


def load_pretrained(
    model: nn.Module, path: str | os.PathLike[str], interpolation: str = "bicubic"
) -> LoadReport:
    """Load ViT weights from a local file into ``model``, adapted to its shape.

    ``model`` is a timm ``VisionTransformer``, a :class:`GraphViT`, or any module holding
    exactly one of them (e.g. a symmetrized GraphViT). The checkpoint may come from a ViT with
    another patch size, number of input channels, image size or head:

    - input channels: ``timm.models.adapt_input_conv`` (channels repeated and rescaled);
    - patch size and position grid: ``timm.models.vision_transformer.checkpoint_filter_fn``
      (FlexiViT resampling of the patch kernel, ``resample_abs_pos_embed`` of the positions;
      a square source grid is assumed when the checkpoint does not say);
    - a head of another size is skipped and keeps its fresh initialisation.

    Any other shape mismatch (embedding width, depth) is a ``ValueError``. Returns a
    :class:`LoadReport`. Errors for missing or corrupt files come from
    :func:`load_state_dict_file`.
    """
    vit = _find_vit(model)
    target = vit.state_dict()
    state = _strip_prefix(load_state_dict_file(path), set(target))
    report = LoadReport()
    proj = "patch_embed.proj.weight"
    if proj in state and proj in target and state[proj].dim() == 4:
        want, have = target[proj].shape[1], state[proj].shape[1]
        if want != have:
            state[proj] = adapt_input_conv(want, state[proj], base_chans=have)
            report.adapted[proj] = f"input channels {have} -> {want}"
    shapes_before = {k: tuple(v.shape) for k, v in state.items()}
    state = checkpoint_filter_fn(state, vit, interpolation=interpolation)
    for key, value in state.items():
        before = shapes_before.get(key)
        if before is not None and before != tuple(value.shape):
            note = f"resampled {before} -> {tuple(value.shape)}"
            report.adapted[key] = (
                f"{report.adapted[key]}; {note}" if key in report.adapted else note
            )
    clean: dict[str, Tensor] = {}
    head_prefixes = ("head.", "fc_norm.") if vit.num_classes == 0 else ("head.",)
    for key, value in state.items():
        if key not in target:
            report.unexpected.append(key)
            continue
        if tuple(value.shape) != tuple(target[key].shape):
            if key.startswith(head_prefixes):
                report.skipped[key] = f"shape {tuple(value.shape)} != {tuple(target[key].shape)}"
                continue
            raise ValueError(
                f"load_pretrained {os.fspath(path)!r}: {key} has shape {tuple(value.shape)}, the "
                f"model expects {tuple(target[key].shape)}; the checkpoint is for another "
                "architecture (embedding width or depth)"
            )
        clean[key] = value.to(target[key].dtype)
    result = vit.load_state_dict(clean, strict=False)
    report.loaded = sorted(clean)
    report.missing = sorted(k for k in result.missing_keys if k not in report.skipped)
    if not report.loaded:
        raise ValueError(
            f"load_pretrained {os.fspath(path)!r}: no key matches the model; is it a ViT "
            "checkpoint?"
        )
    return report


# --------------------------------------------------------------------------- optimiser


def backbone_parameter_names(model: nn.Module) -> set[str]:
    """Names (in ``model.named_parameters()``) of the ViT backbones' parameters, heads excluded.

    These are the weights a pretrained checkpoint provides; everything else (sampler, node and
    pair heads, the ViT's classification head) is new.
    """
    names = set()
    for prefix, module in model.named_modules():
        if isinstance(module, VisionTransformer):
            for name, _ in module.named_parameters():
                if not name.startswith("head."):
                    names.add(f"{prefix}.{name}" if prefix else name)
    return names


def param_groups(
    model: nn.Module, lr_backbone: float, lr_new: float, weight_decay: float = 0.05
) -> list[dict[str, Any]]:
    """Optimizer parameter groups: pretrained backbone vs new parameters, each with and
    without weight decay (biases, norms, ``pos_embed``, ``cls_token`` are not decayed).

    Returns up to four dicts ``{"name", "params", "lr", "weight_decay"}`` (empty ones dropped),
    ready for ``torch.optim.AdamW(param_groups(...))``.
    """
    backbone = backbone_parameter_names(model)
    no_decay_names = {"pos_embed", "cls_token", "reg_token", "dist_token"}
    groups: dict[tuple[str, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = "backbone" if name in backbone else "new"
        decay = param.dim() > 1 and name.rsplit(".", 1)[-1] not in no_decay_names
        groups.setdefault((part, decay), []).append(param)
    out = []
    for part, lr in (("backbone", lr_backbone), ("new", lr_new)):
        for decay in (True, False):
            params = groups.get((part, decay))
            if params:
                out.append(
                    {
                        "name": f"{part}{'' if decay else '_no_decay'}",
                        "params": params,
                        "lr": lr,
                        "weight_decay": weight_decay if decay else 0.0,
                    }
                )
    return out
