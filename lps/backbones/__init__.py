"""Base models and the adapters between fields and what a base model eats."""

from lps.backbones.gin_id import GINID
from lps.backbones.mlp import FlatMLP
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
    "FlatMLP",
    "GINID",
    "GraphViT",
    "LoadReport",
    "backbone_parameter_names",
    "graph_to_image",
    "load_pretrained",
    "load_state_dict_file",
    "param_groups",
]
