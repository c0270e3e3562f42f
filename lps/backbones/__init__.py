"""Base models, the adapters between fields and what a base model eats, and the backbone
registry (:func:`create_backbone` builds any registered base model by name)."""

from lps.backbones import builders as _builders  # noqa: F401  (registers the shipped models)
from lps.backbones.adapters import IntegerFeatureEncoder, NodeFromPair, PairFromNodes
from lps.backbones.gin_id import GINID
from lps.backbones.mlp import FlatMLP
from lps.backbones.registry import (
    BACKBONES,
    create_backbone,
    list_backbones,
    register_backbone,
)
from lps.backbones.vit import (
    GraphViT,
    LoadReport,
    backbone_parameter_names,
    graph_to_image,
    load_pretrained,
    load_state_dict_file,
    param_groups,
)

__all__ = [
    "BACKBONES",
    "FlatMLP",
    "GINID",
    "GraphViT",
    "IntegerFeatureEncoder",
    "LoadReport",
    "NodeFromPair",
    "PairFromNodes",
    "backbone_parameter_names",
    "create_backbone",
    "graph_to_image",
    "list_backbones",
    "load_pretrained",
    "load_state_dict_file",
    "param_groups",
    "register_backbone",
]
