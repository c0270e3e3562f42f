"""Experiments that are more than a training run: graph separation with untrained models."""

from lps.experiments.separation import (
    PUBLISHED_SEPARATION,
    markdown_table,
    run_separation,
    separation_from_config,
)

__all__ = ["PUBLISHED_SEPARATION", "markdown_table", "run_separation", "separation_from_config"]
