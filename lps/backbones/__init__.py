"""Base models and the adapters between fields and what a base model eats."""

from lps.backbones.mlp import FlatMLP

__all__ = ["FlatMLP"]
