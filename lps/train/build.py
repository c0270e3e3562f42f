"""Models from a config: the base model (:func:`backbone_from_config`) and the symmetrized
model around it (:func:`symmetrize_from_config`). Every task builds its model with these two.

Tasks declare their model inputs with channel counts, ``{"x": "node:3", "adj": "pair:1"}``
(field type, colon, channels; a type without channels, like ``"position"``, is fine); the
sizes of the learned sampler's network are derived from those counts.
"""

from __future__ import annotations

import inspect
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from lps.backbones import BACKBONES, create_backbone
from lps.symmetrize import Symmetrized, symmetrize

__all__ = [
    "backbone_from_config",
    "field_channels",
    "field_types",
    "sampler_args",
    "symmetrize_from_config",
]


def _split(name: str, spec: str) -> tuple[str, int | None]:
    kind, sep, channels = spec.partition(":")
    if not sep:
        return kind, None
    if not channels.isdigit():
        raise ValueError(
            f"input {name!r}: {spec!r} is not 'type' or 'type:channels' (e.g. 'node:3')"
        )
    return kind, int(channels)


def field_types(inputs: dict[str, str]) -> dict[str, str]:
    """``{"x": "node:3"}`` -> ``{"x": "node"}``: the field types alone."""
    return {name: _split(name, spec)[0] for name, spec in inputs.items()}


def field_channels(inputs: dict[str, str]) -> dict[str, int]:
    """Total declared channels per field type: ``{"x": "node:3", "q": "node:1"}`` ->
    ``{"node": 4}`` (types declared without a count are left out)."""
    out: dict[str, int] = {}
    for name, spec in inputs.items():
        kind, channels = _split(name, spec)
        if channels is not None:
            out[kind] = out.get(kind, 0) + channels
    return out


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
    """The settings of the learned / canonical samplers from ``cfg.symmetry``."""
    s = cfg.symmetry
    keys = (
        "hidden",
        "layers",
        "tau",
        "sinkhorn_iters",
        "entropy_weight",
        "relax_band",
        "walk_steps",
        "noise_dim",
        "noise_scale",
    )
    return {k: s[k] for k in keys}


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
    # --- old flat sampler API of lps.symmetrize (one place to switch to ``sampler_args=``:
    # symmetrize(base, s.group, inputs, outputs, s.sampler, sampler_args=sampler_args(cfg),
    #            n_samples=..., n_samples_eval=..., validate=...) with ``inputs`` as given) ---
    kwargs = _legacy_sampler_kwargs(cfg, field_channels(inputs))
    return symmetrize(
        base,
        s.group,
        inputs=field_types(inputs),
        outputs=outputs,
        sampler=s.sampler,
        n_samples=s.n_samples,
        n_samples_eval=s.n_samples_eval,
        validate=s.validate,
        **kwargs,
    )


def _legacy_sampler_kwargs(cfg: DictConfig, channels: dict[str, int]) -> dict[str, Any]:
    """Keyword arguments of the old ``lps.samplers.build_sampler`` (sizes given by hand)."""
    s = cfg.symmetry
    if s.sampler not in ("learned", "canonical"):
        return {}
    args = sampler_args(cfg)
    common = {k: args[k] for k in ("tau", "sinkhorn_iters", "entropy_weight", "relax_band")}
    size = {k: args[k] for k in ("hidden", "layers")}
    if s.group.replace(" ", "") in ("S_n", "Sn"):
        if "node" not in channels:
            raise ValueError(
                "symmetrize_from_config: the S_n sampler needs the node channel count; declare "
                "the node input as 'node:<channels>'"
            )
        extra = {k: args[k] for k in ("noise_dim", "walk_steps")}
        return dict(in_dim=channels["node"], **size, **extra, **common)
    return dict(
        scalar_dim=channels.get("node", 0),
        vector_dim=channels.get("node_vector", 0),
        pair_dim=channels.get("pair", 0),
        **size,
        noise_scale=args["noise_scale"],
        **common,
    )
