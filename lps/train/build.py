"""Models from a config: the base model (:func:`backbone_from_config`) and the symmetrized
model around it (:func:`symmetrize_from_config`). Every task builds its model with these two.

Tasks declare their model inputs with channel counts, ``{"x": "node:3", "adj": "pair:1"}``
(field type, colon, channels; a type without channels, like ``"position"``, is fine); the
sizes of the learned sampler's network are derived from those counts.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from lps.backbones import BACKBONES, create_backbone
from lps.samplers import sampler_settings
from lps.symmetrize import Symmetrized, symmetrize

__all__ = [
    "backbone_from_config",
    "sampler_args",
    "symmetrize_from_config",
]


def backbone_from_config(cfg: DictConfig, kind: str, **sizes: int) -> nn.Module:
    """The base model ``cfg.model.backbone`` for outputs of ``kind``, with the problem
    ``sizes`` (``max_nodes``, ``node_dim``, ...) and the hyper-parameters of ``cfg.model``
    that its builder declares (see :mod:`lps.backbones.registry`)."""
    name = cfg.model.backbone
    builder = BACKBONES.get(name)
    params = inspect.signature(builder).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    hparams = {k: v for k, v in model_cfg.items() if k != "backbone" and (takes_all or k in params)}
    try:
        return create_backbone(name, kind, **sizes, **hparams)
    except ValueError as err:
        raise ValueError(f"model.backbone: {err}") from err


def sampler_args(cfg: DictConfig) -> dict[str, Any]:
    """The settings in ``cfg.symmetry`` that the chosen sampler takes for the chosen group
    (the fields of its settings class, :func:`lps.samplers.sampler_settings`)."""
    s = cfg.symmetry
    cls = sampler_settings(s.sampler, s.group)
    return {f.name: s[f.name] for f in dataclasses.fields(cls) if f.name in s}


def symmetrize_from_config(
    cfg: DictConfig, base: nn.Module, inputs: dict[str, str], outputs: str
) -> Symmetrized:
    """``base`` symmetrized as ``cfg.symmetry`` says (group, sampler, k, sampler settings).

    Args:
        cfg: a run config (:func:`lps.train.config.load_config`).
        base: the base model (:func:`backbone_from_config`).
        inputs: model input name -> ``"type"`` or ``"type:channels"`` (``node``, ``pair``,
            ``node_vector``, ``position``, ...); the learned samplers are sized from the counts.
        outputs: the output field type (``invariant``, ``node``, ``pair``, ``position``).
    """
    s = cfg.symmetry
    return symmetrize(
        base,
        s.group,
        inputs,
        outputs,
        s.sampler,
        sampler_args=sampler_args(cfg),
        n_samples=s.n_samples,
        n_samples_eval=s.n_samples_eval,
        validate=s.validate,
    )
